"""Exceptions shared by every gridmap layer (geodata, partition, gridmap)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: where it is, what is wrong, how to fix it."""

    file: str
    message: str
    fix: str = ""
    row: str | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(self.row)
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = f"{', '.join(where)}: {self.message}"
        return f"{text} Fix: {self.fix}" if self.fix else text


class GridmapError(Exception):
    """Base class of every error gridmap raises on purpose."""


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


class OutputExistsError(GridmapError, FileExistsError):
    """The output folder exists and overwriting was not asked for."""


class RulesError(GridmapError, ValueError):
    """A rules file or rule option is invalid."""


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
