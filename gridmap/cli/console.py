"""What the commands print: results, warnings, progress; library parameter names shown as this CLI's flags."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click

from geodata.errors import printable

log = logging.getLogger("gridmap")


def echo(ctx: click.Context, text: str) -> None:
    """Print `text` unless the run is ``--quiet``."""
    if not ctx.obj.get("quiet"):
        click.echo(printable(text, newlines=True))


def warn(lines: Iterable[str]) -> None:
    """Print what the library says a person should know (its result's ``warnings``) as warnings."""
    for line in lines:
        log.warning("%s", line)


KEPT: dict[str, object] = {}
"""What the running command made, held until :func:`gridmap.cli.run` returns (or, for the installed
command, until the process leaves: the city's result took 0.2 s to free object by object)."""


class Progress:
    """Console progress: a line per stage, a bar for the per-village stage.

    Parameters
    ----------
    quiet
        Show nothing.
    meanwhile
        Stage → a function called once, when the stage's first item is done (the partition command
        loads the map writers while worker processes grid the villages).
    """

    def __init__(self, quiet: bool, *, meanwhile: Mapping[str, Callable[[], None]] | None = None) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.last: str | None = None
        self.meanwhile = dict(meanwhile or {})

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Show that `done` of `total` items of `stage` are done."""
        self._show(stage, done, total)
        if done and stage in self.meanwhile:
            self.meanwhile.pop(stage)()

    def _show(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage != self.last:
            if self.bar is not None:
                self.bar.render_finish()
                self.bar = None
            self.last = stage
            if total > 1:
                self.bar = click.progressbar(length=total, label=f"{stage:>10}", file=sys.stderr, show_pos=True)
                self.bar.render_progress()
            else:
                click.echo(f"{stage:>10} …", err=True)
        if self.bar is not None:
            self.bar.update(done - self.bar.pos)
            if done >= total:
                self.bar.render_finish()
                self.bar = None


def as_flags(text: str, group: click.Group) -> str:
    """Name library parameters (```x_col```) as the command line's flags (``--x-col``)."""
    names = {
        p.name: p.opts[0]
        for cmd in group.commands.values()
        for p in cmd.params
        if isinstance(p, click.Option) and p.opts[0].startswith("--")
    }
    names.update(
        {
            "crs": "--<input>-crs",
            "workers": "--workers",
            "fields": "--<field>-col",
            "layer_crs": "--<input>-crs",
            "sheet": "--addresses-sheet",
            "rules": "--rules",
        }
    )
    text = re.sub(r"`(--[a-z][a-z-]*)`", r"\1", text)
    return re.sub(r"`([a-z_]+)`", lambda m: names.get(m[1], m[0]), text)


class FlagFormatter(logging.Formatter):
    """Log lines with library parameter names shown as the command line's flags."""

    def __init__(self, fmt: str, group: click.Group) -> None:
        super().__init__(fmt)
        self.group = group

    def format(self, record: logging.LogRecord) -> str:
        """Format `record`, naming parameters as flags."""
        return printable(as_flags(super().format(record), self.group), newlines=True)
