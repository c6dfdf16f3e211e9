"""``gridmap partition``: make coded grids from address points and village/community boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gridmap.cli.console import KEPT, Progress, echo, warn
from gridmap.cli.options import (
    csv_options,
    grid_run_options,
    input_option,
    options_object,
    run_options,
)
from gridmap.options import Options


@click.command()
@input_option(
    "addresses", "Household address points (CSV, XLSX/XLS, GeoJSON, GPKG, SHP, zipped SHP).", required=True, sheet=True
)
@input_option("boundaries", "Village/community polygons with a 12-digit code.", required=True)
@input_option("units", "Unit polygons (buildings, parcels, blocks) that tile the area.")
@input_option("exclusive", "Exclusive areas (专属网格): schools, hospitals, ...")
@input_option("barriers", "Roads/rivers/railways grids should not cross (repeatable).", multiple=True)
@input_option(
    "streets",
    "Street lines (e.g. OSM roads) for walk_m, the walk from each grid's service point to its farthest household "
    "[the --barriers lines].",
)
@click.option("--service-col", metavar="NAME", help="Address column marking possible service points (1/true/是).")
@grid_run_options
@csv_options
@run_options
@click.option("--dask", "dask_mode", type=click.Choice(["local"]), help="Same as --scheduler local.")
@click.option(
    "--resume", is_flag=True, help="Reuse the villages an interrupted run of the same inputs already finished."
)
@options_object
@click.pass_context
def partition(
    ctx: click.Context,
    addresses: Any,
    boundaries: Any,
    units: Any,
    exclusive: Any,
    barriers: list[Any],
    streets: Any,
    service_col: str | None,
    previous: Any,
    options: Options,
    out: str,
    overwrite: bool,
    dask_mode: str | None,
    resume: bool,
) -> None:
    """Make coded grids from address points and village/community boundaries.

    \b
    Example:
      gridmap partition --addresses hh.gpkg --addresses-layer addresses \\
          --boundaries hh.gpkg --boundaries-layer boundaries \\
          --barriers roads.shp --exclusive schools.geojson --out outputs/town
    """
    from gridmap.inputs import read_inputs

    if options.keep_valid and previous is None:
        raise click.UsageError("--keep-valid needs --previous (the grids to keep).")
    if dask_mode and not options.scheduler:
        options = options.replace(scheduler=dask_mode)
    inputs = read_inputs(
        addresses, boundaries, units=units, exclusive=exclusive, barriers=barriers, previous=previous, options=options
    )
    walk = None
    if streets is not None:
        from gridmap.inputs import read_input

        o = options
        walk = read_input(streets, role="streets", input_crs=o.input_crs, crs=o.crs_of("streets"), encoding=o.encoding)
    grid_and_write(
        ctx,
        inputs,
        Path(out),
        options=options,
        overwrite=overwrite,
        resume=resume,
        streets=walk,
        service_col=service_col,
    )


def grid_and_write(
    ctx: click.Context,
    inputs: Any,
    out: Path,
    *,
    options: Options,
    overwrite: bool,
    resume: bool = False,
    streets: Any = None,
    service_col: str | None = None,
) -> None:
    """Make the grids of `inputs` and write the run folder `out` (shared by partition and demo).

    With `streets` (a frame and its source) or barrier lines, every grid gets ``walk_m``.
    """
    from geodata.errors import InputError, Problem
    from geodata.io import check_output
    from gridmap.execute import clear_resume_dir
    from gridmap.make import make_grids
    from gridmap.runfolder import import_writers, warm_writer
    from partition.measures import band_share

    labels = [s.label for s in inputs.sources.values()] + ([streets[1].label] if streets is not None else [])
    paths = [Path(label) for label in labels if Path(label).exists()]
    check_output(out, overwrite=overwrite, inputs=paths)  # fail before the work, not after it
    walk_limited = any(lim.measure == "walk_m" for rule in options.rules.rules() for lim in rule.limits)
    if walk_limited and streets is None and not inputs.barriers:
        fix = "pass the street lines to walk on (--streets roads.gpkg, e.g. OSM roads), or drop the walk_m limit."
        raise InputError(Problem("--limit walk_m", "needs streets: the run has no street or barrier lines.", fix))
    parts = out.with_name(f".{out.name}.parts")
    if not resume:
        clear_resume_dir(parts)  # security: only a private folder of gridmap's own data files
    progress = Progress(ctx.obj.get("quiet", False), meanwhile={"partition": import_writers})
    warm_writer(addresses=len(inputs.addresses), workers=options.workers)
    result = make_grids(**inputs.frames(), options=options.replace(resume_dir=parts), progress=progress)
    warn(result.warnings)
    if streets is not None or inputs.barriers:
        from gridmap.walks import walk_grids

        progress("walk", 0, 1)
        frame, source = streets if streets is not None else (None, None)
        result = walk_grids(result, frame, service_col=service_col, file=source.label if source else "barriers")
        if source is not None:
            result.manifest["inputs"]["streets"] = {
                "path": source.label,
                "layer": source.layer,
                "sha256": source.sha256,
            }
        progress("walk", 1, 1)
    progress("write", 0, 1)
    result.save(out, overwrite=overwrite, workers=options.workers)
    clear_resume_dir(parts)
    g = result.grids
    echo(
        ctx,
        (
            f"{len(g)} grids for {result.manifest['counts']['villages']} villages/communities, "
            f"{int(g['households'].sum()):,} households; household-band grids in band {band_share(g):.1%}; "
            f"flagged {int(g['status'].ne('ok').sum())}.\n"
            f"Run folder: {out}\nMap: {out / 'map.html'}\nReport: {out / 'report.html'}"
        ),
    )
    KEPT["result"] = result  # freed when the command returns, or with the process (gridmap.cli.command)
