"""The columns of every table gridmap reads and writes, named once: inputs, grids, addresses, rosters, codes."""

from __future__ import annotations

INPUT_FIELDS: dict[str, str] = {
    "households": "Households per address point [default: 1 per point].",
    "population": "Population per address point (optional).",
    "group": "村民小组 (village group) of each household, for rural villages.",
    "building": "Building id: points with the same id stay in one grid.",
    "compound": "Compound (小区) id: kept whole when it fits in the band.",
    "village_code": "12-digit code of each point's village (else found by location).",
    "code": "12-digit code (统计用区划代码) of each boundary.",
    "name": "Name of each boundary.",
    "urban_rural": "3-digit 城乡分类代码 of each boundary (1xx urban, 2xx rural).",
    "kind": "'community' or 'village' of each boundary.",
    "grid_code": "Grid code column of a previous/existing grid layer.",
    "type": "Type of each exclusive area (school, hospital, ...).",
}
"""Canonical input field → what it holds. Each can be remapped (``Options.fields``, CLI ``--<field>-col``)."""

VILLAGE_GRID_COLUMNS = (
    "village_code",
    "grid_type",
    "rule",
    "min_households",
    "max_households",
    "households",
    "population",
    "units",
    "status",
    "flag",
    "reason",
)
"""Columns of the grids the splitter makes for one village/community (before codes and measures)."""

GRID_COLUMNS = (
    "grid_code",
    "village_code",
    "village_name",
    "seq",
    "grid_type",
    "rule",
    "households",
    "population",
    "units",
    "area_m2",
    "compactness",
    "status",
    "flag",
    "note",
    "note_en",
    "reason",
    "min_households",
    "max_households",
    "kept",
)
"""Columns of a run's grids table, in order (geometry last); also the columns published to a database."""

WALK_COLUMNS = ("walk_m", "walk_unreached")
"""Grid columns added when streets are given (:func:`gridmap.walk_grids`): metres from the service point
to the farthest household along the streets, and households on streets not connected to it."""

WALK_LAYER_COLUMNS = ("grid_code", "walk_m", "service_address", "farthest_address")
"""Columns of a run's ``walks`` layer (one LineString per grid: service point → farthest household)."""

WORKER_COLUMNS = ("worker", "township", "capacity", "grids", "load", "load_per_capacity", "pieces")
"""Columns of a run's ``workers`` layer and ``workers.csv`` (then one column per measure), geometry last."""

VILLAGE_CELL_COLUMNS = ("grid", "households", "population", "n_units", "unit_id", "label", "group", "compound", "block")
"""Columns of the cells of one village/community as the engine hands them on (``grid``: row of its grids
table; geometry as shapely objects besides)."""

CELL_COLUMNS = (
    "cell_id",
    "grid_code",
    "village_code",
    "households",
    "population",
    "units",
    "unit_id",
    "label",
    "group",
    "compound",
    "block",
)
"""Columns of a run's ``cells`` layer, in order (geometry last): the partition its grids are made of."""

ROSTER_COLUMNS = (
    "address_id",
    "grid_code",
    "village_code",
    "village_name",
    "grid_type",
    "households",
    "population",
    "group",
    "building",
    "compound",
    "liaison_code",
)
"""Columns of the household roster (``roster.csv``, exports), in order."""

PUBLISHED_ADDRESS_COLUMNS = (
    "grid_code",
    "village_code",
    "village_name",
    "grid_type",
    "households",
    "population",
    "liaison_code",
)
"""Address columns published to a database as columns of their own (the rest go into one JSON column)."""

CODE_COLUMNS = ("grid_code", "village_code", "seq", "liaison_code")
"""Columns of digit codes: always text (leading zeros kept; XLSX text cells, CSV cells no spreadsheet turns into
numbers)."""

INTEGER_COLUMNS = ("households", "population", "units", "min_households", "max_households", "address_id")
"""Counts written as whole numbers."""
