"""Grid rules: which rule governs each village/community, and checks on grids as small pure functions.

A **rule set** maps every village/community to one :class:`Rule`:

================  ==========================================================================
rule              what it makes
================  ==========================================================================
household_band    contiguous grids of ``min_households..max_households`` (urban, ``DEFAULT_BAND``)
village_group     one grid per 村民小组 (rural)
single            the whole village/community as one grid
================  ==========================================================================

Selection order: an explicit per-code override, then ``urban_rural`` (1xx urban, 2xx rural), then
``kind`` (``community`` urban, ``village`` rural), then ``unknown_rule``.

A rule's work is done by a **labeller** registered under its name with :func:`register_rule`: a
function ``f(cells, rule, *, graph=None) -> (label, verdicts)`` that gives every unit cell of the
base area the number of its grid and returns one :class:`Verdict` (status, reasons, flag) per grid
(``graph``: the cells' :class:`partition.adjacency.CellGraph` when the caller has built it, else the
labeller builds it if it needs one). Adding a rule
means writing one labeller; ``RULE_LABELLERS`` lists them.

A **check** is any function ``f(grids) -> pandas.Series[bool]`` over a grids table, named so that a
failure can be reported by name (as GerryChain's constraints are). Adding a check means writing one
function; :func:`failing_checks` runs a list of them and reports what failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import RulesError
from partition.adjacency import CellGraph, cell_graph, networkx_from_graph
from partition.measures import pieces, within_band
from partition.reasons import Reason, ReasonKind, Reasons
from partition.split import split_graph
from partition.values import DEFAULT_BAND, Band, Flag, GridCode, Limit, Status


class Verdict(NamedTuple):
    """Status, reasons and flag of one grid as its rule made it."""

    status: str = Status.OK
    reasons: Reasons = ()
    flag: str = Flag.NONE


Labeller = Callable[..., tuple[np.ndarray, list[Verdict]]]
"""``f(cells, rule, *, graph=None) -> (label, verdicts)``: the grid number of every cell and one verdict per grid."""

RULE_LABELLERS: dict[str, Labeller] = {}
"""Rule name → labeller (see :func:`register_rule`)."""


def register_rule(name: str) -> Callable[[Labeller], Labeller]:
    """Register a labeller under a rule name, so rules files and options can name it."""

    def wrap(func: Labeller) -> Labeller:
        RULE_LABELLERS[name] = func
        return func

    return wrap


@register_rule("household_band")
def household_band(
    cells: gpd.GeoDataFrame, rule: Rule, *, graph: CellGraph | None = None
) -> tuple[np.ndarray, list[Verdict]]:
    """Contiguous, compact grids of ``min..max`` households (see :func:`partition.split.split_graph`)."""
    previous = cells["previous"].to_numpy() if "previous" in cells else None  # warm start (regeneration)
    graph = cell_graph(cells) if graph is None else graph
    parts = split_graph(
        graph,
        min_households=rule.min_households,
        max_households=rule.max_households,
        previous=previous,
        limits=rule.limits,
        balance=rule.balance,
    )
    label = np.full(len(cells), -1)
    for j, part in enumerate(parts):
        label[list(part.nodes)] = j
    return label, [Verdict(part.status, part.reasons, part.flag) for part in parts]


@register_rule("village_group")
def village_group(
    cells: gpd.GeoDataFrame, rule: Rule, *, graph: CellGraph | None = None
) -> tuple[np.ndarray, list[Verdict]]:
    """One grid per 村民小组; cells without a group join the neighbouring group they share most border with."""
    groups = cells["group"]
    known = groups.notna().to_numpy()
    if not known.any():
        return np.zeros(len(cells), int), [Verdict(reasons=(Reason.of(ReasonKind.NO_GROUP_LABELS),))]
    codes, names = pd.factorize(groups, sort=True)
    label = np.where(known, codes, -1)
    nxg = networkx_from_graph(cell_graph(cells) if graph is None else graph)
    while (label < 0).any():
        changed = False
        for v in np.flatnonzero(label < 0):
            border: dict[int, float] = {}
            for u, d in nxg[v].items():
                if label[u] >= 0:
                    border[label[u]] = border.get(label[u], 0.0) + d["length"]
            if border:
                label[v] = max(sorted(border), key=lambda g: border[g])
                changed = True
        if not changed:  # a cell cut off from every group: the nearest group takes it
            todo = np.flatnonzero(label < 0)
            done = np.flatnonzero(label >= 0)
            c = shapely.centroid(np.asarray(cells.geometry.values))
            label[todo[0]] = label[done[np.argmin(shapely.distance(c[todo[0]], c[done]))]]
    return label, [Verdict(reasons=(Reason.of(ReasonKind.VILLAGE_GROUP, group=str(name)),)) for name in names]


@register_rule("single")
def single(cells: gpd.GeoDataFrame, rule: Rule, *, graph: CellGraph | None = None) -> tuple[np.ndarray, list[Verdict]]:
    """Make the whole village/community one grid."""
    return np.zeros(len(cells), int), [Verdict(reasons=(Reason.of(ReasonKind.SINGLE),))]


RULES = tuple(RULE_LABELLERS)
"""Rule names accepted in a rules file and on the command line."""


def _limits(value: Any, source: str = "rules") -> tuple[Limit, ...]:
    """Limits from a tuple of :class:`Limit` or a mapping ``{measure: max}`` / ``{measure: {min, max}}``."""
    if isinstance(value, Mapping):
        out = []
        for name, spec in value.items():
            if isinstance(spec, Mapping):
                bad = sorted(set(spec) - {"min", "max"})
                if bad:
                    msg = f"{source}: limit `{name}` has unknown key(s) {', '.join(bad)}; allowed: max, min."
                    raise RulesError(msg)
                out.append(Limit(str(name), max=spec.get("max"), min=spec.get("min")))
            else:
                out.append(Limit(str(name), max=spec))
        return tuple(out)
    given = tuple(value)
    if not all(isinstance(lim, Limit) for lim in given):
        msg = f"{source}: `limits` must be Limit values or a table measure = max, got {value!r}."
        raise RulesError(msg)
    names = [lim.measure for lim in given]
    if len(set(names)) != len(names):
        msg = f"{source}: a measure is limited twice in {', '.join(map(str, given))}; give one limit per measure."
        raise RulesError(msg)
    return given


def _balance(value: Any, source: str = "rules") -> tuple[tuple[str, float], ...]:
    """Balance weights from a mapping ``{measure: weight}`` or ``(measure, weight)`` pairs (weights > 0)."""
    pairs = list(value.items()) if isinstance(value, Mapping) else [tuple(p) for p in value]
    out = {}
    for pair in pairs:
        if len(pair) != 2 or not isinstance(pair[0], str) or not pair[0].strip():
            msg = f"{source}: `balance` expects measure = weight pairs, got {pair!r}."
            raise RulesError(msg)
        name, weight = pair
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1e6:
            msg = f"{source}: balance weight of `{name}` must be a number above 0, got {weight!r}."
            raise RulesError(msg)
        out[name.strip()] = float(weight)
    return tuple(out.items())


@dataclass(frozen=True)
class Rule:
    """The rule of one village/community."""

    name: str = "household_band"
    min_households: float = DEFAULT_BAND.min_households
    max_households: float = DEFAULT_BAND.max_households
    limits: tuple[Limit, ...] = ()
    """Per-grid limits on measures, kept where the households allow and flagged with a proof where not."""
    balance: tuple[tuple[str, float], ...] = ()
    """``(measure, weight)``: measures made as even as possible across a village's grids (after the limits)."""

    def __post_init__(self) -> None:
        if self.name not in RULE_LABELLERS:
            msg = f"rule '{self.name}' is unknown; expected one of {', '.join(RULE_LABELLERS)}."
            raise RulesError(msg)
        self.band  # noqa: B018 -- a band with 0 < min <= max, or a RulesError
        object.__setattr__(self, "limits", _limits(self.limits))
        object.__setattr__(self, "balance", _balance(self.balance))
        if "households" in self.measures:
            msg = "households are kept by the band: set min_households/max_households, not a limit or balance weight."
            raise RulesError(msg)

    @property
    def measures(self) -> tuple[str, ...]:
        """Every measure this rule limits or balances, in order of first mention."""
        names = [lim.measure for lim in self.limits] + [name for name, _ in self.balance]
        return tuple(dict.fromkeys(names))

    def with_measures(self, *, limits: Any = None, balance: Any = None) -> Rule:
        """Return this rule with more limits/balance weights; a measure given here replaces the rule's own."""
        new_limits = _limits(limits or ())
        new_balance = _balance(balance or ())
        given = {lim.measure for lim in new_limits}
        weights = dict(self.balance) | dict(new_balance)
        return replace(
            self,
            limits=(*(lim for lim in self.limits if lim.measure not in given), *new_limits),
            balance=tuple(weights.items()),
        )

    @property
    def band(self) -> Band:
        """The household band of this rule."""
        return Band(self.min_households, self.max_households)


@dataclass(frozen=True)
class RuleSet:
    """Which :class:`Rule` applies to which village/community (see the module docstring)."""

    urban: Rule = Rule("household_band")
    rural: Rule = Rule("village_group")
    unknown: Rule = Rule("household_band")
    overrides: Mapping[str, Rule] = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        min_households: int | None = None,
        max_households: int | None = None,
        source: str = "rules",
    ) -> RuleSet:
        """Build a rule set from parsed TOML; command-line band options win over the file.

        Accepted keys: ``min_households``, ``max_households``, ``urban_rule``, ``rural_rule``,
        ``unknown_rule``, ``limits`` and ``balance`` (measures of every rule: ``limits = {minors = 300,
        population = {min = 500, max = 1500}}``, ``balance = {population = 1}``), a ``[urban]``,
        ``[rural]`` or ``[unknown]`` table with ``limits``/``balance`` of that rule alone, and a
        ``[codes."<12-digit code>"]`` table per override (keys ``rule``, ``min_households``,
        ``max_households``, ``limits``, ``balance``). Unknown keys are errors, so typos do not pass
        silently.
        """
        kinds = ("urban", "rural", "unknown")
        allowed = {"min_households", "max_households", "urban_rule", "rural_rule", "unknown_rule", "codes"}
        allowed |= {"limits", "balance", *kinds}
        unknown = sorted(set(data) - allowed)
        if unknown:
            msg = f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}."
            raise RulesError(msg)
        mn = _whole(
            min_households if min_households is not None else data.get("min_households", DEFAULT_BAND.min_households),
            "min_households",
            source,
        )
        mx = _whole(
            max_households if max_households is not None else data.get("max_households", DEFAULT_BAND.max_households),
            "max_households",
            source,
        )
        every = (_limits(data.get("limits", {}), source), _balance(data.get("balance", {}), source))

        def measures(spec: Mapping[str, Any], where: str) -> tuple[tuple[Limit, ...], tuple[tuple[str, float], ...]]:
            if not isinstance(spec, Mapping):
                msg = f"{source}: `{where}` must be a table."
                raise RulesError(msg)
            return _limits(spec.get("limits", {}), f"{source}: {where}"), _balance(
                spec.get("balance", {}), f"{source}: {where}"
            )

        def make(name: str, extra: Mapping[str, Any] | None = None, where: str = "") -> Rule:
            extra = extra or {}
            own = measures(extra, where) if where else ((), ())
            return (
                Rule(
                    name,
                    _whole(extra.get("min_households", mn), "min_households", source),
                    _whole(extra.get("max_households", mx), "max_households", source),
                )
                .with_measures(limits=every[0], balance=every[1])
                .with_measures(limits=own[0], balance=own[1])
            )

        for kind in kinds:
            bad = sorted(set(data.get(kind, {})) - {"limits", "balance"}) if isinstance(data.get(kind), Mapping) else []
            if bad:
                msg = f"{source}: {kind} has unknown key(s) {', '.join(bad)}; allowed: balance, limits."
                raise RulesError(msg)
        overrides = {}
        for code, spec in dict(data.get("codes", {})).items():
            if not isinstance(spec, Mapping):
                msg = f"{source}: codes.{code} must be a table with a 'rule' key."
                raise RulesError(msg)
            bad = sorted(set(spec) - {"rule", "min_households", "max_households", "limits", "balance"})
            if bad:
                msg = f"{source}: codes.{code} has unknown key(s) {', '.join(bad)}."
                raise RulesError(msg)
            overrides[str(code)] = make(str(spec.get("rule", "household_band")), spec, f"codes.{code}")
        return cls(
            urban=make(str(data.get("urban_rule", "household_band")), data.get("urban", {}), "urban"),
            rural=make(str(data.get("rural_rule", "village_group")), data.get("rural", {}), "rural"),
            unknown=make(str(data.get("unknown_rule", "household_band")), data.get("unknown", {}), "unknown"),
            overrides=overrides,
        )

    def rules(self) -> tuple[Rule, ...]:
        """Every rule of the set (overrides included)."""
        return (self.urban, self.rural, self.unknown, *self.overrides.values())

    def with_measures(self, *, limits: Any = (), balance: Any = ()) -> RuleSet:
        """Return a copy whose rules (overrides included) also carry `limits` and `balance` (these win)."""

        def m(rule: Rule) -> Rule:
            return rule.with_measures(limits=limits, balance=balance)

        return RuleSet(m(self.urban), m(self.rural), m(self.unknown), {k: m(v) for k, v in self.overrides.items()})

    def with_band(self, min_households: int, max_households: int) -> RuleSet:
        """Return a copy whose rules (overrides included) use another household band."""

        def b(rule: Rule) -> Rule:
            return replace(rule, min_households=min_households, max_households=max_households)

        return RuleSet(b(self.urban), b(self.rural), b(self.unknown), {k: b(v) for k, v in self.overrides.items()})

    def rule_for(self, *, code: str, urban_rural: str | None = None, kind: str | None = None) -> Rule:
        """Return the rule of one village/community."""
        if code in self.overrides:
            return self.overrides[code]
        if urban_rural:
            return self.urban if str(urban_rural).startswith("1") else self.rural
        if kind == "community":
            return self.urban
        if kind == "village":
            return self.rural
        return self.unknown


def _whole(value: Any, key: str, source: str) -> int:
    """`value` as an int, or a :class:`RulesError` naming `key` (``True``, ``2.5`` and ``"x"`` are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        msg = f"{source}: `{key}` got {value!r}, expected a whole number."
        raise RulesError(msg)
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        msg = f"{source}: `{key}` got {value!r}, expected a whole number."
        raise RulesError(msg)
    return int(number)


Check = Callable[[pd.DataFrame], pd.Series]


def in_band(grids: pd.DataFrame) -> pd.Series:
    """Household-band grids hold ``min..max`` households (other rules always pass)."""
    return grids["rule"].ne("household_band") | within_band(grids)


def contiguous(grids: pd.DataFrame) -> pd.Series:
    """Check that a grid is one polygon (``enclave`` grids are flagged, so they are allowed)."""
    return pd.Series(pieces(np.asarray(grids.geometry.values)) == 1, index=grids.index) | grids["status"].eq(
        Status.ENCLAVE
    )


def code_prefix(grids: pd.DataFrame) -> pd.Series:
    """Check that the first 12 digits of ``grid_code`` are the owning village/community's code."""
    return GridCode.villages(grids["grid_code"]).eq(grids["village_code"])


def flagged_if_out_of_band(grids: pd.DataFrame) -> pd.Series:
    """Every grid outside its band carries a status other than ``ok`` and a reason."""
    why = grids["reason"] if "reason" in grids else grids["note"]
    return in_band(grids) | (grids["status"].ne(Status.OK) & why.fillna("").astype(str).str.len().gt(0))


DEFAULT_CHECKS: tuple[Check, ...] = (contiguous, code_prefix, flagged_if_out_of_band)


def failing_checks(grids: pd.DataFrame, checks: tuple[Check, ...] = DEFAULT_CHECKS) -> dict[str, pd.Index]:
    """Run `checks` on `grids`; return ``{check name: index of failing grids}`` for failures only."""
    out = {}
    for check in checks:
        ok = check(grids)
        if not bool(ok.all()):
            out[check.__name__] = grids.index[~ok.to_numpy()]
    return out
