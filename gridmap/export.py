"""Rosters and GIS exports of a run: CSV/XLSX rosters, GeoJSON, GeoPackage, zipped Shapefile, KML."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from gridmap.fields import bilingual

if TYPE_CHECKING:
    from gridmap.pipeline import RunResult

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


def roster(result: RunResult) -> pd.DataFrame:
    """Return the household roster: every address with its grid, bilingual column headers."""
    a = result.addresses
    cols = [c for c in ROSTER_COLUMNS if c in a.columns]
    extra = [c for c in a.columns if c not in cols and c != "geometry" and not c.startswith("_")]
    df = pd.DataFrame(a[cols + extra])
    xy = a.geometry.get_coordinates()
    df["x"] = xy["x"].to_numpy()
    df["y"] = xy["y"].to_numpy()
    return df.rename(columns={c: bilingual(c) for c in cols})
