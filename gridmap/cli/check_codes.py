"""``gridmap check-codes``: format, uniqueness, prefix, ranges and gaps of grid codes."""

from __future__ import annotations

from pathlib import Path

import click

from geodata.errors import printable
from geodata.io import RUN_FILES

SEVERITY = {"error": "错误 error  ", "warning": "提醒 warning"}
"""How a finding's severity is printed (Chinese first, English beside, one width)."""


@click.command("check-codes")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer", default=None, help="Layer of FILE [grids when present].")
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Column holding the grid codes.")
@click.option(
    "--village-code-col",
    default="village_code",
    show_default=True,
    help="Column of the owning village's code (optional).",
)
@click.option("--type-col", default="grid_type", show_default=True, help="Column of the grid type (optional).")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the findings to this CSV.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.pass_context
def check_codes_cmd(
    ctx: click.Context,
    file: str,
    layer: str | None,
    grid_code_col: str,
    village_code_col: str,
    type_col: str,
    out: str | None,
    overwrite: bool,
) -> None:
    """Check grid codes: format, uniqueness, village prefix, sequence ranges, retirements, gaps.

    In a run folder, a code its manifest or code_changes.csv records as retired while a grid
    still uses it is an error.

    Exit code 0 when there are no errors (gaps are warnings), 1 otherwise.

    \b
    Example:
      gridmap check-codes outputs/town/grids.gpkg
      gridmap check-codes old_grids.shp --grid-code-col WGBM --village-code-col CJBM
    """
    from geodata.io import check_output_file, layer_names, read_layer, write_csv
    from gridmap.catalog import bilingual_text, with_notes
    from gridmap.runfolder import recorded_retired
    from partition.coding import check_codes

    if out:
        check_output_file(out, overwrite=overwrite, inputs=[file], protected=RUN_FILES)

    if layer is None and file.lower().endswith(".gpkg"):
        layer = "grids" if "grids" in layer_names(file) else None
    gdf = read_layer(Path(file), layer=layer)
    if grid_code_col not in gdf.columns:
        raise click.BadParameter(
            f"{file} has no column '{grid_code_col}' (columns: {', '.join(map(str, gdf.columns))}).",
            param_hint="--grid-code-col",
        )
    frame = gdf.rename(columns={grid_code_col: "grid_code"})
    frame = frame.rename(
        columns={c: n for c, n in ((village_code_col, "village_code"), (type_col, "grid_type")) if c in frame.columns}
    )
    found = with_notes(check_codes(frame, retired=recorded_retired(Path(file).parent)))  # a run's retirements
    n_errors = int(found["severity"].eq("error").sum())
    n_warnings = len(found) - n_errors
    click.echo(
        f"已检查 {len(frame)} 个网格：{n_errors} 个错误，{n_warnings} 个提醒。"
        f" / {len(frame)} grids checked: {n_errors} errors, {n_warnings} warnings."
    )
    for row in found.itertuples():
        label = SEVERITY[row.severity]
        click.echo(printable(f"  {label}  {bilingual_text(row.note, row.note_en)}"))
    if out:
        write_csv(Path(out), found[["grid_code", "check", "severity", "note", "note_en", "reason"]])
    ctx.exit(1 if n_errors else 0)
