"""``gridmap audit``: audit grids gridmap did not make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gridmap.cli.console import echo
from gridmap.cli.options import (
    input_crs_option,
    input_option,
    options_object,
    out_dir_option,
    overwrite_option,
    rules_options,
    workers_option,
)
from gridmap.options import Options


@click.command()
@input_option("grids", "The existing grid layer.", required=True)
@input_option("addresses", "Household address points.", required=True, sheet=True)
@input_option("boundaries", "Village/community polygons (finds gaps and border crossings).")
@workers_option
@click.option(
    "--grid-code-col", default="grid_code", show_default=True, help="Grid code column of --grids (and --workers)."
)
@click.option("--households-col", default="households", show_default=True, help="Households column of --addresses.")
@rules_options
@input_crs_option
@out_dir_option
@overwrite_option
@options_object
@click.pass_context
def audit(
    ctx: click.Context,
    grids: Any,
    addresses: Any,
    boundaries: Any,
    workers_csv: str | None,
    workers_sheet: str | None,
    grid_code_col: str,
    households_col: str,
    options: Options,
    out: str,
    overwrite: bool,
) -> None:
    """Audit grids not made by gridmap: households per grid, gaps, overlaps, border crossings, codes.

    \b
    Example:
      gridmap audit --grids old_grids.shp --grid-code-col WGBM --addresses hh.csv \\
          --boundaries villages.gpkg --workers workers.csv --out outputs/audit
    """
    from geodata.io import check_output
    from gridmap.analysis import audit as audit_layer
    from gridmap.analysis import read_workers, write_audit
    from gridmap.inputs import read_input

    run = Path(out)
    layers = [grids, addresses, boundaries]
    files = [s.path for s in layers if s is not None and isinstance(s.path, Path)]
    check_output(run, overwrite=overwrite, inputs=files + ([Path(workers_csv)] if workers_csv else []))
    o = options
    grid_layer, _ = read_input(grids, role="grids", input_crs=o.input_crs, crs=o.crs_of("grids"))
    points, _ = read_input(addresses, role="addresses", input_crs=o.input_crs, crs=o.crs_of("addresses"), sheet=o.sheet)
    villages = None
    if boundaries is not None:
        villages, _ = read_input(boundaries, role="boundaries", input_crs=o.input_crs, crs=o.crs_of("boundaries"))
    band = o.rules.urban
    result = audit_layer(
        grid_layer,
        points,
        villages,
        grid_code_col=grid_code_col,
        households_col=households_col,
        min_households=band.min_households,
        max_households=band.max_households,
        limits=band.limits,
        balance=band.balance,
        name=f"audit of {Path(str(grids.path)).name}",
    )
    workers = read_workers(workers_csv, grid_code_col=grid_code_col, sheet=workers_sheet) if workers_csv else None
    write_audit(result, run, overwrite=overwrite, workers=workers)
    found = ", ".join(f"{k} {v}" for k, v in result.manifest["findings"].items()) or "nothing"
    echo(ctx, f"{len(result.grids)} grids audited; findings: {found}.\nReport: {run / 'report.html'}")
