"""Validation: every error names the file, the row (feature) and the column, and says how to fix it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata import validate as gval
from geodata.errors import InputError

X0, Y0 = 350_000.0, 3_460_000.0  # a real place in UTM 51N: tiny numbers would look like degrees


def boundaries(codes, geoms=None):
    geoms = geoms or [shapely.box(i, 0, i + 1, 1) for i in range(len(codes))]
    geoms = [shapely.affinity.translate(g, X0, Y0) for g in geoms]
    return gpd.GeoDataFrame(
        {"code": codes, "name": [f"v{i}" for i in range(len(codes))]}, geometry=geoms, crs="EPSG:32651"
    )


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
        ("310115005\u0660\u0660\u0661", "expected 12 digits"),  # Arabic-Indic digits: isdigit() says yes
        ("310115005\uff10\uff10\uff11", "expected 12 digits"),  # fullwidth digits
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
    pts = gpd.GeoDataFrame(
        geometry=[shapely.Point(X0 + 0.5, Y0 + 0.5), shapely.Point(X0 + 5, Y0 + 5)], crs="EPSG:32651"
    )
    codes, report = gval.assign_villages(pts, b, file="a.gpkg")
    assert codes.iloc[0] == "310115005001"
    assert codes.isna().tolist() == [False, True]
    assert "feature 1" in str(report.notes[0]) and "outside every" in str(report.notes[0])
    overlapping = boundaries(["310115005001", "310115005003"], [shapely.box(0, 0, 2, 1), shapely.box(1, 0, 3, 1)])
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 1.5, Y0 + 0.5)], crs="EPSG:32651")
    with pytest.raises(
        InputError,
        match=r"a\.gpkg, feature 0: the point lies in two boundaries \(310115005001, 310115005003\).*overlap",
    ):
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


def lonlat(xy, **cols):
    return gpd.GeoDataFrame(cols, geometry=[shapely.Point(x, y) for x, y in xy], crs="EPSG:4326")


def test_longitudes_and_latitudes_out_of_range_are_named_by_row():
    pts = lonlat([(121.5, 31.2), (500.0, 31.2), (121.5, -95.0)])
    pts.attrs["rows"] = "csv"
    with pytest.raises(InputError) as info:
        gval.validate_addresses(pts, file="a.csv")
    text = str(info.value)
    assert "a.csv, row 2 (line 3): x=500, y=31.2 is not a longitude within ±180" in text
    assert "a.csv, row 3 (line 4): x=121.5, y=-95" in text


def test_swapped_longitude_and_latitude_are_recognised_and_the_fix_named():
    pts = lonlat([(31.2, 121.5), (31.3, 121.6)])
    pts.attrs.update(rows="csv", coordinate_columns=("lon", "lat"))
    with pytest.raises(
        InputError,
        match=r"a\.csv: longitude and latitude look swapped: 2 rows .*Fix: swap the columns: pass `x_col` lat "
        r"`y_col` lon",
    ):
        gval.validate_addresses(pts, file="a.csv")


def test_metres_declared_as_degrees_get_one_message_naming_the_crs_option():
    pts = lonlat([(350_000.0 + i, 3_460_000.0) for i in range(100)])
    with pytest.raises(InputError) as info:
        gval.validate_addresses(pts, file="a.gpkg")
    assert len(info.value.problems) == 1
    assert "100 of 100 rows have coordinates such as x=350000, y=3460000 in feature 0 that look like metres" in str(
        info.value
    )
    assert "pass `addresses_crs` with the projected CRS" in str(info.value)
    bnd = gpd.GeoDataFrame(
        {"code": ["310115005001"]}, geometry=[shapely.box(350_000, 3_460_000, 351_000, 3_461_000)], crs="EPSG:4490"
    )
    with pytest.raises(InputError, match="`boundaries_crs`"):
        gval.validate_boundaries(bnd, file="b.shp")


def test_degrees_declared_as_metres_are_recognised():
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(121.5, 31.2)], crs="EPSG:32651")
    with pytest.raises(InputError, match="look like degrees.*pass `addresses_crs` EPSG:4326"):
        gval.validate_addresses(pts, file="a.gpkg")


@pytest.mark.parametrize("value", ["2.5", "1e400", "nan", "inf", "-1", "３"])
def test_households_must_be_whole_numbers(value):
    with pytest.raises(
        InputError, match=rf"row 2 \(line 3\), column 'households': got '{value}', expected a whole number ≥ 0"
    ):
        gval.validate_addresses(addresses(["3", value]), file="a.csv", csv_like=True)


def test_households_2_point_0_is_whole_and_population_may_be_decimal():
    out, _ = gval.validate_addresses(
        addresses(["2.0", "3"]).assign(population=["2.5", ""]), file="a.csv", csv_like=True
    )
    assert out["households"].tolist() == [2.0, 3.0]
    assert out["population"].iloc[0] == 2.5 and np.isnan(out["population"].iloc[1])


def test_exact_duplicate_rows_are_named_and_dropped_only_with_dedupe():
    pts = addresses(["3", "4", "3", "3"])
    pts.geometry = [shapely.Point(X0, Y0), shapely.Point(X0 + 1, Y0), shapely.Point(X0, Y0), shapely.Point(X0, Y0)]
    pts = pts.set_crs("EPSG:32651")
    pts.attrs["rows"] = "csv"
    out, report = gval.validate_addresses(pts, file="a.csv")
    assert len(out) == 4
    [note] = report.notes
    assert note.kind == "duplicate_row" and note.ids == (2, 3)
    assert "row 3 (line 4), row 4 (line 5) repeat row 1 (line 2) exactly" in str(note) and "counted again" in str(note)
    out, report = gval.validate_addresses(pts, file="a.csv", dedupe=True)
    assert out.index.tolist() == [0, 1] and "dropped" in str(report.notes[0])
    moved = pts.copy()
    moved.loc[3, "households"] = "5"  # same place, other values: not a duplicate
    assert gval.validate_addresses(moved, file="a.csv")[1].notes[0].ids == (2,)


def test_addresses_in_a_hole_are_told_apart_and_strict_makes_them_errors():
    ring = shapely.box(X0, Y0, X0 + 100, Y0 + 100).difference(shapely.box(X0 + 40, Y0 + 40, X0 + 60, Y0 + 60))
    b = gpd.GeoDataFrame({"code": ["310115005001"]}, geometry=[ring], crs="EPSG:32651")
    pts = gpd.GeoDataFrame(
        geometry=[
            shapely.Point(X0 + 10, Y0 + 10),
            shapely.Point(X0 + 50, Y0 + 50),
            shapely.Point(X0 + 500, Y0),
            shapely.Point(X0 + 51, Y0 + 50),
        ],
        crs="EPSG:32651",
    )
    codes, report = gval.assign_villages(pts, b, file="a.gpkg")
    assert codes.iloc[0] == "310115005001" and codes.isna().tolist() == [False, True, True, True]
    kinds = {p.kind: p for p in report.notes}
    assert kinds["address_in_hole"].ids == (1, 3) and kinds["address_outside_boundaries"].ids == (2,)
    assert (
        "2 of 4 addresses lie inside a hole of a village/community boundary; kept in the violations layer: feature "
        "1, feature 3" in str(kinds["address_in_hole"])
    )
    with pytest.raises(InputError) as info:
        gval.assign_villages(pts, b, file="a.gpkg", strict=True)
    assert {p.kind for p in info.value.problems} == {"address_in_hole", "address_outside_boundaries"}


def test_a_point_on_a_shared_border_goes_to_the_first_boundary_not_an_overlap_error():
    b, _ = gval.validate_boundaries(boundaries(["310115005001", "310115005003"]), file="b.gpkg")
    pts = gpd.GeoDataFrame(
        geometry=[shapely.Point(X0 + 1, Y0 + 0.5), shapely.Point(X0 + 1.5, Y0 + 0.5)], crs="EPSG:32651"
    )
    codes, report = gval.assign_villages(pts, b, file="a.gpkg")
    assert codes.tolist() == ["310115005001", "310115005003"] and not report.notes


@pytest.mark.parametrize("threads", [2, 3])
def test_points_tested_in_parts_get_the_villages_and_notes_of_one_pass(threads):
    """Split over threads, every point still goes to the same village: on borders, in holes, outside, at the cuts."""
    import numpy as np

    rng = np.random.default_rng(7)
    cells = [
        shapely.box(X0 + i * 10, Y0 + j * 10, X0 + (i + 1) * 10, Y0 + (j + 1) * 10) for i in range(3) for j in range(3)
    ]
    cells[4] = cells[4].difference(shapely.box(X0 + 13, Y0 + 13, X0 + 17, Y0 + 17))  # a hole in the middle one
    b = gpd.GeoDataFrame({"code": [f"3101150050{k:02d}" for k in range(9)]}, geometry=cells, crs="EPSG:32651")
    xy = np.r_[rng.uniform(-5, 35, (300, 2)), rng.integers(0, 4, (60, 2)) * 10.0]  # inside, outside, on borders
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(X0 + xy[:, 0], Y0 + xy[:, 1]), crs="EPSG:32651")
    one, one_report = gval.assign_villages(pts, b, file="a.gpkg")
    split, split_report = gval.assign_villages(pts, b, file="a.gpkg", threads=threads)
    assert one.notna().sum() > 200 and one.isna().any()
    assert split.equals(one)
    assert [str(p) for p in split_report.notes] == [str(p) for p in one_report.notes]


def test_swaps_the_range_check_cannot_see_are_found_against_the_boundaries():
    """Western China: lon 80, lat 31 swapped is (31, 80), a valid place in the Arctic."""
    bnd = gpd.GeoDataFrame({"code": ["650102001001"]}, geometry=[shapely.box(79.9, 30.9, 80.2, 31.2)], crs="EPSG:4326")
    pts = lonlat([(31.0 + i / 100, 80.0 + i / 100) for i in range(10)])
    pts.attrs["coordinate_columns"] = ("经度", "纬度")
    report = gval.Report()
    gval.check_swapped_against(pts, bnd, file="a.csv", report=report)
    assert "look swapped: 100% of the points fall among the boundaries only with x and y exchanged" in str(
        report.errors[0]
    )
    assert "`x_col` 纬度 `y_col` 经度" in str(report.errors[0])
    fine = gval.Report()
    gval.check_swapped_against(lonlat([(80.0, 31.0)]), bnd, file="a.csv", report=fine)
    assert not fine.errors


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, -0.0, 1.5, 2.0, 1e-300]),  # few places, so rows meet
            st.sampled_from([0.0, 3.25]),
            st.sampled_from(["A1", "A2", None, ""]),
            st.sampled_from([1, 2]),
        ),
        min_size=2,
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_find_duplicates_names_exactly_the_rows_that_repeat_an_earlier_row(rows):
    """The repeats are the rows equal to an earlier one in place (0.0 is -0.0) and every value, grouped by it."""
    x, y, building, households = map(list, zip(*rows, strict=True))
    pts = gpd.GeoDataFrame(
        {"building": pd.Series(building, dtype=object), "households": households},
        geometry=gpd.points_from_xy(x, y),
        crs="EPSG:32651",
    )
    report = gval.Report()
    repeats = gval.find_duplicates(pts, file="a.gpkg", report=report)
    same = pd.DataFrame({"b": pts["building"].fillna("<null>"), "h": households, "x": x, "y": y})
    assert repeats.tolist() == np.flatnonzero(same.duplicated(keep="first")).tolist()
    first = same.groupby(list(same.columns), sort=False).ngroup()
    expected = sorted(tuple(int(i) for i in g[1:]) for _, g in pd.Series(range(len(same))).groupby(first) if len(g) > 1)
    assert sorted(p.ids for p in report.notes) == expected
    assert all(p.kind == "duplicate_row" for p in report.notes)
