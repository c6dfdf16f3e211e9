"""The `gridmap` command line: one module per command (read → library → write), options in one module.

>>> sorted(main.commands)[:4]
['assign', 'audit', 'check-codes', 'demo']
"""

from __future__ import annotations

import logging
import os
import sys

import click

from geodata.errors import DISTRIBUTION, GridmapError, printable
from gridmap.cli.assign import assign
from gridmap.cli.audit import audit
from gridmap.cli.check_codes import check_codes_cmd
from gridmap.cli.console import KEPT, FlagFormatter, as_flags
from gridmap.cli.demo import demo
from gridmap.cli.diff import diff
from gridmap.cli.edit import edit
from gridmap.cli.export import export
from gridmap.cli.map import map_cmd
from gridmap.cli.partition import partition
from gridmap.cli.province import province
from gridmap.cli.publish import publish
from gridmap.cli.report import report_cmd

_state = {"verbose": 0}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name=DISTRIBUTION)
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug); errors show their traceback.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """gridmap: divide villages and communities into coded management grids (网格划分).

    \b
    Examples:
      gridmap demo                                   # the bundled sample → outputs/demo/
      gridmap partition --addresses hh.csv --input-crs gcj02 \\
          --boundaries villages.gpkg --out outputs/town
      gridmap map outputs/town --basemap gaode       # re-render the map on Gaode tiles
      gridmap check-codes outputs/town/grids.gpkg
    """
    level = logging.ERROR if quiet else max(logging.DEBUG, logging.WARNING - 10 * verbose)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FlagFormatter("%(levelname)s: %(message)s", main))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    _state["verbose"] = verbose


for _command in (
    partition,
    province,
    demo,
    map_cmd,
    export,
    report_cmd,
    audit,
    diff,
    publish,
    check_codes_cmd,
    edit,
    assign,
):
    main.add_command(_command)


def run(*, keep: bool = False) -> None:
    """Entry point: gridmap's own errors become a clear message and exit code 2 (``-v``: with traceback).

    What a command made (:data:`~gridmap.cli.console.KEPT`) is let go when it returns, unless `keep`.
    """
    try:
        _run()
    finally:
        if not keep:
            KEPT.clear()


def _run() -> None:
    try:
        code = main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted; no output was written.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.message = printable(exc.message, newlines=True)  # type: ignore[misc]  # click marks it Final
        exc.show()
        sys.exit(exc.exit_code)
    except GridmapError as exc:
        if _state["verbose"]:
            import traceback

            traceback.print_exc()
        click.echo(f"Error: {as_flags(str(exc), main)}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    # without standalone mode click returns a command's exit status (ctx.exit(1)) instead of exiting with it
    if isinstance(code, int) and code:
        sys.exit(code)


def command() -> None:
    """Run the installed ``gridmap`` command (:func:`run`), then leave without tearing the interpreter down.

    After a city's run this process holds a million addresses, their geometries and the grids;
    freeing them object by object took half a second after every output was written and closed.
    A failing command exits as :func:`run` makes it (its ``SystemExit`` is not caught here).
    """
    run(keep=True)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
