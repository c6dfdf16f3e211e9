"""The algorithms, pure functions without I/O: units, tessellation, adjacency, rules, splitting, coding.

One module per idea, each importable on its own; the names most callers need are here too.

>>> from partition import RuleSet
>>> RuleSet().rule_for(code="310115101001", urban_rural="111").name
'household_band'
"""

from partition import (
    adjacency,
    audit,
    coding,
    grids,
    incremental,
    liaison,
    measures,
    reasons,
    rules,
    split,
    tessellation,
    units,
    values,
)
from partition.adjacency import CellGraph, cell_graph
from partition.audit import audit_grids, diff_layers, worker_loads
from partition.coding import assign_codes, check_codes, reading_order
from partition.grids import Village, VillageGrids, partition_village
from partition.incremental import partition_incremental, valid_previous
from partition.liaison import liaison_groups
from partition.reasons import Reason, ReasonKind, UnitKind, UnitRef
from partition.rules import Rule, RuleSet
from partition.split import choose_k, split_graph
from partition.tessellation import cells_from_points, cells_from_polygons
from partition.units import units_from_points
from partition.values import DEFAULT_BAND, Band, Flag, GridCode, Status

__all__ = [
    "DEFAULT_BAND",
    "Band",
    "CellGraph",
    "Flag",
    "GridCode",
    "Reason",
    "ReasonKind",
    "Rule",
    "RuleSet",
    "Status",
    "UnitKind",
    "UnitRef",
    "Village",
    "VillageGrids",
    "adjacency",
    "assign_codes",
    "audit",
    "audit_grids",
    "cell_graph",
    "cells_from_points",
    "cells_from_polygons",
    "check_codes",
    "coding",
    "diff_layers",
    "choose_k",
    "grids",
    "incremental",
    "liaison",
    "liaison_groups",
    "measures",
    "partition_incremental",
    "partition_village",
    "reading_order",
    "reasons",
    "rules",
    "split",
    "split_graph",
    "tessellation",
    "units",
    "units_from_points",
    "values",
    "valid_previous",
    "worker_loads",
]
