"""The values every part of gridmap shares: the household band, the grid code, a grid's status and flag.

A :class:`Band` answers "is this grid inside its household band?" (and by how much it is not); a
:class:`GridCode` parses, formats and classifies a 15-digit grid code. Nothing else compares
households with a band's ends or slices a code: the engine, audit, measures, regeneration and the
exports all ask these values. The only other place that knows the code format is the ``CHECK`` of
``gridmap/publish.sql`` (the database guards itself).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

import numpy as np
import pandas as pd

from geodata.errors import CodeError, CodeSpaceError, RulesError

TOLERANCE = 1e-9
"""Households within this of a band's end count as on it (sums of float household counts)."""


class Status(StrEnum):
    """Status of a grid (``status`` column): within its rule, or why not."""

    OK = "ok"
    UNDER_MIN = "under_min"
    OVER_MAX = "over_max"
    ENCLAVE = "enclave"


class Flag(StrEnum):
    """Why a grid is out of band (``flag`` column): what the data force, or what balancing missed."""

    NONE = ""
    UNIT_OVER_MAX = "unit_over_max"
    NO_FEASIBLE_K = "no_feasible_k"
    UNBALANCED = "unbalanced"
    ENCLAVE = "enclave"
    EDITED = "edited"
    """Changed by hand in the editor and out of its band (no engine proof either way)."""
    LIMIT_FORCED = "limit_forced"
    """In band, but a measure limit is missed and the data prove no in-band grid there can meet it."""
    LIMIT_UNMET = "limit_unmet"
    """In band, but a measure limit is missed and no proof was found that it must be."""


MAX_BAND = 1_000_000
"""Largest household band end: a grid of a million households is a typo (and would overflow the work)."""


@dataclass(frozen=True)
class Band:
    """A household band: a grid holding ``min_households..max_households`` households (both ends in).

    Examples
    --------
    >>> band = Band(300, 500)
    >>> band.contains(300), band.contains(500), band.contains(501), band.contains(299)
    (True, True, False, False)
    >>> band.violation(550), str(band.status(550))
    (50.0, 'over_max')
    >>> list(band.feasible_counts(1000))
    [2, 3]
    """

    min_households: float
    max_households: float

    def __post_init__(self) -> None:
        if not 0 < self.min_households <= self.max_households:
            msg = (
                f"the household band must satisfy 0 < `min_households` <= `max_households`, got "
                f"min={self.min_households}, max={self.max_households}."
            )
            raise RulesError(msg)
        if self.max_households > MAX_BAND:
            msg = f"`max_households` is at most {MAX_BAND:,} households, got {self.max_households}."
            raise RulesError(msg)

    def with_ends(self, *, min_households: float | None = None, max_households: float | None = None) -> Band:
        """Return this band with the ends given (``None`` keeps this band's end)."""
        return Band(
            self.min_households if min_households is None else min_households,
            self.max_households if max_households is None else max_households,
        )

    def violation(self, households: float) -> float:
        """Households outside the band: below the minimum or above the maximum (0 inside).

        Written with comparisons rather than ``max``: refinement calls it for every boundary node.
        """
        lo, hi = self.min_households, self.max_households
        return (lo - households if households < lo else 0.0) + (households - hi if households > hi else 0.0)

    def contains(self, households: float) -> bool:
        """Whether `households` lie in the band; exactly the minimum and the maximum are in."""
        return self.violation(households) <= TOLERANCE

    def status(self, households: float) -> Status:
        """``ok`` inside the band, else ``under_min`` or ``over_max``."""
        if self.contains(households):
            return Status.OK
        return Status.UNDER_MIN if households < self.min_households else Status.OVER_MAX

    def violations(self, households: np.ndarray | pd.Series) -> np.ndarray:
        """:meth:`violation` of every element of `households`."""
        h = np.asarray(households, float)
        return np.maximum(0.0, self.min_households - h) + np.maximum(0.0, h - self.max_households)

    def contains_all(self, households: np.ndarray | pd.Series) -> np.ndarray:
        """:meth:`contains` of every element of `households` (a boolean array)."""
        return self.violations(households) <= TOLERANCE

    def statuses(self, households: np.ndarray | pd.Series) -> np.ndarray:
        """:meth:`status` of every element of `households` (an array of status strings)."""
        h = np.asarray(households, float)
        out = np.where(h < self.min_households, Status.UNDER_MIN.value, Status.OVER_MAX.value).astype(object)
        out[self.contains_all(h)] = Status.OK.value
        return out

    def feasible_counts(self, households: float) -> range:
        """Return the numbers of grids ``k`` that could all be in band: ``k * min <= households <= k * max``.

        Empty when no number fits (e.g. 550 households in 300-500: one grid is too many
        households, two are too few), and for an area without households.
        """
        if households <= 0:
            return range(0)
        return range(math.ceil(households / self.max_households), math.floor(households / self.min_households) + 1)

    def __str__(self) -> str:
        return f"{self.min_households:.0f}-{self.max_households:.0f}"


@dataclass(frozen=True)
class Limit:
    """A limit on one measure of a grid (a numeric column of the addresses or units, summed per grid).

    ``max`` (and/or ``min``) per grid; a grid outside is out of its limit by :meth:`violation`.

    Examples
    --------
    >>> Limit("minors", max=300).violation(320), Limit("minors", max=300).contains(300)
    (20.0, True)
    >>> str(Limit("population", min=500, max=1500))
    'population=500-1500'
    """

    measure: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.measure, str) or not self.measure.strip():
            msg = f"a limit needs a measure name (a numeric column), got {self.measure!r}."
            raise RulesError(msg)
        for end in ("min", "max"):
            v = getattr(self, end)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= MAX_MEASURE):
                msg = f"limit `{self.measure}`: `{end}` must be a number from 0 to {MAX_MEASURE:,}, got {v!r}."
                raise RulesError(msg)
        if self.min is None and self.max is None:
            msg = f"limit `{self.measure}` has neither `max` nor `min`; give one (e.g. {self.measure}=300)."
            raise RulesError(msg)
        if self.min is not None and self.max is not None and self.min > self.max:
            msg = f"limit `{self.measure}`: `min` {self.min} is above `max` {self.max}."
            raise RulesError(msg)

    def violation(self, value: float) -> float:
        """How far `value` lies outside the limit (0 inside)."""
        lo = 0.0 if self.min is None else max(0.0, self.min - value)
        hi = 0.0 if self.max is None else max(0.0, value - self.max)
        return lo + hi

    def violations(self, values: np.ndarray | pd.Series) -> np.ndarray:
        """:meth:`violation` of every element of `values`."""
        v = np.asarray(values, float)
        lo = 0.0 if self.min is None else np.maximum(0.0, self.min - v)
        hi = 0.0 if self.max is None else np.maximum(0.0, v - self.max)
        return np.asarray(lo + hi, float)

    def contains(self, value: float) -> bool:
        """Whether `value` meets the limit (its ends included)."""
        return self.violation(value) <= TOLERANCE

    def missed(self, value: float) -> str:
        """Return the end of the limit `value` misses, as reasons quote it.

        >>> Limit("minors", max=300).missed(320), Limit("population", min=500, max=1500).missed(400)
        ('≤ 300', '≥ 500')
        """
        return f"≤ {self.max:g}" if self.max is not None and value > self.max else f"≥ {self.min:g}"

    def __str__(self) -> str:
        if self.min is None:
            return f"{self.measure}={self.max:g}"
        return f"{self.measure}={self.min:g}-{'' if self.max is None else f'{self.max:g}'}"

    @classmethod
    def parse(cls, text: str, *, option: str = "--limit") -> Limit:
        """Read ``NAME=MAX``, ``NAME=MIN-MAX`` or ``NAME=MIN-`` (e.g. ``minors=300``).

        Examples
        --------
        >>> Limit.parse("minors=300"), Limit.parse("population=500-")
        (Limit(measure='minors', max=300.0, min=None), Limit(measure='population', max=None, min=500.0))
        """
        name, sep, value = str(text).partition("=")
        lo, dash, hi = value.partition("-")
        try:
            if not sep or not name.strip():
                raise ValueError
            if dash:
                return cls(name.strip(), max=float(hi) if hi.strip() else None, min=float(lo))
            return cls(name.strip(), max=float(value))
        except ValueError as exc:
            msg = f"`{option}` expects NAME=MAX, NAME=MIN-MAX or NAME=MIN- such as minors=300, got '{text}'."
            raise RulesError(msg) from exc


MAX_MEASURE = 1e12
"""Largest end of a limit (a typo beyond it)."""


DEFAULT_BAND = Band(300, 500)
"""The household band of urban grids unless a rules file or option says otherwise."""


def band_contains(households: pd.Series, low: pd.Series, high: pd.Series) -> pd.Series:
    """Whether each grid's `households` lie in its own band ``low..high`` (per-row bands, as in a grids table)."""
    h = households.to_numpy(float)
    lo = np.asarray(low, float)
    hi = np.asarray(high, float)
    return pd.Series(np.maximum(0.0, lo - h) + np.maximum(0.0, h - hi) <= TOLERANCE, index=households.index)


class CodeKind(StrEnum):
    """What a grid code's 3-digit sequence says about its grid."""

    UNDIVIDED = "undivided"
    """``000``: the village/community is one grid."""
    BASE = "base"
    """``001``-``799``: a base grid of a divided village/community."""
    EXCLUSIVE = "exclusive"
    """``800``-``999``: an exclusive grid (专属网格)."""


_CODE = re.compile(r"[0-9]{15}")  # ASCII digits only: `\d` and str.isdigit() accept any Unicode digit
_VILLAGE = re.compile(r"[0-9]{12}")


@dataclass(frozen=True, order=True)
class GridCode:
    """A 15-digit grid code: the 12-digit village/community code (统计用区划代码) + a 3-digit sequence.

    Examples
    --------
    >>> code = GridCode.parse("310115005001801")
    >>> code.village, code.seq, code.kind
    ('310115005001', 801, <CodeKind.EXCLUSIVE: 'exclusive'>)
    >>> str(GridCode("310115005001", 0))
    '310115005001000'
    >>> GridCode.next_free("310115005001", [1, 2, 5, 801], exclusive=False)
    GridCode(village='310115005001', seq=6)
    """

    village: str
    seq: int

    VILLAGE_DIGITS: ClassVar[int] = 12
    TOWNSHIP_DIGITS: ClassVar[int] = 9
    """乡镇/街道: the first 9 digits of a statistical division code (county: 6)."""
    SEQ_DIGITS: ClassVar[int] = 3
    UNDIVIDED: ClassVar[int] = 0
    BASE_RANGE: ClassVar[range] = range(1, 800)
    EXCLUSIVE_RANGE: ClassVar[range] = range(800, 1000)

    def __post_init__(self) -> None:
        if not (isinstance(self.village, str) and _VILLAGE.fullmatch(self.village)):
            msg = f"a grid code's village part must be 12 ASCII digits, got {self.village!r}."
            raise CodeError(msg)
        if not 0 <= self.seq <= 999:
            msg = f"a grid code's sequence must be 000-999, got {self.seq}."
            raise CodeError(msg)

    @staticmethod
    def is_code(text: object) -> bool:
        """Whether `text` is a 15-digit grid code (ASCII digits only)."""
        return isinstance(text, str) and _CODE.fullmatch(text) is not None

    @classmethod
    def parse(cls, text: object) -> GridCode:
        """Read a grid code; a :class:`~geodata.errors.CodeError` naming the text when it is not 15 ASCII digits."""
        if not cls.is_code(text):
            msg = (
                f"{text!r} is not a grid code: expected 15 digits (12-digit village/community code + 3-digit sequence)."
            )
            raise CodeError(msg)
        s = str(text)
        return cls(s[: cls.VILLAGE_DIGITS], int(s[cls.VILLAGE_DIGITS :]))

    def __str__(self) -> str:
        return f"{self.village}{self.seq:03d}"

    @property
    def kind(self) -> CodeKind:
        """Undivided (``000``), base (``001``-``799``) or exclusive (``800``-``999``)."""
        return self.kind_of(self.seq)

    @classmethod
    def kind_of(cls, seq: int) -> CodeKind:
        """Return the kind of a sequence number."""
        if seq == cls.UNDIVIDED:
            return CodeKind.UNDIVIDED
        return CodeKind.EXCLUSIVE if seq in cls.EXCLUSIVE_RANGE else CodeKind.BASE

    @classmethod
    def range_of(cls, *, exclusive: bool) -> range:
        """Return the sequence numbers of base or exclusive grids."""
        return cls.EXCLUSIVE_RANGE if exclusive else cls.BASE_RANGE

    @classmethod
    def undivided(cls, village: str) -> GridCode:
        """Return the code of a village/community that is one grid (sequence ``000``)."""
        return cls(village, cls.UNDIVIDED)

    @classmethod
    def next_free(cls, village: str, issued: Iterable[int], *, exclusive: bool) -> GridCode:
        """Return the code after the highest number ever issued in the range (gaps are never refilled).

        Raises :class:`geodata.errors.CodeSpaceError` when the range is used up.
        """
        r = cls.range_of(exclusive=exclusive)
        nxt = max([s for s in issued if s in r], default=r.start - 1) + 1
        if nxt not in r:
            msg = (
                f"village {village} has run out of {'exclusive' if exclusive else 'base'} grid numbers "
                f"({r.start:03d}-{r.stop - 1:03d})."
            )
            raise CodeSpaceError(msg)
        return cls(village, nxt)

    # vectorised forms over a column of codes

    @staticmethod
    def valid(codes: pd.Series) -> pd.Series:
        """Whether each element of `codes` is a 15-digit grid code."""
        return codes.astype(str).str.fullmatch(_CODE.pattern).astype(bool)

    @classmethod
    def villages(cls, codes: pd.Series) -> pd.Series:
        """Return the village/community code of each grid code (missing where it is not a code)."""
        s = codes.astype(str)
        return s.str[: cls.VILLAGE_DIGITS].where(cls.valid(s))

    @classmethod
    def townships(cls, codes: pd.Series) -> pd.Series:
        """Return the township/street (乡镇/街道) code of each village or grid code: its first 9 digits.

        >>> GridCode.townships(pd.Series(["310115005001", "310115005001002"])).tolist()
        ['310115005', '310115005']
        """
        return codes.astype(str).str[: cls.TOWNSHIP_DIGITS]

    @classmethod
    def seqs(cls, codes: pd.Series) -> pd.Series:
        """Return the sequence number of each grid code (-1 where it is not a code)."""
        s = codes.astype(str)
        ok = cls.valid(s)
        return s.str[cls.VILLAGE_DIGITS :].where(ok, "-1").astype(int)
