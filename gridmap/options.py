"""The options of a run, in one validated object shared by make_grids, grid_province, the editor and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from geodata.errors import OptionError
from geodata.schema import INPUT_FIELDS
from partition.rules import Rule, RuleSet
from partition.values import MAX_BAND

LAYER_ROLES = ("addresses", "boundaries", "units", "exclusive", "barriers", "previous", "grids", "streets")
"""Input layers whose CRS can be set whatever their file says (``layer_crs``)."""


@dataclass(frozen=True, kw_only=True)
class Options:
    """How a run reads, grids, codes and writes: checked once, when it is made.

    Parameters
    ----------
    rules
        Which rule governs which village/community (default: urban grids within
        :data:`partition.values.DEFAULT_BAND` households, rural one grid per 村民小组; see
        :func:`gridmap.read_rules`), with each rule's measure ``limits`` and ``balance`` weights
        (``rules.with_measures(limits=[Limit("minors", max=300)])``).
    fields
        Remapped input columns: canonical name → your column (keys in :data:`gridmap.INPUT_FIELDS`,
        e.g. ``{"households": "户数", "group": "村民小组"}``).
    liaison
        ``(min, max)`` households of the liaison groups (联户) to make inside every grid.
    dedupe
        Drop address rows that repeat an earlier row exactly (they are always reported).
    strict
        Refuse addresses outside every boundary or inside a hole of one (by default they are kept
        in the ``violations`` layer and reported).
    keep_valid
        With previous grids: keep those that still follow the rules; regrid only the rest.
    keep_tolerance
        Largest change of a kept grid's households, as a share of its previous count (0–1).
    input_crs
        CRS of the files that declare none (CSV, Excel, Shapefile without ``.prj``): an EPSG/PROJ
        string, or ``gcj02``/``bd09``.
    layer_crs
        CRS of one input whatever its file declares, by role (``{"addresses": "gcj02"}``; roles in
        :data:`LAYER_ROLES`).
    x_col, y_col, encoding, sheet
        Coordinate columns, text encoding and workbook sheet of a table of addresses (found
        automatically when not given).
    output_crs, work_crs
        CRS of the outputs (``gcj02``/``bd09`` allowed) [the boundaries'] and metric CRS of the
        geometry work [the UTM zone of the boundaries].
    workers, scheduler
        Processes for the per-village work, or a Dask scheduler (``"local"`` or an address).
    resume_dir
        Folder where every finished village is kept; a rerun with the same inputs reuses them.
    name
        Run name shown in the map and report titles.

    Raises
    ------
    OptionError
        When a value cannot be used; the message names the option and the fix.

    Examples
    --------
    >>> Options(liaison=(10, 15)).liaison
    (10, 15)
    >>> Options(liaison=(15, 10))
    Traceback (most recent call last):
    ...
    geodata.errors.OptionError: `liaison` needs 0 < MIN <= MAX <= 1,000,000 whole numbers, got (15, 10).
    """

    rules: RuleSet = field(default_factory=RuleSet)
    fields: Mapping[str, str] = field(default_factory=dict)
    liaison: tuple[int, int] | None = None
    dedupe: bool = False
    strict: bool = False
    keep_valid: bool = False
    keep_tolerance: float = 0.1
    input_crs: str | None = None
    layer_crs: Mapping[str, str] = field(default_factory=dict)
    x_col: str | None = None
    y_col: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    output_crs: str | None = None
    work_crs: str | None = None
    workers: int = 1
    scheduler: str | None = None
    resume_dir: Path | None = None
    name: str = "run"

    def __post_init__(self) -> None:
        if not isinstance(self.rules, RuleSet):
            raise OptionError(f"`rules` must be a RuleSet (see gridmap.read_rules), got {type(self.rules).__name__}.")
        unknown = sorted(set(self.fields) - set(INPUT_FIELDS))
        if unknown:
            raise OptionError(
                f"`fields` has unknown field(s) {', '.join(map(repr, unknown))}; "
                f"remappable fields: {', '.join(INPUT_FIELDS)}."
            )
        bad = {k: v for k, v in self.fields.items() if not isinstance(v, str) or not v}
        if bad:
            raise OptionError(f"`fields` maps {', '.join(map(repr, bad))} to no column name; give the column's name.")
        if self.liaison is not None:
            pair = tuple(self.liaison)
            if not (
                len(pair) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
                and 0 < pair[0] <= pair[1] <= MAX_BAND
            ):
                raise OptionError(
                    f"`liaison` needs 0 < MIN <= MAX <= {MAX_BAND:,} whole numbers, got {self.liaison!r}."
                )
            object.__setattr__(self, "liaison", (int(pair[0]), int(pair[1])))
        for flag in ("dedupe", "strict", "keep_valid"):
            if not isinstance(getattr(self, flag), bool):
                raise OptionError(f"`{flag}` must be True or False, got {getattr(self, flag)!r}.")
        tol = self.keep_tolerance
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 <= tol <= 1:
            raise OptionError(f"`keep_tolerance` must be a share from 0 to 1, got {tol!r}.")
        roles = sorted(set(self.layer_crs) - set(LAYER_ROLES))
        if roles:
            raise OptionError(
                f"`layer_crs` has unknown layer(s) {', '.join(map(repr, roles))}; layers: {', '.join(LAYER_ROLES)}."
            )
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise OptionError(f"`workers` must be a whole number of at least 1, got {self.workers!r}.")
        if self.resume_dir is not None:
            object.__setattr__(self, "resume_dir", Path(self.resume_dir))
        object.__setattr__(self, "fields", dict(self.fields))
        object.__setattr__(self, "layer_crs", dict(self.layer_crs))

    def replace(self, **changes: Any) -> Options:
        """Return a copy with `changes` applied (checked again)."""
        return replace(self, **changes)

    def crs_of(self, role: str) -> str | None:
        """Return the CRS that overrides what the `role` layer's file declares, if one was given."""
        return self.layer_crs.get(role)

    def record(self) -> dict[str, Any]:
        """Return the options that decide the grids, as plain data for the manifest and fingerprints."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _DECIDING}
        rules = self.rules
        out["rules"] = {
            "urban": _rule_record(rules.urban),
            "rural": _rule_record(rules.rural),
            "unknown": _rule_record(rules.unknown),
            "overrides": {k: _rule_record(v) for k, v in rules.overrides.items()},
        }
        out["liaison"] = list(self.liaison) if self.liaison else None
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Options:
        """Return the options a run recorded (:meth:`record`, or a run's manifest, which keeps it as ``options``).

        Examples
        --------
        >>> o = Options(liaison=(10, 15), dedupe=True)
        >>> Options.from_record(o.record()) == o
        True
        """

        def rule(data: Mapping[str, Any]) -> Rule:
            return Rule(
                **{k: data[k] for k in ("name", "min_households", "max_households") if k in data}
            ).with_measures(limits=data.get("limits", {}), balance=data.get("balance", {}))

        name = record.get("name")
        record = record.get("options", record)
        rules = record.get("rules") or {}
        values: dict[str, Any] = {k: record[k] for k in _DECIDING if k in record and k not in ("rules", "liaison")}
        if name:
            values["name"] = name
        return cls(
            rules=RuleSet(
                urban=rule(rules.get("urban", {})),
                rural=rule(rules.get("rural", {"name": "village_group"})),
                unknown=rule(rules.get("unknown", {})),
                overrides={code: rule(r) for code, r in rules.get("overrides", {}).items()},
            ),
            liaison=tuple(record["liaison"]) if record.get("liaison") else None,
            **values,
        )


def _rule_record(rule: Rule) -> dict[str, Any]:
    """Return a rule as plain data; limits (``{measure: {"max", "min"}}``) and balance weights only when it has them."""
    out: dict[str, Any] = {k: v for k, v in asdict(rule).items() if k not in ("limits", "balance")}
    if rule.limits:
        out["limits"] = {
            lim.measure: {end: getattr(lim, end) for end in ("max", "min") if getattr(lim, end) is not None}
            for lim in rule.limits
        }
    if rule.balance:
        out["balance"] = dict(rule.balance)
    return out


_DECIDING = ("rules", "fields", "liaison", "dedupe", "strict", "keep_valid", "keep_tolerance", "work_crs")
"""The options that change the grids (not where files are or what runs the work)."""
