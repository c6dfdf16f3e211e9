"""``gridmap export``: a run's grids and rosters for other GIS and for grid workers."""

from __future__ import annotations

from pathlib import Path

import click

from gridmap.cli.console import echo
from gridmap.cli.options import overwrite_option, run_dir_argument
from gridmap.export import FORMATS


@click.command()
@run_dir_argument
@click.option(
    "--format",
    "formats",
    multiple=True,
    required=True,
    help="Format to write (repeatable).",
    type=click.Choice(FORMATS),
)
@click.option(
    "--encoding", default="UTF-8", show_default=True, help="Shapefile text encoding (GBK for older Chinese GIS)."
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder [RUN_DIR/export].")
@overwrite_option
@click.option(
    "--workers",
    "workers_csv",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV/XLSX of grid_code → worker: adds a worker column to rosters and grid layers.",
)
@click.pass_context
def export(
    ctx: click.Context,
    run_dir: str,
    formats: tuple[str, ...],
    encoding: str,
    out_dir: str | None,
    overwrite: bool,
    workers_csv: str | None,
) -> None:
    """Export a run's grids and rosters for other GIS and for grid workers.

    \b
    Formats: gpkg, geojson, shp (zipped, fields ≤ 10 characters, .cpg), kml, xlsx (one sheet
    per village/community), csv (UTF-8 with BOM).
    Example:
      gridmap export outputs/demo --format shp --format xlsx --encoding gbk
    """
    from geodata.io import atomic_dir
    from gridmap.analysis import read_workers
    from gridmap.export import write_export
    from gridmap.result import read_run

    try:
        "".encode(encoding)
    except LookupError as exc:
        raise click.BadParameter(f"unknown encoding '{encoding}'", param_hint="--encoding") from exc
    result = read_run(Path(run_dir))
    workers = read_workers(workers_csv) if workers_csv else result.worker_grids  # default: `gridmap assign`'s
    out = Path(out_dir) if out_dir else Path(run_dir) / "export"
    files: list[Path] = []
    with atomic_dir(out, overwrite=overwrite, inputs=[run_dir]) as tmp:
        for fmt in formats:
            files += [out / f.name for f in write_export(result, tmp, fmt=fmt, encoding=encoding, workers=workers)]
    echo(ctx, "\n".join(str(f) for f in files))
