"""Helpers shared by test modules: run the library on input files as the CLI does."""

from __future__ import annotations

from typing import Any

import gridmap


def run_files(
    addresses: Any,
    boundaries: Any,
    *,
    units: Any = None,
    exclusive: Any = None,
    barriers: Any = (),
    previous: Any = None,
    progress: Any = None,
    **options: Any,
) -> gridmap.GridResult:
    """Read input files and grid them through the public API, as ``gridmap partition`` does.

    Keywords other than the layers and `progress` are :class:`gridmap.Options` fields.
    """
    opts = gridmap.Options(**options)
    layers = {"units": units, "exclusive": exclusive, "barriers": barriers or (), "previous": previous}
    inputs = gridmap.read_inputs(addresses, boundaries, **layers, options=opts)
    return gridmap.make_grids(**inputs.frames(), options=opts, progress=progress)
