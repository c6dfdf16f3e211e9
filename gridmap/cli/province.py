"""``gridmap province``: grid a province village by village, reading addresses by window in each task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gridmap.cli.console import Progress, echo, warn
from gridmap.cli.options import (
    grid_run_options,
    input_option,
    options_object,
    run_options,
)
from gridmap.options import Options
from gridmap.province import MAP_LEVELS


@click.command()
@input_option("addresses", "Address points: GeoParquet or GPKG.", required=True, db=False)
@input_option("boundaries", "Village/community polygons.", required=True, db=False)
@input_option("units", "Unit polygons (buildings, parcels, blocks).", db=False)
@input_option("exclusive", "Exclusive areas (专属网格).", db=False)
@input_option("barriers", "Barrier lines (repeatable).", multiple=True, db=False)
@grid_run_options
@click.option(
    "--map-level",
    type=click.Choice(list(MAP_LEVELS)),
    default="township",
    show_default=True,
    help="One map and report page per county (6-digit prefix) or township (9-digit), with an index page.",
)
@click.option("--no-maps", is_flag=True, help="Skip the map and report pages (the slowest outputs).")
@run_options
@options_object
@click.pass_context
def province(
    ctx: click.Context,
    addresses: Any,
    boundaries: Any,
    units: Any,
    exclusive: Any,
    barriers: list[Any],
    previous: Any,
    options: Options,
    map_level: str,
    no_maps: bool,
    out: str,
    overwrite: bool,
) -> None:
    """Grid a province village by village: addresses are read by window in each task, never all at once.

    Output: grids.gpkg, a partitioned GeoParquet dataset (dataset/), roster.csv, one map and report per
    county or township (maps/, reports/), index.html and manifest.json. With --previous, every village
    inherits its codes as in `gridmap partition`.

    \b
    Example:
      gridmap province --addresses province.parquet --boundaries villages.gpkg \\
          --scheduler tls://10.0.0.5:8786 --out outputs/province
    """
    from geodata.io import check_output
    from gridmap.province import grid_province

    if options.keep_valid and previous is None:
        raise click.UsageError("--keep-valid needs --previous (the grids to keep).")
    run = Path(out)
    layers = [addresses, boundaries, units, exclusive, previous, *barriers]
    check_output(
        run, overwrite=overwrite, inputs=[s.path for s in layers if s is not None and isinstance(s.path, Path)]
    )
    result = grid_province(
        addresses,
        boundaries,
        run,
        units=units,
        exclusive=exclusive,
        barriers=barriers,
        previous=previous,
        options=options,
        map_level=map_level,
        maps=not no_maps,
        overwrite=overwrite,
        progress=Progress(ctx.obj.get("quiet", False)),
    )
    warn(result.warnings)
    c, mem = result.manifest["counts"], result.manifest["memory_mib"]
    echo(
        ctx,
        f"{c['grids']} grids for {c['villages']} villages/communities in {c['counties']} "
        f"{result.manifest['map_level']} page(s), {int(c['households']):,} households; flagged {c['flagged_grids']}.\n"
        f"Peak memory: driver {mem['driver_peak']:.0f} MiB, largest worker "
        f"{max(mem['worker_peaks'].values(), default=0):.0f} MiB.\n"
        f"Run folder: {run}\nIndex: {run / 'index.html'}",
    )
