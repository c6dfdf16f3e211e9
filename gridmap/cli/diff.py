"""``gridmap diff``: compare two grid layers household by household."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gridmap.cli.console import echo
from gridmap.cli.options import input_crs_option, input_option, options_object, out_dir_option, overwrite_option, spec
from gridmap.options import Options


@click.command()
@click.argument("old")
@click.argument("new")
@input_option("addresses", "Household address points.", required=True, sheet=True)
@click.option(
    "--layer", default=None, help="Layer of OLD and NEW [grids when present; gridmap.grids_current for a URL]."
)
@click.option(
    "--old-sql",
    metavar="SELECT",
    help="Query giving OLD when it is a postgresql:// URL (e.g. the grids of one published run).",
)
@click.option("--new-sql", metavar="SELECT", help="Query giving NEW when it is a postgresql:// URL.")
@click.option(
    "--grids-crs", metavar="CRS", help="CRS of OLD and NEW whatever the files say [the files'; else --input-crs]."
)
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Grid code column of OLD and NEW.")
@input_crs_option
@out_dir_option
@overwrite_option
@options_object
@click.pass_context
def diff(
    ctx: click.Context,
    old: str,
    new: str,
    addresses: Any,
    layer: str | None,
    old_sql: str | None,
    new_sql: str | None,
    grids_crs: str | None,
    grid_code_col: str,
    options: Options,
    out: str,
    overwrite: bool,
) -> None:
    """Compare two grid layers: which households change grid, what each grid gains and loses.

    \b
    Examples:
      gridmap diff outputs/2025/grids.gpkg outputs/2026/grids.gpkg --addresses hh.gpkg --out outputs/diff
      gridmap diff outputs/2025/grids.gpkg postgresql://gis@db/county --addresses hh.gpkg --out outputs/diff
    """
    from geodata.io import check_output, layer_names
    from geodata.postgis import is_db_url
    from gridmap.analysis import diff as diff_layers
    from gridmap.analysis import write_diff
    from gridmap.inputs import read_input

    files = [Path(p) for p in (old, new) if not is_db_url(p)]
    if isinstance(addresses.path, Path):
        files.append(addresses.path)
    check_output(Path(out), overwrite=overwrite, inputs=files)

    def grids_spec(path: str, sql: str | None, name: str) -> Any:
        lyr = layer
        if is_db_url(path):
            return spec(path, None if sql else (lyr or "gridmap.grids_current"), sql, option=name)
        if lyr is None and path.lower().endswith(".gpkg") and Path(path).is_file() and "grids" in layer_names(path):
            lyr = "grids"
        return spec(path, lyr, sql, option=name)

    o = options
    old_spec, new_spec = grids_spec(old, old_sql, "OLD"), grids_spec(new, new_sql, "NEW")
    a = read_input(old_spec, role="grids", input_crs=o.input_crs, crs=grids_crs)[0]
    b = read_input(new_spec, role="grids", input_crs=o.input_crs, crs=grids_crs)[0]
    points, _ = read_input(addresses, role="addresses", input_crs=o.input_crs, crs=o.crs_of("addresses"), sheet=o.sheet)
    d = diff_layers(a, b, points, grid_code_col=grid_code_col)
    write_diff(d, out, crs=a.crs, old=str(old_spec.path), new=str(new_spec.path), overwrite=overwrite)
    echo(ctx, f"{d.share_changed:.1%} of households change grid. Report: {Path(out) / 'report.html'}")
