"""The result of a run (coded grids, addresses, violations, liaison groups, manifest) and reading it back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import pyogrio

from geodata import io as gio
from geodata.crs import utm_crs
from geodata.errors import InputError, Problem
from geodata.schema import CODE_COLUMNS

if TYPE_CHECKING:
    import folium

    from partition.values import Limit


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
    cells : geopandas.GeoDataFrame or None
        The partition the grids are made of: one row per cell (``cell_id``, ``grid_code``,
        ``village_code``, ``households``, ``population``, ``units``, ``unit_id``, ``label``,
        ``group``, ``compound``, ``block``); every grid is the union of its cells. The ``--units``
        polygons where given, the engine's tessellation otherwise. None for layers gridmap did not make.
        In the work CRS (unlike the other layers): there the cells tile every village exactly, and
        reprojecting them would open hair gaps between cells that meet at a vertex of one another.
    warnings : list of str
        What a person should be told about the inputs (addresses outside every boundary, repeated
        rows, repaired polygons); the command line prints them, a library caller decides.
    context : geopandas.GeoDataFrame or None
        Inputs drawn under the grids on the map (``kind`` barrier or exclusive, ``name``): roads and
        rivers stay visible offline, when no base map loads.
    walks : geopandas.GeoDataFrame or None
        Per grid, the walk from its service point to its farthest household along the streets
        (:func:`gridmap.walk_grids`; columns :data:`geodata.schema.WALK_LAYER_COLUMNS`).
    workers : geopandas.GeoDataFrame or None
        Worker areas (:func:`gridmap.assign_workers`): one dissolved area per worker with its loads.
    worker_grids : pandas.DataFrame or None
        ``grid_code`` → ``worker``, one row per grid, when workers were assigned.
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
    cells: gpd.GeoDataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    context: gpd.GeoDataFrame | None = None
    walks: gpd.GeoDataFrame | None = None
    workers: gpd.GeoDataFrame | None = None
    worker_grids: pd.DataFrame | None = None

    def save(self, folder: str | Path, *, overwrite: bool = False, maps: bool = True, workers: int = 1) -> Path:
        """Write the run folder exactly as ``gridmap partition`` does (see :func:`gridmap.write_run`)."""
        from gridmap.runfolder import write_run

        return write_run(self, folder, overwrite=overwrite, maps=maps, workers=workers)

    def explore(self, **kwargs: Any) -> folium.Map:
        """Return the interactive map as a :class:`folium.Map` (keywords as :func:`gridmap.maps.build_map`).

        Add layers and plugins as to any folium map: ``m = result.explore(); result.addresses.explore(m=m)``.
        """
        from gridmap.maps import build_map

        return build_map(self, **kwargs)

    def report_html(self, *, workers: pd.DataFrame | None = None, title: str | None = None) -> str:
        """Return the workload report as one self-contained HTML page.

        Worker loads come from `workers` (``grid_code`` → ``worker``) when given, else from the
        workers :func:`gridmap.assign_workers` assigned.
        """
        from gridmap.report import report_page

        return report_page(self, workers=self.worker_grids if workers is None else workers, title=title)

    def measures(self) -> dict[str, Limit | None]:
        """Return the measures the run's rules limit or balance that its grids carry: name → a limit, or None.

        A measure limited by several rules gives the first rule's limit (urban, rural, unknown, then overrides).
        """
        from partition.values import Limit

        rules = (self.manifest.get("options") or {}).get("rules") or {}
        specs = [rules.get(k) or {} for k in ("urban", "rural", "unknown")]
        specs += list((rules.get("overrides") or {}).values())
        out: dict[str, Limit | None] = {}
        for spec in specs:
            for name, ends in (spec.get("limits") or {}).items():
                if name in self.grids.columns and out.get(name) is None:
                    out[name] = Limit(name, max=ends.get("max"), min=ends.get("min"))
            for name in spec.get("balance") or {}:
                if name in self.grids.columns:
                    out.setdefault(name, None)
        return out

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


def read_run(folder: str | Path) -> GridResult:
    """Read a run folder written by :func:`write_run` (or ``gridmap partition``).

    Parameters
    ----------
    folder
        The run folder.

    Returns
    -------
    result
        Grids, addresses, violations, boundaries, liaison groups, cells (when the run kept them),
        code changes, code history and manifest; codes and unit ids as text.

    Raises
    ------
    InputError
        When `folder` is not a run folder.
    """
    from gridmap.runfolder import _changes, _manifest, _tampered, _work_crs

    folder = Path(folder)
    gpkg = folder / "grids.gpkg"
    if not gpkg.exists():
        raise InputError(
            Problem(
                str(folder),
                "is not a gridmap run folder (no grids.gpkg).",
                "pass the --out folder of `gridmap partition`.",
            )
        )
    names = set(gio.layer_names(gpkg))
    if "grids" not in names:
        raise _tampered(gpkg, "has no grids layer.")

    def layer(name: str):
        if name not in names:
            return None
        if pyogrio.read_info(gpkg, layer=name)["features"] == 0:  # e.g. a run without violations
            gdf = pyogrio.read_dataframe(gpkg, layer=name)
        else:
            gdf = gio.read_layer(gpkg, layer=name)
        for col in (*CODE_COLUMNS, "unit_id"):
            if col in gdf.columns:
                gdf[col] = gdf[col].astype("string").astype(object)
        return gdf

    manifest = _manifest(folder / "manifest.json")  # each file checked: a run folder may have been changed
    changes = _changes(folder / "code_changes.csv")
    history = (
        [str(c) for c in gio.read_table(gpkg, layer="code_history")["grid_code"]] if "code_history" in names else []
    )
    grids = layer("grids")
    missing = [c for c in ("grid_code", "village_code", "households") if c not in grids.columns]
    if missing or not len(grids):
        raise _tampered(
            gpkg, f"its grids layer {'has no ' + ', '.join(missing) + ' column' if missing else 'is empty'}."
        )
    crs = manifest.get("crs")
    work = _work_crs(
        (crs.get("work") if isinstance(crs, dict) else None) or utm_crs(grids).to_string(),
        folder / "manifest.json",
    )
    return GridResult(
        grids=grids,
        addresses=layer("addresses"),
        violations=layer("violations"),
        boundaries=layer("boundaries"),
        code_changes=changes,
        history=history,
        manifest=manifest,
        liaison=layer("liaison"),
        work_crs=work,
        cells=layer("cells"),
        context=_context(layer("barriers"), layer("exclusive_areas")),
        walks=layer("walks"),
        workers=layer("workers"),
        worker_grids=(
            gio.read_table(gpkg, layer="worker_grids").astype({"grid_code": str, "worker": str})
            if "worker_grids" in names
            else None
        ),
    )


def _context(*parts: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Return the map's context layer (``kind``, ``name``) from a run's barriers and exclusive_areas layers."""
    found = [p for p in parts if p is not None and len(p)]
    if not found:
        return None
    return gpd.GeoDataFrame(pd.concat(found, ignore_index=True), crs=found[0].crs)
