"""``gridmap assign``: assign workers (网格员) to the grids of a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from gridmap.cli.console import echo
from gridmap.cli.options import overwrite_option, run_dir_argument


def _weights(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, float] | None:
    """``NAME=WEIGHT`` (or ``NAME``: weight 1) → {name: weight}."""
    if not values:
        return None
    out: dict[str, float] = {}
    for text in values:
        name, _, weight = text.partition("=")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise click.BadParameter(f"'{text}' is not NAME=WEIGHT (e.g. population=0.5).", param=param) from None
    return out


@click.command("assign")
@run_dir_argument
@click.option("--workers", "count", type=click.IntRange(min=1), help="How many workers (named <township>-01, …).")
@click.option(
    "--workers-table",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV/XLSX of the workers: worker (name), capacity (share of a full load, default 1), "
    "township (9-digit code, optional).",
)
@click.option("--workers-sheet", metavar="NAME", help="Sheet of an .xlsx/.xls --workers-table [the first].")
@click.option(
    "--weight",
    "weights",
    multiple=True,
    metavar="NAME=WEIGHT",
    callback=_weights,
    help="A measure of the composite load and its weight (repeatable): households=1 population=0.5 walk_m=0.2 "
    "[households=1].",
)
@overwrite_option
@click.pass_context
def assign(
    ctx: click.Context,
    run_dir: str,
    count: int | None,
    workers_table: str | None,
    workers_sheet: str | None,
    weights: dict[str, float] | None,
    overwrite: bool,
) -> None:
    """Assign workers to a run's grids: contiguous grids within one township each, loads balanced.

    Writes the workers layer (one area per worker) into grids.gpkg, workers.csv, and the map and
    report with the workers; the run folder is rewritten as a whole, atomically (maps and exports
    other commands added to it are removed: they show no workers).

    \b
    Examples:
      gridmap assign outputs/town --workers 40
      gridmap assign outputs/town --workers-table 网格员.xlsx --weight households=1 --weight population=0.5
    """
    from geodata.errors import OutputExistsError
    from gridmap.assign import assign_workers, read_worker_table
    from gridmap.result import read_run
    from gridmap.runfolder import write_run

    if (count is None) == (workers_table is None):
        raise click.UsageError("give --workers N or --workers-table FILE (one of them).")
    run = Path(run_dir)
    result = read_run(run)
    if result.workers is not None and not overwrite:
        raise OutputExistsError(f"{run} already has workers assigned.", fix="pass --overwrite to assign them again.")
    staff = read_worker_table(workers_table, sheet=workers_sheet) if workers_table else count
    assert staff is not None
    staffed = assign_workers(result, staff, weights=weights, file=str(workers_table or "--workers"))
    listed = set(result.manifest.get("files") or [])
    made_later = sorted(p.name for p in run.iterdir() if p.name not in listed and not p.name.startswith("."))
    write_run(staffed, run, overwrite=True)  # refuses a folder holding files gridmap did not write
    w = staffed.workers
    assert w is not None
    lpc = w["load_per_capacity"]
    echo(
        ctx,
        f"{len(w)} workers over {len(staffed.grids)} grids in {w['township'].nunique()} townships; load per capacity "
        f"{lpc.min():.2f}–{lpc.max():.2f} (max/min {lpc.max() / max(lpc.min(), 1e-12):.2f}); contiguous "
        f"{int(w['pieces'].eq(1).sum())}/{len(w)}.\nWorkers: {run / 'workers.csv'}\nMap: {run / 'map.html'}",
    )
    if made_later:
        echo(ctx, f"Removed with the old run files (make them again with gridmap map/export): {', '.join(made_later)}")
