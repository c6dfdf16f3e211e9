"""gridmap: divide villages and urban communities into coded management grids (网格划分).

The library works on GeoDataFrames; the ``gridmap`` command line is a thin shell over it.

>>> import gridmap
>>> sorted(gridmap.__all__)[:3]
['GridResult', 'INPUT_FIELDS', 'Inputs']
"""

from __future__ import annotations

from geodata.sample import sample_path
from geodata.schema import INPUT_FIELDS
from gridmap.analysis import audit, diff, read_workers
from gridmap.assign import assign_workers
from gridmap.config import parse_range, read_rules
from gridmap.inputs import Inputs, LayerSpec, read_inputs, sample_layers
from gridmap.make import grid_files, make_grids
from gridmap.maps import save_map
from gridmap.options import Options
from gridmap.printmap import write_print
from gridmap.provenance import gridmap_version as _gridmap_version
from gridmap.province import ProvinceResult, grid_province, read_dataset
from gridmap.report import worker_table
from gridmap.result import GridResult, read_run
from gridmap.runfolder import write_run
from gridmap.walks import walk_grids

__version__ = _gridmap_version()

__all__ = [
    "INPUT_FIELDS",
    "GridResult",
    "Inputs",
    "LayerSpec",
    "Options",
    "ProvinceResult",
    "audit",
    "diff",
    "grid_files",
    "grid_province",
    "make_grids",
    "parse_range",
    "read_dataset",
    "read_inputs",
    "read_rules",
    "read_run",
    "read_workers",
    "sample_layers",
    "sample_path",
    "save_map",
    "worker_table",
    "write_print",
    "write_run",
    "walk_grids",
    "assign_workers",
]
