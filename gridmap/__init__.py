"""gridmap: divide villages and urban communities into coded management grids (网格划分).

The library works on GeoDataFrames; the ``gridmap`` command line is a thin shell over it.

>>> import gridmap
>>> sorted(gridmap.__all__)[:3]
['GridResult', 'INPUT_FIELDS', 'Inputs']
"""

from __future__ import annotations

from geodata.sample import sample_path
from gridmap.analysis import audit, diff, read_workers, worker_table
from gridmap.config import parse_range, read_rules
from gridmap.fields import INPUT_FIELDS
from gridmap.inputs import Inputs, LayerSpec, read_inputs
from gridmap.make import make_grids
from gridmap.maps import save_map
from gridmap.printmap import write_print
from gridmap.provenance import gridmap_version as _gridmap_version
from gridmap.province import ProvinceResult, grid_province, read_dataset
from gridmap.result import GridResult
from gridmap.runfolder import read_run, write_run

__version__ = _gridmap_version()

__all__ = [
    "INPUT_FIELDS",
    "GridResult",
    "Inputs",
    "LayerSpec",
    "ProvinceResult",
    "audit",
    "diff",
    "grid_province",
    "make_grids",
    "parse_range",
    "read_dataset",
    "read_inputs",
    "read_rules",
    "read_run",
    "read_workers",
    "sample_path",
    "save_map",
    "worker_table",
    "write_print",
    "write_run",
]
