"""Validation: every error names the file, the row (feature) and the column, and says how to fix it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity

from geodata import validate as gval
from geodata.errors import InputError


X0, Y0 = 350_000.0, 3_460_000.0  # a real place in UTM 51N: tiny numbers would look like degrees


def boundaries(codes, geoms=None):
    geoms = geoms or [shapely.box(i, 0, i + 1, 1) for i in range(len(codes))]
    geoms = [shapely.affinity.translate(g, X0, Y0) for g in geoms]
    return gpd.GeoDataFrame({"code": codes, "name": [f"v{i}" for i in range(len(codes))]}, geometry=geoms, crs="EPSG:32651")


def test_missing_code_column():
    gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(InputError, match=r"b\.gpkg, column 'code': no 'code' column.*--code-col"):
        gval.validate_boundaries(gdf, file="b.gpkg")


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("31011500500", "expected 12 digits"),
        ("3101150050a1", "expected 12 digits"),
        ("999999005001", "county part 999999 is not in the 2023 code table"),
        ("310115000001", "cannot end its township or village part in 000"),
        ("310115005000", "cannot end its township or village part in 000"),
    ],
)
def test_invalid_codes(code, why):
    with pytest.raises(InputError, match=rf"b\.gpkg, feature 1, column 'code': .*{why}"):
        gval.validate_boundaries(boundaries(["310115005001", code]), file="b.gpkg")


def test_numeric_codes_read_as_numbers_are_accepted():
    gdf, _ = gval.validate_boundaries(boundaries([310115005001]), file="b.gpkg")
    assert gdf["code"].tolist() == ["310115005001"]


def test_duplicate_codes():
    with pytest.raises(InputError, match=r"code 310115005001 appears in features 0, 2.*dissolve"):
        gval.validate_boundaries(boundaries(["310115005001", "310115005003", "310115005001"]), file="b.gpkg")


def test_all_problems_are_reported_at_once():
    with pytest.raises(InputError) as info:
        gval.validate_boundaries(boundaries(["1", "2", "3"]), file="b.gpkg")
    assert len(info.value.problems) == 3


def test_invalid_polygon_is_repaired_and_reported_not_silently_changed():
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    gdf, report = gval.validate_boundaries(boundaries(["310115005001"], [bowtie]), file="b.gpkg")
    assert gdf.geometry.is_valid.all()
    assert gdf.geometry.area.iloc[0] == pytest.approx(2.0)
    assert len(report.notes) == 1
    assert "feature 0" in str(report.notes[0]) and "make_valid" in str(report.notes[0])


def test_urban_rural_must_be_1xx_or_2xx():
    gdf = boundaries(["310115005001"]).assign(urban_rural=["311"])
    with pytest.raises(InputError, match=r"feature 0, column 'urban_rural': got '311'"):
        gval.validate_boundaries(gdf, file="b.gpkg")


def addresses(households):
    return gpd.GeoDataFrame({"households": households}, geometry=[shapely.Point(i, 0) for i in range(len(households))])


def test_households_non_numeric_and_negative():
    with pytest.raises(InputError) as info:
        gval.validate_addresses(addresses(["3", "three", "-2"]), file="a.csv", csv_like=True)
    text = str(info.value)
    assert "a.csv, row 2 (line 3), column 'households': got 'three', expected a whole number ≥ 0" in text
    assert "a.csv, row 3 (line 4), column 'households': got '-2'" in text


def test_households_default_to_one_per_point():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0), shapely.Point(1, 1)])
    out, _ = gval.validate_addresses(gdf, file="a.gpkg")
    assert out["households"].tolist() == [1.0, 1.0]


def test_address_geometry_must_be_points():
    gdf = gpd.GeoDataFrame({"households": [1]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(InputError, match=r"a\.gpkg, feature 0: expected a single Point"):
        gval.validate_addresses(gdf, file="a.gpkg")


def test_addresses_outside_are_kept_and_listed_in_two_are_errors():
    b, _ = gval.validate_boundaries(boundaries(["310115005001", "310115005003"]), file="b.gpkg")
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 0.5, Y0 + 0.5), shapely.Point(X0 + 5, Y0 + 5)], crs="EPSG:32651")
    codes, report = gval.assign_villages(pts, b, file="a.gpkg")
    assert codes.iloc[0] == "310115005001"
    assert codes.isna().tolist() == [False, True]
    assert "feature 1" in str(report.notes[0]) and "outside every" in str(report.notes[0])
    overlapping = boundaries(["310115005001", "310115005003"], [shapely.box(0, 0, 2, 1), shapely.box(1, 0, 3, 1)])
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 1.5, Y0 + 0.5)], crs="EPSG:32651")
    with pytest.raises(InputError, match=r"a\.gpkg, feature 0: the point lies in two boundaries \(310115005001, 310115005003\).*overlap"):
        gval.assign_villages(pts, overlapping, file="a.gpkg")


def test_exclusive_types():
    ex = gpd.GeoDataFrame({"type": ["school", "Spaceport"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2)
    with pytest.raises(InputError, match=r"e\.gpkg, feature 1, column 'type': got 'spaceport'"):
        gval.validate_exclusive(ex, file="e.gpkg")


def test_barrier_polygons_become_outlines():
    bar = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (1, 1)])])
    out = gval.validate_barriers(bar, file="r.gpkg")
    assert set(out.geom_type) == {"LineString"}
    assert np.isclose(out.length.sum(), 4 + np.sqrt(2))
