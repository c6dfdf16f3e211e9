"""``gridmap edit``: adjust a run's grids by hand in the browser."""

from __future__ import annotations

import click

from geodata.errors import printable
from gridmap.cli.options import run_dir_argument


@click.command()
@run_dir_argument
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; off loopback every request needs the token.",
)
@click.option(
    "--token",
    help="Secret that every edit (and, off loopback, every read) must carry: printable ASCII, off loopback at least "
    "22 characters (128 bits) [default: generated].",
)
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
def edit(run_dir, port, host, token, no_browser) -> None:
    """Adjust the grids of RUN_DIR by hand in the browser; save writes a new run folder.

    \b
    Example:
      gridmap edit outputs/demo                # opens http://127.0.0.1:8765/?token=...
    """
    from gridmap.edit.server import serve

    serve(
        run_dir,
        host=host,
        port=port,
        token=token,
        open_browser=not no_browser,
        echo=lambda m: click.echo(printable(m, newlines=True), err=True),
    )
