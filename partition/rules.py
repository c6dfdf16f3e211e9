"""Grid rules: which rule governs each village/community, and checks on grids as small pure functions.

A **rule set** maps every village/community to one :class:`Rule`:

================  ==========================================================================
rule              what it makes
================  ==========================================================================
household_band    contiguous grids of ``min_households..max_households`` (urban, default 300-500)
village_group     one grid per 村民小组 (rural)
single            the whole village/community as one grid
================  ==========================================================================

Selection order: an explicit per-code override, then ``urban_rural`` (1xx urban, 2xx rural), then
``kind`` (``community`` urban, ``village`` rural), then ``unknown_rule``.

A **check** is any function ``f(grids) -> pandas.Series[bool]`` over a grids table, named so that a
failure can be reported by name (as GerryChain's constraints are). Adding a check means writing one
function; :func:`failing_checks` runs a list of them and reports what failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from geodata.errors import RulesError
from partition.measures import pieces, within_band

RULES = ("household_band", "village_group", "single")
"""Rule names accepted in a rules file and on the command line."""


@dataclass(frozen=True)
class Rule:
    """The rule of one village/community."""

    name: str = "household_band"
    min_households: int = 300
    max_households: int = 500

    def __post_init__(self) -> None:
        if self.name not in RULES:
            msg = f"rule '{self.name}' is unknown; expected one of {', '.join(RULES)}."
            raise RulesError(msg)
        if not 0 < self.min_households <= self.max_households:
            msg = (
                f"the household band must satisfy 0 < min <= max, got min={self.min_households}, "
                f"max={self.max_households}."
            )
            raise RulesError(msg)


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
        ``unknown_rule`` and a ``[codes."<12-digit code>"]`` table per override (keys ``rule``,
        ``min_households``, ``max_households``). Unknown keys are errors, so typos do not pass
        silently.
        """
        allowed = {"min_households", "max_households", "urban_rule", "rural_rule", "unknown_rule", "codes"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            msg = f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}."
            raise RulesError(msg)
        mn = int(min_households or data.get("min_households", 300))
        mx = int(max_households or data.get("max_households", 500))

        def make(name: str, extra: Mapping[str, Any] | None = None) -> Rule:
            extra = extra or {}
            return Rule(
                name,
                int(extra.get("min_households", mn)),
                int(extra.get("max_households", mx)),
            )

        overrides = {}
        for code, spec in dict(data.get("codes", {})).items():
            if not isinstance(spec, Mapping):
                msg = f"{source}: codes.{code} must be a table with a 'rule' key."
                raise RulesError(msg)
            bad = sorted(set(spec) - {"rule", "min_households", "max_households"})
            if bad:
                msg = f"{source}: codes.{code} has unknown key(s) {', '.join(bad)}."
                raise RulesError(msg)
            overrides[str(code)] = make(str(spec.get("rule", "household_band")), spec)
        return cls(
            urban=make(str(data.get("urban_rule", "household_band"))),
            rural=make(str(data.get("rural_rule", "village_group"))),
            unknown=make(str(data.get("unknown_rule", "household_band"))),
            overrides=overrides,
        )

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


Check = Callable[[pd.DataFrame], pd.Series]


def in_band(grids: pd.DataFrame) -> pd.Series:
    """Household-band grids hold ``min..max`` households (other rules always pass)."""
    return grids["rule"].ne("household_band") | within_band(grids)


def contiguous(grids: pd.DataFrame) -> pd.Series:
    """A grid is one polygon (``enclave`` grids are flagged, so they are allowed)."""
    return pd.Series(pieces(grids.geometry.values) == 1, index=grids.index) | grids["status"].eq("enclave")


def code_prefix(grids: pd.DataFrame) -> pd.Series:
    """The first 12 digits of ``grid_code`` are the owning village/community's code."""
    return grids["grid_code"].str[:12].eq(grids["village_code"]) & grids["grid_code"].str.len().eq(15)


def flagged_if_out_of_band(grids: pd.DataFrame) -> pd.Series:
    """Every grid outside its band carries a status other than ``ok`` and a note."""
    return in_band(grids) | (grids["status"].ne("ok") & grids["note"].str.len().gt(0))


DEFAULT_CHECKS: tuple[Check, ...] = (contiguous, code_prefix, flagged_if_out_of_band)


def failing_checks(grids: pd.DataFrame, checks: tuple[Check, ...] = DEFAULT_CHECKS) -> dict[str, pd.Index]:
    """Run `checks` on `grids`; return ``{check name: index of failing grids}`` for failures only."""
    out = {}
    for check in checks:
        ok = check(grids)
        if not bool(ok.all()):
            out[check.__name__] = grids.index[~ok.to_numpy()]
    return out
