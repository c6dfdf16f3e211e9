"""GCJ-02 / BD-09 conversions against an independent implementation and against real data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import prcoords
import pyogrio
import pytest
import shapely
from pyproj import Geod

from geodata import crs as gcrs
from geodata.errors import CRSError

GEOD = Geod(ellps="WGS84")
DATA = Path(__file__).resolve().parents[1] / "data" / "hangzhou_gcj02_check.gpkg"


@pytest.fixture(scope="module")
def china_points():
    rng = np.random.default_rng(0)
    lon = rng.uniform(73.5, 134.5, 10_000)
    lat = rng.uniform(18.5, 53.0, 10_000)
    return lon, lat


def metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_wgs84_to_gcj02_matches_prcoords(china_points):
    lon, lat = china_points
    glon, glat = gcrs.wgs84_to_gcj02(lon, lat)
    ref = np.array([prcoords.wgs_gcj((la, lo)) for lo, la in zip(lon, lat, strict=True)])
    assert np.abs(glat - ref[:, 0]).max() < 1e-9
    assert np.abs(glon - ref[:, 1]).max() < 1e-9
    # the shift is real (hundreds of metres), not a no-op
    assert np.median(metres(lon, lat, glon, glat)) > 100


def test_gcj02_inverse_round_trips_below_half_a_metre(china_points):
    lon, lat = china_points
    glon, glat = gcrs.wgs84_to_gcj02(lon, lat)
    back = gcrs.gcj02_to_wgs84(glon, glat)
    assert metres(lon, lat, *back).max() < 0.5
    ref = np.array([prcoords.gcj_wgs_bored((la, lo)) for lo, la in zip(glon[:2000], glat[:2000], strict=True)])
    assert metres(back[0][:2000], back[1][:2000], ref[:, 1], ref[:, 0]).max() < 0.5


def test_bd09_forward_matches_prcoords_and_inverts(china_points):
    lon, lat = china_points
    blon, blat = gcrs.wgs84_to_bd09(lon, lat)
    ref = np.array([prcoords.wgs_bd((la, lo)) for lo, la in zip(lon, lat, strict=True)])
    assert metres(blon, blat, ref[:, 1], ref[:, 0]).max() < 0.01
    back = gcrs.bd09_to_wgs84(blon, blat)
    assert metres(lon, lat, *back).max() < 0.5


def test_identity_outside_china():
    lon = np.array([-105.0, 2.35, 151.2, 24.94])
    lat = np.array([39.7, 48.86, -33.87, 60.17])
    assert np.array_equal(np.column_stack(gcrs.wgs84_to_gcj02(lon, lat)), np.column_stack([lon, lat]))
    assert np.allclose(np.column_stack(gcrs.gcj02_to_wgs84(lon, lat)), np.column_stack([lon, lat]))


def test_geometries_convert_vectorised_keeping_shape():
    poly = shapely.Polygon([(121.50, 31.23), (121.52, 31.23), (121.52, 31.24), (121.50, 31.24)])
    gdf = gpd.GeoDataFrame(geometry=[poly, shapely.Point(121.5, 31.2)], crs="EPSG:4326")
    out = gcrs.china_to_wgs84(gdf, source="gcj02")
    assert out.crs.to_epsg() == 4326
    assert len(shapely.get_coordinates(out.geometry.values)) == len(shapely.get_coordinates(gdf.geometry.values))
    back = gcrs.wgs84_to_china(out, target="gcj02")
    assert shapely.get_coordinates(back.geometry.values) == pytest.approx(
        shapely.get_coordinates(gdf.geometry.values), abs=1e-8
    )


def _registration_offset(fences: gpd.GeoDataFrame, water: gpd.GeoDataFrame) -> tuple[int, int]:
    """Shift (m) that puts the most of the district borders inside OSM water (rivers, lakes)."""
    utm = "EPSG:32651"
    lines = shapely.union_all(shapely.boundary(fences.to_crs(utm).geometry.values))
    pts = shapely.get_coordinates(shapely.segmentize(lines, 40))
    wu = shapely.union_all(water.to_crs(utm).geometry.values)
    shapely.prepare(wu)
    best = max(
        ((dx, dy) for dx in range(-800, 801, 50) for dy in range(-800, 801, 50)),
        key=lambda d: (shapely.contains_xy(wu, pts[:, 0] + d[0], pts[:, 1] + d[1]).sum(), -abs(d[0]) - abs(d[1])),
    )
    return best


def test_real_gcj02_county_borders_line_up_with_wgs84_osm_after_conversion():
    """Real Amap (GCJ-02) Hangzhou district borders vs real OSM (WGS 84) rivers and lakes."""
    fences = pyogrio.read_dataframe(DATA, layer="fences_gcj02")  # tagged 4326, really GCJ-02
    water = pyogrio.read_dataframe(DATA, layer="water_wgs84")
    dx, dy = _registration_offset(fences, water)
    assert np.hypot(dx, dy) > 400  # the ~500 m GCJ-02 shift is there before conversion
    fixed = gcrs.assign_input_crs(fences, crs="gcj02", file="fences")
    dx, dy = _registration_offset(fixed, water)
    assert np.hypot(dx, dy) <= 75  # and gone after it


def test_missing_crs_is_a_clear_error():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)])
    with pytest.raises(CRSError, match=r"addr\.csv: .*`addresses_crs` \(or `input_crs`.*EPSG:4326"):
        gcrs.assign_input_crs(gdf, input_crs=None, file="addr.csv", option="addresses_crs")


def test_unknown_crs_name_is_a_clear_error():
    with pytest.raises(CRSError, match="`input_crs` got 'mars'"):
        gcrs.parse_crs("mars")


def test_metric_crs_is_utm_of_the_centre_or_the_override():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(121.5, 31.23)], crs="EPSG:4490")
    assert gcrs.metric_crs(gdf).to_epsg() == 32651
    assert gcrs.metric_crs(gdf, work_crs="EPSG:4549").to_epsg() == 4549
    with pytest.raises(CRSError, match="geographic"):
        gcrs.metric_crs(gdf, work_crs="EPSG:4326")


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (121.5, 31.23),  # Shanghai
        (87.6, 43.8),  # Urumqi
        (114.0, 22.5),  # on the edge of zones 49 and 50: pyproj's database chooses
        (116.0, 0.0),  # on the equator
        (100.0, -0.5),
        (-74.0, 40.7),
        (179.99, -16.0),
        (5.0, 84.5),  # beyond the zones' 84° N
        (-180.0, 10.0),
    ],
)
def test_the_utm_zone_is_the_one_geopandas_estimates_from_the_database(lon, lat):
    # the zone is computed where the centre lies inside one; the work CRS (and so every grid) must not change
    for crs in ("EPSG:4326", "EPSG:4490"):
        gdf = gpd.GeoDataFrame(geometry=[shapely.Point(lon, lat)], crs=crs)
        try:
            want = gdf.estimate_utm_crs()
        except RuntimeError:
            with pytest.raises(RuntimeError):
                gcrs.utm_crs(gdf)
            continue
        assert gcrs.utm_crs(gdf) == want
        assert gcrs.utm_crs(gdf.geometry) == want
    merc = gpd.GeoSeries([shapely.Point(13_525_000.0, 3_664_000.0)], crs="EPSG:3857")
    assert gcrs.utm_crs(merc) == merc.estimate_utm_crs()


def test_input_crs_only_fills_in_a_missing_crs_and_per_file_crs_overrides():
    declared = gpd.GeoDataFrame(geometry=[shapely.Point(13_525_000.0, 3_664_000.0)], crs="EPSG:3857")
    kept = gcrs.assign_input_crs(declared, input_crs="EPSG:4326", file="b.gpkg")
    assert kept.crs.to_epsg() == 3857  # the file says what it is; the global option does not apply
    bare = gpd.GeoDataFrame(geometry=[shapely.Point(121.5, 31.23)])
    assert gcrs.assign_input_crs(bare, input_crs="EPSG:4490", file="a.csv").crs.to_epsg() == 4490
    tagged = gpd.GeoDataFrame(geometry=[shapely.Point(121.5, 31.23)], crs="EPSG:4326")
    moved = gcrs.assign_input_crs(tagged, crs="gcj02", input_crs="EPSG:4490", file="amap.geojson")
    x, y = moved.geometry.x.iloc[0], moved.geometry.y.iloc[0]
    assert 300 < np.hypot((x - 121.5) * 95_000, (y - 31.23) * 111_000) < 800  # the GCJ-02 shift was undone


def test_work_crs_is_utm_never_web_mercator():
    merc = gpd.GeoDataFrame(geometry=[shapely.Point(13_525_000.0, 3_664_000.0)], crs="EPSG:3857")
    assert gcrs.metric_crs(merc).to_epsg() == 32651
    with pytest.raises(CRSError, match="Mercator"):
        gcrs.metric_crs(merc, work_crs="EPSG:3857")
    with pytest.raises(CRSError, match="metres"):
        gcrs.metric_crs(merc, work_crs="EPSG:2264")  # US feet


def test_no_utm_zone_for_coordinates_that_do_not_fit_their_crs_is_a_clear_error():
    bad = gpd.GeoDataFrame(geometry=[shapely.Point(350_000.0, 3_460_000.0)], crs="EPSG:4326")
    with pytest.raises(CRSError, match="do not fit their CRS"):
        gcrs.metric_crs(bad)


@pytest.mark.parametrize("layer", ["addresses", "boundaries"])
@pytest.mark.parametrize("target", ["EPSG:32651", "EPSG:3857", "EPSG:4490"])
def test_reproject_is_geopandas_to_crs_coordinate_for_coordinate(layer, target):
    """Points take the fast path, polygons geopandas' own: both give gdf.to_crs exactly (index, columns, attrs)."""
    from geopandas.testing import assert_geodataframe_equal

    from geodata.io import read_layer
    from geodata.sample import sample_path

    gdf = read_layer(sample_path(), layer=layer)
    gdf = gdf.set_index(gdf.index * 3 + 5)  # labels that are not positions, as after a dedupe
    expected = gdf.to_crs(target)
    got = gcrs.reproject(gdf, target)
    assert_geodataframe_equal(got, expected, check_less_precise=False, check_index_type=True)
    coords = shapely.get_coordinates
    assert np.array_equal(coords(got.geometry.values), coords(expected.geometry.values))
    assert got.attrs == expected.attrs and got.geometry.name == expected.geometry.name
    assert_geodataframe_equal(gcrs.reproject(gdf, gdf.crs), gdf, check_less_precise=False)


def test_reproject_leaves_empty_3d_and_missing_points_to_geopandas():
    from geopandas.testing import assert_geodataframe_equal

    for geoms in (
        [shapely.Point(121, 31), shapely.Point()],
        [shapely.Point(121, 31, 5), shapely.Point(121.1, 31.1, 7)],
        [shapely.Point(121, 31), None],
    ):
        gdf = gpd.GeoDataFrame({"n": [1, 2]}, geometry=geoms, crs="EPSG:4326")
        assert_geodataframe_equal(gcrs.reproject(gdf, "EPSG:32651"), gdf.to_crs("EPSG:32651"), check_less_precise=False)
