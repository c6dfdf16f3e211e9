"""Reasons as data: why a grid is flagged or what its note says, as a kind and its values (no sentences).

Every engine step that explains a grid (the splitter, the rules, exclusive areas, ``--keep-valid``,
audit, the editor) gives one or more :class:`Reason` values; the grids table carries them in its
``reason`` column as JSON text (:func:`encode` / :func:`decode`), so a saved run keeps them. Words
are chosen only at the output edge, by the message catalog :mod:`gridmap.catalog`, in Chinese and
English. Values are numbers, ids, codes and user names, never prose.

A unit named in a reason (a building, a compound, a feature of the ``--units`` layer, ...) is a
:class:`UnitRef`: its kind and its id, so the catalog can name it in either language.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import pandas as pd

from geodata.errors import OptionError


class ReasonKind(StrEnum):
    """What a reason says (its values: :data:`VALUES`)."""

    UNIT_OVER_MAX = "unit_over_max"
    """One indivisible unit alone is above the maximum: it is its own grid."""
    AREA_FITS_NO_COUNT = "area_fits_no_count"
    """A connected area's households fit no number of grids within the band."""
    POCKET = "pocket"
    """A pocket reaches the rest only through one unit: too small alone, too big with it."""
    UNIT_FITS_NOWHERE = "unit_fits_nowhere"
    """A unit can join no neighbouring area without passing the maximum."""
    UNBALANCED = "unbalanced"
    """Balancing did not reach the band (``unit``: the largest indivisible unit)."""
    UNIT_OVER_LIMIT = "unit_over_limit"
    """One indivisible unit alone holds more of a measure than its limit per grid."""
    AREA_OVER_LIMIT = "area_over_limit"
    """The area's measure over the most grids the band allows is above the limit: some grid must exceed it."""
    AREA_UNDER_LIMIT = "area_under_limit"
    """The area's measure over the fewest grids the band allows is below the minimum: some grid must fall short."""
    LIMIT_FORCED = "limit_forced"
    """Every connected in-band grid that can hold the unit misses the limit (``limit``: ``≤ 300`` or ``≥ 500``)."""
    WALK_OVER_LIMIT = "walk_over_limit"
    """The walk from a grid's service point to its farthest household misses its ``walk_m`` limit (measured after)."""
    LIMIT_UNMET = "limit_unmet"
    """The grid misses a limit and no split within the band meeting it was found (not proven impossible)."""
    SUGGEST_MOVE = "suggest_move"
    """Suggested fix (report): move these cells to these neighbouring grids to meet a limit."""
    SUGGEST_SPLIT = "suggest_split"
    """Suggested fix (report): no move meets the limit; the grid has households for two grids, split it."""
    NO_FIX_FOUND = "no_fix_found"
    """Suggested fix (report): no move within the band meets the limit, and the grid is too small to split."""
    CUT_APART = "cut_apart"
    """The grid is in pieces: water, an exclusive area or the boundary cut its area."""
    PIECES = "pieces"
    """The grid is in several separate pieces."""
    NO_HOUSEHOLDS = "no_households"
    """No households in the area: one grid until people live there."""
    BASE_UNDER_MIN = "base_under_min"
    """The community's whole base area holds fewer households than the minimum."""
    EXCLUSIVE = "exclusive"
    """An exclusive area (专属网格), by its name."""
    VILLAGE_GROUP = "village_group"
    """The grid of one 村民小组."""
    NO_GROUP_LABELS = "no_group_labels"
    """No household carries a 村民小组: the village is one grid."""
    BLANK_GROUP = "blank_group"
    """The grid took addresses with a blank 村民小组 (up to 20 ids listed; ``more``: there are more)."""
    SINGLE = "single"
    """The whole village/community is one grid by its rule."""
    KEPT = "kept"
    """Kept unchanged from the previous run (``--keep-valid``)."""
    OUT_OF_BAND = "out_of_band"
    """Households outside the band (audit)."""
    BELOW_MIN = "below_min"
    """Households below the minimum (editor)."""
    ABOVE_MAX = "above_max"
    """Households above the maximum (editor)."""
    EDITED = "edited"
    """The grid was changed by hand in the editor."""
    MANY_GROUPS = "many_groups"
    """A village-group grid holds several 村民小组 (the rule is one per grid; editor)."""
    COMPOUND_SPLIT = "compound_split"
    """Editor problem: a compound (小区) small enough for one grid is split between grids."""
    BARRIER_CROSSING = "barrier_crossing"
    """Editor problem: a grid's households lie in several blocks between roads/rivers."""
    EXCLUSIVE_MIXED = "exclusive_mixed"
    """Editor problem: an exclusive area shares its grid with other units."""
    EMPTY_GRID = "empty_grid"
    """Editor problem: a base grid holds no households."""
    WOULD_REMOVE = "would_remove"
    """Editor warning: the edit takes every unit from a grid, which disappears."""
    WOULD_BREAK = "would_break"
    """Editor warning: the edit leaves a grid in pieces."""
    NOT_TOUCHING = "not_touching"
    """Editor warning: the units do not touch the grid they join."""
    WOULD_SPLIT_COMPOUND = "would_split_compound"
    """Editor warning: the edit splits a compound kept whole so far."""
    WOULD_CHANGE_EXCLUSIVE = "would_change_exclusive"
    """Editor warning: an exclusive area would no longer be its own grid."""
    GRID_LOCKED = "grid_locked"
    """Editor refusal: the grid is locked."""
    NOT_CONNECTED = "not_connected"
    """Editor refusal: the grids to merge do not form one connected area."""
    OTHER_VILLAGE = "other_village"
    """Editor refusal: units and grids of different villages/communities."""
    EXCLUSIVE_FIXED = "exclusive_fixed"
    """Editor refusal: an exclusive grid is not merged or split."""
    SPLIT_COUNT = "split_count"
    """Editor refusal: the band allows no split into that many grids (``allowed``: the counts it allows)."""
    SPLIT_NONE = "split_none"
    """Editor refusal: the band allows no split of this grid at all."""
    MERGE_FEW = "merge_few"
    """Editor refusal: merging needs at least two grids."""
    NOTHING_TO_UNDO = "nothing_to_undo"
    """Editor refusal: nothing to undo."""
    NOTHING_TO_REDO = "nothing_to_redo"
    """Editor refusal: nothing to redo."""
    ALREADY_THERE = "already_there"
    """Editor refusal: every unit is already in that grid."""
    NO_SUCH_GRID = "no_such_grid"
    """Editor refusal: no grid with that code in the session."""
    NO_SUCH_UNIT = "no_such_unit"
    """Editor refusal: no unit with that number."""
    NO_SUCH_VILLAGE = "no_such_village"
    """Editor refusal: no village/community with that code."""
    NO_REGENERATE = "no_regenerate"
    """Editor refusal: no unlocked household-band grid to make again."""
    SAVE_EXISTS = "save_exists"
    """Editor refusal: the save folder exists (``own``: the editor's own earlier save, which may be replaced)."""
    SAVE_OVER_RUN = "save_over_run"
    """Editor refusal: saving over the run being edited."""
    SAVE_NOT_OURS = "save_not_ours"
    """Editor refusal: the save folder holds files gridmap did not make."""
    SAVE_PATH_BAD = "save_path_bad"
    """Editor refusal: the save path is empty, holds a NUL character or a name too long for a file system."""
    SAVE_FAILED = "save_failed"
    """Editor refusal: the folder cannot be written (``detail``: the system's reason)."""
    SAVED = "saved"
    """Editor message: the edited run was saved."""
    TOKEN_WRONG = "token_wrong"
    """Editor refusal: the request lacks the session's token."""
    TOKEN_WAIT = "token_wait"
    """Editor refusal: too many wrong tokens from one address (``seconds`` to wait)."""
    HOST_REFUSED = "host_refused"
    """Editor refusal: the page was reached under another host name than the printed URL's."""
    INTERNAL = "internal"
    """Editor: an internal error (a bug); the server's log has the details."""
    JOURNAL_FOUND = "journal_found"
    """Editor offer: unsaved edits from an earlier session are in the edit log (``edits``, ``path``)."""
    JOURNAL_OTHER_RUN = "journal_other_run"
    """Editor refusal: the edit log was made for another version of the run; it can only be discarded."""
    REQUEST_FIELD_UNKNOWN = "request_field_unknown"
    """Editor refusal: a request carries a field the operation does not take (``name``, ``expected``)."""
    REQUEST_FIELD_TYPE = "request_field_type"
    """Editor refusal: a request field has the wrong type (``name``; ``type``: a catalog.REQUEST_TYPES key)."""
    REQUEST_FIELD_MISSING = "request_field_missing"
    """Editor refusal: a required request field is missing (``name``)."""
    REQUEST_NOT_JSON = "request_not_json"
    """Editor refusal: the request body is not a JSON object (or is nested too deeply)."""
    REQUEST_TOO_LARGE = "request_too_large"
    """Editor refusal: the request body is larger than ``bytes``."""
    NO_SUCH_PAGE = "no_such_page"
    """Editor refusal: no page or API at ``path``."""
    METHOD_NOT_ALLOWED = "method_not_allowed"
    """Editor refusal: ``method`` is not allowed on ``path``."""
    NO_SUCH_OP = "no_such_op"
    """Editor refusal: ``op`` is not an editing operation (``expected``: the operations)."""
    MOVED = "moved"
    """Editor message: units were moved (``grids``: the codes touched)."""
    MERGED = "merged"
    """Editor message: grids were merged."""
    SPLIT_DONE = "split_done"
    """Editor message: a grid was split."""
    LOCKED = "locked"
    """Editor message: grids were locked."""
    UNLOCKED = "unlocked"
    """Editor message: grids were unlocked."""
    REGENERATED = "regenerated"
    """Editor message: a village's unlocked grids were made again."""
    FIXED = "fixed"
    """Editor message: an out-of-band grid and its neighbours were regridded."""
    FIX_NONE = "fix_none"
    """Editor refusal: the engine proposes no change for this grid (in band, or nothing helps)."""
    UNDONE = "undone"
    """Editor message: the last edit was undone."""
    REDONE = "redone"
    """Editor message: an undone edit was made again."""
    ADDRESS_OUTSIDE_BOUNDARIES = "address_outside_boundaries"
    """An address lies outside every village/community boundary (violations layer)."""
    ADDRESS_IN_HOLE = "address_in_hole"
    """An address lies inside a hole of a boundary (violations layer)."""
    REPAIRED_POLYGON = "repaired_polygon"
    """An invalid polygon was repaired (``detail``: GEOS's validity reason; areas in layer units)."""
    ADDRESS_IN_NO_GRID = "address_in_no_grid"
    """Audit: an address lies in no grid."""
    ADDRESS_IN_TWO_GRIDS = "address_in_two_grids"
    """Audit: an address lies in several grids (``codes``)."""
    GRID_IN_PIECES = "grid_in_pieces"
    """Audit: a grid is in several separate pieces."""
    GRIDS_OVERLAP = "grids_overlap"
    """Audit: two grids overlap (``area`` in m²)."""
    AREA_IN_NO_GRID = "area_in_no_grid"
    """Audit: part of a village/community belongs to no grid (``area`` in m²)."""
    GRID_CROSSES_BOUNDARY = "grid_crosses_boundary"
    """Audit: a grid lies in several villages/communities (``codes``)."""
    GRID_OUT_OF_BAND = "grid_out_of_band"
    """Audit: a grid's households are outside the band."""
    CODE_FORMAT = "code_format"
    """Audit: a grid code is not 15 digits."""
    CODE_REPEATED = "code_repeated"
    """Audit: a grid code is used by more than one grid."""
    CODE_PREFIX = "code_prefix"
    """Audit: a grid code does not start with its village/community's code."""
    CODE_RANGE_BASE = "code_range_base"
    """Audit: a base grid's sequence is outside 001-799 (000 for an undivided village)."""
    CODE_RANGE_EXCLUSIVE = "code_range_exclusive"
    """Audit: an exclusive grid's sequence is outside 800-999."""
    CODE_SINGLE = "code_single"
    """Audit: a code uses 000 (undivided village) but its village has several grids."""
    CODE_RETIRED = "code_retired"
    """Audit: a code recorded as retired is still used by a grid."""
    ADDRESSES_KEPT_OUTSIDE = "addresses_kept_outside"
    """Run warning: addresses outside every boundary, kept without a grid (``addresses``: how many)."""
    ADDRESSES_KEPT_IN_HOLE = "addresses_kept_in_hole"
    """Run warning: addresses inside a hole of a boundary, kept without a grid."""
    ROWS_REPEATED = "rows_repeated"
    """Run warning: address rows repeating an earlier row exactly, counted again."""
    ROWS_DROPPED = "rows_dropped"
    """Run warning: address rows repeating an earlier row exactly, dropped (``dedupe``)."""
    POLYGONS_REPAIRED = "polygons_repaired"
    """Run warning: invalid polygons repaired with make_valid."""
    CODE_GAP = "code_gap"
    """Check of codes, a warning: sequence numbers not in use (up to 10 listed; ``more``: there are more)."""


_UNIT = ("unit_kind", "unit")
VALUES: dict[ReasonKind, tuple[str, ...]] = {
    ReasonKind.UNIT_OVER_MAX: (*_UNIT, "households", "max"),
    ReasonKind.AREA_FITS_NO_COUNT: ("households", "min", "max"),
    ReasonKind.POCKET: (*_UNIT, "households", "unit_households", "min", "max"),
    ReasonKind.UNIT_FITS_NOWHERE: (*_UNIT, "households", "min", "max"),
    ReasonKind.UNBALANCED: (*_UNIT, "households", "unit_households", "min", "max"),
    ReasonKind.UNIT_OVER_LIMIT: (*_UNIT, "measure", "value", "limit"),
    ReasonKind.AREA_OVER_LIMIT: ("measure", "total", "households", "grids", "limit", "min"),
    ReasonKind.AREA_UNDER_LIMIT: ("measure", "total", "households", "grids", "limit", "max"),
    ReasonKind.LIMIT_FORCED: (*_UNIT, "measure", "value", "limit", "min", "max"),
    ReasonKind.LIMIT_UNMET: ("measure", "value", "limit"),
    ReasonKind.WALK_OVER_LIMIT: ("value", "limit"),
    ReasonKind.SUGGEST_MOVE: ("measure", "before", "after", "cells", "grids"),
    ReasonKind.SUGGEST_SPLIT: ("measure", "before"),
    ReasonKind.NO_FIX_FOUND: ("measure", "before"),
    ReasonKind.CUT_APART: (),
    ReasonKind.PIECES: ("pieces",),
    ReasonKind.NO_HOUSEHOLDS: (),
    ReasonKind.BASE_UNDER_MIN: ("households", "min"),
    ReasonKind.EXCLUSIVE: ("name",),
    ReasonKind.VILLAGE_GROUP: ("group",),
    ReasonKind.NO_GROUP_LABELS: (),
    ReasonKind.BLANK_GROUP: ("addresses", "households", "address_ids", "more"),
    ReasonKind.SINGLE: (),
    ReasonKind.KEPT: (),
    ReasonKind.OUT_OF_BAND: ("min", "max"),
    ReasonKind.BELOW_MIN: ("households", "min"),
    ReasonKind.ABOVE_MAX: ("households", "max"),
    ReasonKind.EDITED: (),
    ReasonKind.MANY_GROUPS: ("groups",),
    ReasonKind.COMPOUND_SPLIT: ("compound", "grids"),
    ReasonKind.BARRIER_CROSSING: ("blocks",),
    ReasonKind.EXCLUSIVE_MIXED: (),
    ReasonKind.EMPTY_GRID: (),
    ReasonKind.WOULD_REMOVE: ("grid",),
    ReasonKind.WOULD_BREAK: ("grid",),
    ReasonKind.NOT_TOUCHING: ("grid",),
    ReasonKind.WOULD_SPLIT_COMPOUND: ("compound",),
    ReasonKind.WOULD_CHANGE_EXCLUSIVE: (),
    ReasonKind.GRID_LOCKED: ("grid",),
    ReasonKind.NOT_CONNECTED: ("grids",),
    ReasonKind.OTHER_VILLAGE: (),
    ReasonKind.EXCLUSIVE_FIXED: ("grid",),
    ReasonKind.SPLIT_COUNT: ("grid", "households", "k", "allowed"),
    ReasonKind.SPLIT_NONE: ("grid", "households", "min", "max"),
    ReasonKind.MERGE_FEW: (),
    ReasonKind.NOTHING_TO_UNDO: (),
    ReasonKind.NOTHING_TO_REDO: (),
    ReasonKind.ALREADY_THERE: ("grid",),
    ReasonKind.NO_SUCH_GRID: ("grid",),
    ReasonKind.NO_SUCH_UNIT: ("number",),
    ReasonKind.NO_SUCH_VILLAGE: ("village",),
    ReasonKind.NO_REGENERATE: ("village",),
    ReasonKind.SAVE_EXISTS: ("path", "own"),
    ReasonKind.SAVE_OVER_RUN: ("path",),
    ReasonKind.SAVE_NOT_OURS: ("path",),
    ReasonKind.SAVE_PATH_BAD: (),
    ReasonKind.SAVE_FAILED: ("path", "detail"),
    ReasonKind.SAVED: ("path", "grids", "edits"),
    ReasonKind.TOKEN_WRONG: (),
    ReasonKind.TOKEN_WAIT: ("seconds",),
    ReasonKind.HOST_REFUSED: ("host",),
    ReasonKind.INTERNAL: (),
    ReasonKind.JOURNAL_FOUND: ("path", "edits"),
    ReasonKind.JOURNAL_OTHER_RUN: ("path", "edits"),
    ReasonKind.REQUEST_FIELD_UNKNOWN: ("name", "expected"),
    ReasonKind.REQUEST_FIELD_TYPE: ("name", "type"),
    ReasonKind.REQUEST_FIELD_MISSING: ("name",),
    ReasonKind.REQUEST_NOT_JSON: (),
    ReasonKind.REQUEST_TOO_LARGE: ("bytes",),
    ReasonKind.NO_SUCH_PAGE: ("path",),
    ReasonKind.METHOD_NOT_ALLOWED: ("method", "path"),
    ReasonKind.NO_SUCH_OP: ("op", "expected"),
    ReasonKind.MOVED: ("grids",),
    ReasonKind.MERGED: ("grids",),
    ReasonKind.SPLIT_DONE: ("grids",),
    ReasonKind.LOCKED: ("grids",),
    ReasonKind.UNLOCKED: ("grids",),
    ReasonKind.REGENERATED: ("grids",),
    ReasonKind.FIXED: ("grids",),
    ReasonKind.FIX_NONE: ("grid",),
    ReasonKind.UNDONE: ("grids",),
    ReasonKind.REDONE: ("grids",),
    ReasonKind.ADDRESS_OUTSIDE_BOUNDARIES: (),
    ReasonKind.ADDRESS_IN_HOLE: (),
    ReasonKind.REPAIRED_POLYGON: ("detail", "area_before", "area_after"),
    ReasonKind.ADDRESS_IN_NO_GRID: ("address", "households"),
    ReasonKind.ADDRESS_IN_TWO_GRIDS: ("address", "grids", "codes"),
    ReasonKind.GRID_IN_PIECES: ("grid", "pieces"),
    ReasonKind.GRIDS_OVERLAP: ("grid", "other", "area"),
    ReasonKind.AREA_IN_NO_GRID: ("village_code", "area"),
    ReasonKind.GRID_CROSSES_BOUNDARY: ("grid", "villages", "codes"),
    ReasonKind.GRID_OUT_OF_BAND: ("grid", "households", "min", "max"),
    ReasonKind.CODE_FORMAT: ("code",),
    ReasonKind.CODE_REPEATED: ("code",),
    ReasonKind.CODE_PREFIX: ("code", "village_code"),
    ReasonKind.CODE_RANGE_BASE: ("code",),
    ReasonKind.CODE_RANGE_EXCLUSIVE: ("code",),
    ReasonKind.CODE_SINGLE: ("code", "grids"),
    ReasonKind.CODE_RETIRED: ("code",),
    ReasonKind.ADDRESSES_KEPT_OUTSIDE: ("addresses",),
    ReasonKind.ADDRESSES_KEPT_IN_HOLE: ("addresses",),
    ReasonKind.ROWS_REPEATED: ("rows",),
    ReasonKind.ROWS_DROPPED: ("rows",),
    ReasonKind.POLYGONS_REPAIRED: ("polygons",),
    ReasonKind.CODE_GAP: ("village_code", "missing", "more"),
}
"""Reason kind → the names of the values it carries (``unit_kind``/``unit`` name a :class:`UnitRef`)."""


class UnitKind(StrEnum):
    """What kind of unit a reason names."""

    BUILDING = "building"
    COMPOUND = "compound"
    FEATURE = "feature"
    """A feature of the ``--units`` layer without a building id (``unit`` is its 1-based number)."""
    UNCOVERED = "uncovered"
    """Area the ``--units`` layer does not cover (no id)."""
    POINT = "point"
    """An address point without a building id (``unit`` is its position ``x, y``)."""
    ADDRESS_UNIT = "address_unit"
    """An address unit inside one grid (联户 groups)."""
    NODE = "node"
    """A node of a graph given directly to the splitter (``unit`` is its label)."""


class UnitRef(NamedTuple):
    """A unit named in a reason: its kind and its id (a building id, a compound name, a number)."""

    kind: str
    id: str = ""


def unit_ref(label: object) -> UnitRef:
    """Return `label` as a :class:`UnitRef`.

    Text labels are read as :func:`unit_text` wrote them (``"building 3号楼"``: a unit kind, a space,
    the id); any other text (a graph given directly to the splitter) names a ``node``.
    """
    if isinstance(label, UnitRef):
        return label
    if isinstance(label, tuple) and len(label) == 2:  # noqa: PLR2004
        return UnitRef(str(label[0]), str(label[1]))
    text = str(label)
    kind, _, rest = text.partition(" ")
    if kind in set(UnitKind):
        return UnitRef(kind, rest)
    return UnitRef(UnitKind.NODE, text)


def unit_text(label: object) -> str:
    """Return a unit label as text for a table (``"building 3号楼"``); :func:`unit_ref` reads it back."""
    if isinstance(label, UnitRef):
        return unit_label(label.kind, label.id)
    return "" if label is None else str(label)


def unit_label(kind: str, unit: str) -> str:
    """Return the text naming unit `unit` of `kind` (``"building 3号楼"``), as :func:`unit_text` writes a reference."""
    return unit_labels(kind, (unit,))[0]


def unit_labels(kind: str, units: Iterable[str]) -> list[str]:
    """Return :func:`unit_label` of each of `units`, all of one `kind` (its text made once, not per unit)."""
    prefix = f"{kind} "
    return [(prefix + unit).rstrip() for unit in units]


Value = int | float | str | bool | list[str]


@dataclass(frozen=True)
class Reason:
    """One reason: a kind from :class:`ReasonKind` and its values (numbers, ids, codes, names)."""

    kind: ReasonKind
    values: Mapping[str, Value] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ReasonKind(self.kind))
        if set(self.values) != set(VALUES[self.kind]):
            msg = f"reason {self.kind} takes values {VALUES[self.kind]}, got {tuple(self.values)}."
            raise OptionError(msg, fix="give a reason exactly the values partition.reasons.VALUES lists for its kind.")

    @classmethod
    def of(cls, kind: ReasonKind, *, unit: object = None, **values: Value) -> Reason:
        """Build a reason; ``unit=`` (a :class:`UnitRef` or label) fills ``unit_kind`` and ``unit``."""
        if unit is not None:
            ref = unit_ref(unit)
            values = {"unit_kind": str(ref.kind), "unit": ref.id, **values}
        return cls(kind, {k: _plain(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"kind": ..., **values}``."""
        return {"kind": str(self.kind), **self.values}


def _plain(v: Any) -> Value:
    """Return `v` as a JSON-friendly value (numpy numbers as Python numbers, sequences as lists of text)."""
    if isinstance(v, bool | str):
        return v
    if isinstance(v, int | float):
        return v
    if hasattr(v, "item"):  # numpy scalar
        return v.item()
    if isinstance(v, list | tuple):
        return [str(x) for x in v]
    return str(v)


Reasons = tuple[Reason, ...]
"""The reasons of one grid, in the order they were given."""


def encode(reasons: Iterable[Reason]) -> str | None:
    """JSON text of `reasons` as stored in the ``reason`` column (None for none: a null cell)."""
    items = [r.to_dict() for r in reasons]
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")) if items else None


def decode(data: object) -> Reasons:
    """Reasons from a ``reason`` cell: its JSON text, or the list a JSON reader already parsed (``()`` for null).

    Raises :class:`geodata.errors.OptionError` when the cell is not reasons gridmap wrote.
    """
    if isinstance(data, str) and not data.strip() or not isinstance(data, str | list) and pd.isna(data):
        return ()
    try:
        items: Any = json.loads(data) if isinstance(data, str) else data
        return tuple(Reason(ReasonKind(i["kind"]), {k: v for k, v in i.items() if k != "kind"}) for i in items)
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"a reason cell holds {str(data)[:80]!r}, not the reasons gridmap writes ({exc})."
        raise OptionError(msg, fix="leave the `reason` column as gridmap wrote it, or drop it.") from exc
