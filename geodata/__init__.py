"""Input and output: reading, checking and reprojecting layers; China coordinate systems; the sample.

One module per idea (``io``, ``crs``, ``validate``, ``postgis``, ``windows``, ``schema``, ``errors``),
each importable on its own; the names most callers need are here too.

>>> from geodata import wgs84_to_gcj02
>>> x, y = wgs84_to_gcj02(121.47, 31.23)
>>> round(float(x) - 121.47, 3), round(float(y) - 31.23, 3)
(0.005, -0.002)
"""

from geodata import crs, errors, io, postgis, schema, validate, windows
from geodata.crs import (
    assign_input_crs,
    bd09_to_wgs84,
    china_to_wgs84,
    gcj02_to_wgs84,
    metric_crs,
    to_output_crs,
    wgs84_to_bd09,
    wgs84_to_china,
    wgs84_to_gcj02,
)
from geodata.errors import (
    CRSError,
    DependencyError,
    GridmapError,
    InputError,
    OptionError,
    OutputExistsError,
    Problem,
    RulesError,
)
from geodata.io import atomic_dir, check_output, read_layer, read_tabular, write_csv, write_layers
from geodata.postgis import DbSource, is_db_url, mask_url
from geodata.schema import GRID_COLUMNS, INPUT_FIELDS
from geodata.validate import assign_villages, validate_addresses, validate_boundaries
from geodata.windows import PointFile

__all__ = [
    "GRID_COLUMNS",
    "INPUT_FIELDS",
    "CRSError",
    "DbSource",
    "DependencyError",
    "GridmapError",
    "InputError",
    "OptionError",
    "OutputExistsError",
    "PointFile",
    "Problem",
    "RulesError",
    "assign_input_crs",
    "assign_villages",
    "atomic_dir",
    "bd09_to_wgs84",
    "check_output",
    "china_to_wgs84",
    "crs",
    "errors",
    "gcj02_to_wgs84",
    "io",
    "is_db_url",
    "mask_url",
    "metric_crs",
    "postgis",
    "read_layer",
    "read_tabular",
    "schema",
    "to_output_crs",
    "validate",
    "validate_addresses",
    "validate_boundaries",
    "wgs84_to_bd09",
    "wgs84_to_china",
    "wgs84_to_gcj02",
    "windows",
    "write_csv",
    "write_layers",
]
