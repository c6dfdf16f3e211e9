"""Exceptions shared by every gridmap layer (geodata, partition, gridmap).

Every error a user can cause is a :class:`GridmapError` and also the matching builtin, so callers
may catch either. The command line prints ``Error: <message>`` for these and exits with code 2
(``-v`` adds the traceback); anything else is a bug in gridmap.

=====================  ===================  ================================================
class                  builtin              raised when
=====================  ===================  ================================================
InputError             ValueError           an input file is unusable (every problem listed)
CRSError               ValueError           a coordinate system is missing, unknown, unsuitable
RulesError             ValueError           a rules file or band option is invalid
OptionError            ValueError           an option or parameter value is invalid
CodeError              ValueError           a grid code is not 12 + 3 ASCII digits
CodeSpaceError         ValueError           a village runs out of grid/liaison numbers
OutputExistsError      FileExistsError      the output exists and ``overwrite`` was not given
UnsafeOutputError      PermissionError      the output may not be replaced (not gridmap's,
                                            holds an input, is the working folder, ...)
OutputError            OSError              the output cannot be written (permissions, disk)
DependencyError        ImportError          an optional package is missing
ClusterError           ConnectionError      a Dask scheduler cannot be reached or refuses
                                            this client (address, TLS certificates)
DatabaseError          RuntimeError         the database refused a publish (nothing written)
EditError              ValueError           an editor request is invalid or refused (names the
                                            request field; carries the HTTP status)
=====================  ===================  ================================================
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {c: f"\\u{c:04x}" for c in _BIDI}
_ESCAPES_KEEP_NL = {c: e for c, e in _ESCAPES.items() if c != 0x0A}


def printable(text: object, *, newlines: bool = False) -> str:
    r"""Return `text` with control characters shown as escapes (``\x1b``), safe to print on a terminal.

    A name, code or cell value may hold terminal escape sequences (which retitle the window, clear
    the screen or write the clipboard), carriage returns that overwrite a line, or bidi overrides
    that reorder it. Every message gridmap prints goes through this. `newlines` keeps line feeds
    (a message of several lines that gridmap itself joined).
    """
    return str(text).translate(_ESCAPES_KEEP_NL if newlines else _ESCAPES)


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: where it is, what is wrong, how to fix it.

    ``kind`` names the problem for machines (e.g. ``address_outside_boundaries``), ``ids``
    holds the 0-based positions of the rows concerned, so a caller can map them back, and
    ``values`` the figures of a note kept in an output (a :class:`partition.reasons.Reason`'s
    values, so the message catalog can word it in Chinese and English).
    """

    file: str
    message: str
    fix: str = ""
    row: str | None = None
    column: str | None = None
    kind: str | None = None
    ids: tuple[int, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(str(self.row))
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = f"{', '.join(where)}: {self.message}"
        return printable(f"{text} Fix: {self.fix}" if self.fix else text)


class GridmapError(Exception):
    """Base class of every error gridmap raises on purpose (user-causable, never a bug).

    Parameters
    ----------
    message
        What is wrong (and where, when the caller knows).
    fix
        How to put it right; appended as ``Fix: ...`` unless the message already says it.
    """

    def __init__(self, message: str = "", *, fix: str = "") -> None:
        self.fix = fix
        text = f"{message} Fix: {fix}" if fix and "Fix:" not in message else message
        super().__init__(printable(text, newlines=True))


class InputError(GridmapError, ValueError):
    """An input file is unusable; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        lines = [str(p) for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"... and {len(self.problems) - 20} more problems of the same kinds")
        super().__init__("\n".join(lines))


class CRSError(GridmapError, ValueError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class RulesError(GridmapError, ValueError):
    """A rules file or rule option is invalid."""


class OptionError(GridmapError, ValueError):
    """An option or parameter has a value gridmap cannot use."""


class CodeError(GridmapError, ValueError):
    """A grid code is not of the standard form (12-digit village code + 3-digit sequence, ASCII digits)."""


class CodeSpaceError(GridmapError, ValueError):
    """A village/community or grid has run out of code numbers."""


class OutputExistsError(GridmapError, FileExistsError):
    """The output folder exists and overwriting was not asked for."""


class UnsafeOutputError(GridmapError, PermissionError):
    """Writing the output would replace something gridmap must not touch."""


class OutputError(GridmapError, OSError):
    """The output cannot be written (no permission, disk full, a file in the way)."""


class DependencyError(GridmapError, ImportError):
    """An optional package needed for this is not installed."""


class ClusterError(GridmapError, ConnectionError):
    """A Dask scheduler cannot be reached, or it and this client do not trust each other's TLS certificates."""


DISTRIBUTION = "gridmap-engine"
"""gridmap's name on the package index (the import name is ``gridmap``)."""


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import an optional `module`, or say which extra of gridmap installs it.

    Examples
    --------
    >>> require("json", extra="edit", purpose="the editor").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyError(
            f"{purpose} needs the Python package {module.split('.')[0]}, which is not installed.",
            fix=f"pip install '{DISTRIBUTION}[{extra}]'.",
        ) from exc


class DatabaseError(GridmapError, RuntimeError):
    """A database refused or failed an operation (e.g. a publish); nothing was written."""


class EditError(GridmapError, ValueError):
    """An edit request is invalid or not allowed; nothing was changed.

    ``field`` names the request field at fault; ``status`` is the HTTP status the editor's API
    answers with (400 malformed, 404 unknown grid/unit, 409 refused: locked grid, or a warning
    that needs ``confirm``); ``warnings`` lists what a confirmed edit would break.
    """

    def __init__(self, message: str, *, field: str = "", status: int = 400, warnings: list[str] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.status = status
        self.warnings = list(warnings or [])
