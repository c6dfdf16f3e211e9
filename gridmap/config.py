"""Run options that come from text: the TOML rules file and ``MIN-MAX`` size ranges."""

from __future__ import annotations

import tomllib
from pathlib import Path

from geodata.errors import RulesError
from partition.rules import RuleSet


def read_rules(
    path: str | Path | None = None, *, min_households: int | None = None, max_households: int | None = None
) -> RuleSet:
    """Read a TOML rules file (keys in :mod:`partition.rules`); band options override the file.

    Parameters
    ----------
    path
        The rules file, or ``None`` for the built-in defaults (urban ``partition.values.DEFAULT_BAND``, rural one
        grid per 村民小组).
    min_households, max_households
        Household band that overrides the file's (and the defaults').

    Returns
    -------
    rules
        The rule set.

    Raises
    ------
    RulesError
        When the file is missing, not TOML, or has unknown keys or an impossible band.

    Examples
    --------
    >>> read_rules(min_households=200, max_households=400).urban.max_households
    400
    """
    if path is None:
        return RuleSet.from_dict({}, min_households=min_households, max_households=max_households)
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"{path}: the rules file does not exist.") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: not valid UTF-8 TOML ({exc}).") from exc
    return RuleSet.from_dict(data, min_households=min_households, max_households=max_households, source=str(path))


def parse_range(text: str, *, option: str = "liaison") -> tuple[int, int]:
    """Parse ``"MIN-MAX"`` (e.g. ``"10-15"``) into a pair of whole numbers with 0 < MIN <= MAX.

    Raises
    ------
    RulesError
        When `text` is not two whole numbers in order; the message names `option`.

    Examples
    --------
    >>> parse_range("10-15")
    (10, 15)
    """
    try:
        lo, hi = (int(v) for v in str(text).split("-"))
    except ValueError as exc:
        raise RulesError(f"`{option}` expects MIN-MAX such as 10-15, got '{text}'.") from exc
    return check_range((lo, hi), option=option)


def check_range(pair: object, *, option: str = "liaison") -> tuple[int, int]:
    """Return `pair` as ``(MIN, MAX)`` whole numbers with 0 < MIN <= MAX <= 1,000,000 (the CLI and library alike).

    Raises
    ------
    RulesError
        When `pair` is not two whole numbers in that order; the message names `option`.
    """
    from partition.values import MAX_BAND

    values = list(pair) if isinstance(pair, tuple | list) else []
    if len(values) != 2 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer() for v in values
    ):
        raise RulesError(f"`{option}` expects (MIN, MAX) whole numbers such as (10, 15), got {pair!r}.")
    lo, hi = int(values[0]), int(values[1])
    if not 0 < lo <= hi:
        raise RulesError(f"`{option}` needs 0 < MIN <= MAX, got '{lo}-{hi}'.")
    if hi > MAX_BAND:
        raise RulesError(f"`{option}` allows at most {MAX_BAND:,} households, got '{lo}-{hi}'.")
    return lo, hi


def parse_balance(text: str, *, option: str = "--balance") -> tuple[str, float]:
    """Parse ``NAME`` or ``NAME=WEIGHT`` (weight above 0; 1 when not given) into ``(name, weight)``.

    Raises
    ------
    RulesError
        When the weight is not a number above 0; the message names `option`.

    Examples
    --------
    >>> parse_balance("population"), parse_balance("minors=2")
    (('population', 1.0), ('minors', 2.0))
    """
    name, sep, weight = str(text).partition("=")
    try:
        w = float(weight) if sep else 1.0
    except ValueError:
        w = float("nan")
    if not name.strip() or not 0 < w <= 1e6:
        msg = f"`{option}` expects NAME or NAME=WEIGHT (a weight above 0) such as population=2, got '{text}'."
        raise RulesError(msg)
    return name.strip(), w
