"""The result of a run: coded grids, addresses, violations, liaison groups and the manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

if TYPE_CHECKING:
    import folium


@dataclass
class GridResult:
    """Coded grids and everything made with them, in the output CRS.

    Attributes
    ----------
    grids : geopandas.GeoDataFrame
        One row per grid: ``grid_code``, ``village_code``, ``village_name``, ``seq``, ``grid_type``,
        ``rule``, ``households``, ``population``, ``units``, ``area_m2``, ``compactness``,
        ``status``, ``flag``, ``note``, ``min_households``, ``max_households``, ``kept``.
    addresses : geopandas.GeoDataFrame
        Every input address point with its ``grid_code`` (and ``liaison_code``).
    violations : geopandas.GeoDataFrame
        Addresses outside every boundary, repaired polygons and flagged grids, with a message.
    boundaries : geopandas.GeoDataFrame
        The villages/communities as validated.
    code_changes : pandas.DataFrame
        Old code → new code, for a run with previous grids (empty otherwise).
    history : list of str
        Every grid code ever issued, retired ones included: never issued again.
    manifest : dict
        Inputs' checksums, rules, CRSs, counts, timings and versions.
    liaison : geopandas.GeoDataFrame or None
        Household-liaison groups (联户), when asked for.
    work_crs : str
        The metric CRS the geometry work was done in.
    context : geopandas.GeoDataFrame or None
        Inputs drawn under the grids on the map (``kind`` barrier or exclusive, ``name``): roads and
        rivers stay visible offline, when no base map loads.
    """

    grids: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    violations: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    code_changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    liaison: gpd.GeoDataFrame | None = None
    work_crs: str = ""
    context: gpd.GeoDataFrame | None = None

    def save(self, folder: str | Path, *, overwrite: bool = False, maps: bool = True) -> Path:
        """Write the run folder exactly as ``gridmap partition`` does (see :func:`gridmap.write_run`)."""
        from gridmap.runfolder import write_run

        return write_run(self, folder, overwrite=overwrite, maps=maps)

    def explore(self, **kwargs: Any) -> folium.Map:
        """Return the interactive map as a :class:`folium.Map` (keywords as :func:`gridmap.maps.build_map`).

        Add layers and plugins as to any folium map: ``m = result.explore(); result.addresses.explore(m=m)``.
        """
        from gridmap.maps import build_map

        return build_map(self, **kwargs)

    def report_html(self, *, workers: pd.DataFrame | None = None, title: str | None = None) -> str:
        """Return the workload report as one self-contained HTML page (worker loads when `workers` is given)."""
        from gridmap.analysis import report_page

        return report_page(self, workers=workers, title=title)

    def summary(self) -> pd.DataFrame:
        """Return one row per village/community: rule, grids, households, band share, flagged grids.

        ``in_band`` is the share of household-band grids within their band (empty for other rules).
        """
        from partition.measures import band_share

        g = self.grids
        rows = []
        for (code, name), v in g.groupby(["village_code", "village_name"], sort=True, dropna=False):
            base = v[v["grid_type"].eq("base")]
            rule = base["rule"].iloc[0] if len(base) else (v["rule"].iloc[0] if len(v) else "")
            rows.append(
                {
                    "village_code": code,
                    "village_name": name,
                    "rule": rule,
                    "grids": len(v),
                    "exclusive_grids": int(v["grid_type"].ne("base").sum()),
                    "households": int(v["households"].sum()),
                    "min_households": int(v["households"].min()),
                    "max_households": int(v["households"].max()),
                    "in_band": band_share(v),
                    "flagged": int(v["status"].ne("ok").sum()),
                }
            )
        return pd.DataFrame(rows)
