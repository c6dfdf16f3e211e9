"""``gridmap publish``: a run folder into PostgreSQL/PostGIS in one transaction."""

from __future__ import annotations

from pathlib import Path

import click

from gridmap.cli.console import echo
from gridmap.cli.options import run_dir_argument


@click.command()
@run_dir_argument
@click.option(
    "--db",
    "url",
    required=True,
    envvar="GRIDMAP_DB",
    metavar="URL",
    help="postgresql://USER@HOST:PORT/DB [env GRIDMAP_DB]; password from the URL, PGPASSWORD, ~/.pgpass or a "
    "service file.",
)
@click.option(
    "--schema", default="gridmap", show_default=True, help="Schema holding grids, grids_current, code_ledger, runs, ..."
)
@click.pass_context
def publish(ctx: click.Context, run_dir: str, url: str, schema: str) -> None:
    """Publish a run folder into PostgreSQL/PostGIS in one transaction (all or nothing).

    Grids are versioned (valid_from_run/valid_to_run; view grids_current), every code ever
    issued is kept in code_ledger, and the database refuses a retired code. Only the run's
    villages/communities are replaced.

    \b
    Examples:
      gridmap publish outputs/town --db postgresql://gis@db.example.cn:5432/county
      gridmap partition ... --previous postgresql://gis@db.example.cn/county --out outputs/town-2026
      gridmap publish outputs/town-2026 --db postgresql://gis@db.example.cn/county
    """
    from gridmap.publish import publish_run
    from gridmap.result import read_run

    done = publish_run(read_run(Path(run_dir)), url, schema=schema)
    echo(ctx, done.summary())
