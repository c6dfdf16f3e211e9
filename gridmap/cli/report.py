"""``gridmap report``: the workload report of a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from geodata.io import RUN_FILES
from gridmap.cli.console import echo
from gridmap.cli.options import run_dir_argument, workers_option


@click.command("report")
@run_dir_argument
@workers_option
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Grid code column of --workers.")
@click.option("--worker-col", default="worker", show_default=True, help="Worker column of --workers.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="HTML file [RUN_DIR/report.html].")
@click.pass_context
def report_cmd(
    ctx: click.Context,
    run_dir: str,
    workers_csv: str | None,
    workers_sheet: str | None,
    grid_code_col: str,
    worker_col: str,
    out_file: str | None,
) -> None:
    """Write the workload report of a run (summary, histogram, flagged grids, villages, workers).

    \b
    Example:
      gridmap report outputs/demo --workers workers.csv
    """
    from geodata.io import check_output_file, write_text
    from gridmap.analysis import read_workers
    from gridmap.report import report_page
    from gridmap.result import read_run

    out = Path(out_file) if out_file else Path(run_dir) / "report.html"
    # the report is regenerated in place; every other file of the run (and the workers table) is left alone
    check_output_file(
        out,
        overwrite=True,
        inputs=[workers_csv] if workers_csv else [],
        protected=[f for f in RUN_FILES if f != "report.html"],
    )
    result = read_run(Path(run_dir))
    workers = (
        read_workers(workers_csv, grid_code_col=grid_code_col, worker_col=worker_col, sheet=workers_sheet)
        if workers_csv
        else result.worker_grids  # the workers `gridmap assign` gave the run, if any
    )
    write_text(out, report_page(result, workers=workers))
    echo(ctx, f"Report: {out}")
