"""The map page and its assets: pinned, checksum-verified Leaflet; inlined by default, CDN with SRI on request."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

import pandas as pd
import pytest

from geodata.errors import OptionError
from gridmap import offline
from gridmap.maps import (
    EXCLUSIVE_COLOR,
    GROUP_COLOR,
    STATUS_COLORS,
    build_map,
    status_colors,
)


def fake_tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def opener_for(data: bytes):
    return lambda url: io.BytesIO(data)


@pytest.fixture
def one_package(monkeypatch):
    files = {"dist/x.js": b"var x = 1;", "LICENSE": b"BSD"}
    data = fake_tarball(files)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    spec = {
        "version": "1.0.0",
        "tarball": "https://registry.npmjs.org/x/-/x-1.0.0.tgz",
        "integrity": integrity,
        "license": "MIT",
        "homepage": "https://example.org",
        "files": tuple(files),
    }
    monkeypatch.setattr(offline, "ASSETS", {"x": spec})
    return data, files


def test_fetch_extracts_the_listed_files_of_a_matching_tarball(one_package, tmp_path):
    data, files = one_package
    (folder,) = offline.fetch_assets(tmp_path, opener=opener_for(data))
    assert (folder / "dist/x.js").read_bytes() == files["dist/x.js"]
    assert json.loads((tmp_path / "LICENSES.json").read_text())["x"]["license"] == "MIT"
    # a second build finds the verified copy and downloads nothing
    offline.fetch_assets(tmp_path, opener=lambda url: pytest.fail("downloaded again"))


def test_fetch_refuses_a_tarball_that_does_not_match_its_checksum(one_package, tmp_path):
    data, _ = one_package
    with pytest.raises(RuntimeError, match="refusing"):
        offline.fetch_assets(tmp_path, opener=opener_for(data + b"tampered"))
    assert not (tmp_path / "x-1.0.0").exists()


def test_installed_leaflet_is_the_pinned_one():
    folder = offline.package_dir("leaflet")
    assert (folder / ".integrity").read_text().strip() == offline.ASSETS["leaflet"]["integrity"]
    assert 't.version="1.9.4"' in (folder / "dist/leaflet.js").read_text(encoding="utf-8")


def test_default_page_inlines_everything_and_cdn_page_pins_with_integrity(hostile_run):
    result, _ = hostile_run
    page = build_map(result).get_root().render()
    assert "<script src=" not in page and '<link rel="stylesheet"' not in page
    assert "cdn.jsdelivr.net" not in page and "unpkg" not in page
    assert "url(images/" not in page  # Leaflet's images are data URIs
    cdn = build_map(result, cdn=True).get_root().render()
    js = offline.cdn_url("leaflet", "dist/leaflet.js")
    assert f'<script src="{js}" integrity="{offline.sri("leaflet", "dist/leaflet.js")}"' in cdn
    assert len(cdn) < len(page) - 100_000


@pytest.mark.parametrize("kw", [{"basemap": "bing"}, {"lang": "fr"}, {"basemap": "tianditu", "tianditu_key": ""}])
def test_bad_map_options_are_refused_with_the_choices(hostile_run, kw, monkeypatch, tmp_path):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    monkeypatch.setenv("GRIDMAP_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(OptionError):
        build_map(hostile_run[0], **kw)


def test_status_colour_states_the_rule():
    g = pd.DataFrame(
        {
            "rule": ["household_band", "household_band", "village_group", "exclusive", "village_group"],
            "grid_type": ["base", "base", "base", "exclusive/school", "base"],
            "status": ["ok", "over_max", "ok", "ok", "enclave"],
        }
    )
    assert list(status_colors(g)) == [
        STATUS_COLORS["ok"],
        STATUS_COLORS["over_max"],
        GROUP_COLOR,
        EXCLUSIVE_COLOR,
        STATUS_COLORS["enclave"],
    ]


def test_default_page_has_no_cdn_link_of_folium_either(hostile_run):
    page = build_map(hostile_run[0]).get_root().render()
    for host in ("cdn.jsdelivr.net", "code.jquery.com", "cdnjs.cloudflare.com", "netdna.bootstrapcdn.com"):
        assert host not in page


def test_gaode_base_map_is_gcj02_only_and_tianditu_has_imagery_and_annotation(tmp_path, monkeypatch, caplog):
    from gridmap.basemaps import display_datum, tile_layers

    gaode = tile_layers("gaode")
    assert {t.crs for t in gaode} == {"gcj02"} and all("autonavi.com" in t.url for t in gaode)
    assert display_datum(gaode) == "gcj02" and display_datum(tile_layers("osm")) == "wgs84"
    # the key from the config file, with a warning that it goes into the page
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[basemaps]\ntianditu_key = "k3y"\n', encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_CONFIG", str(cfg))
    with caplog.at_level("WARNING", logger="gridmap"):
        tdt = tile_layers("tianditu")
    assert "key is written into the map page" in caplog.text
    assert [t.url.split(".tianditu.gov.cn/")[1][:5] for t in tdt] == ["vec_w", "img_w", "cva_w", "cia_w"]
    assert all(t.url.endswith("&tk=k3y") for t in tdt) and [t.overlay for t in tdt] == [False, False, True, True]
    assert display_datum(tdt) == "wgs84"  # CGCS2000 draws as WGS 84 (centimetres apart)


def test_tile_template_accepts_xyz_and_wmts_and_refuses_what_leaflet_cannot_fill():
    from gridmap.basemaps import custom_tiles, display_datum

    xyz = custom_tiles("http://10.1.2.3/tiles/{z}/{x}/{y}.png", crs="cgcs2000")
    assert xyz.url == "http://10.1.2.3/tiles/{z}/{x}/{y}.png" and "10.1.2.3" in xyz.attr
    wmts = custom_tiles("https://gis.gov/wmts/vec/default/w/{TileMatrix}/{TileRow}/{TileCol}.png", crs="gcj02")
    assert wmts.url.endswith("/w/{z}/{y}/{x}.png") and display_datum([wmts]) == "gcj02"
    with pytest.raises(OptionError, match=r"missing \{x\}"):
        custom_tiles("http://10.1.2.3/tiles/{z}/{y}.png")
    with pytest.raises(OptionError, match="tiles_crs"):
        custom_tiles("http://10.1.2.3/{z}/{x}/{y}.png", crs="bd09")
    with pytest.raises(OptionError, match="cannot mix GCJ-02"):
        display_datum([wmts, xyz])


def _delta_e(a: str, b: str) -> float:
    """CIE76 colour difference of two sRGB hex colours."""

    def lab(h: str):
        rgb = [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92 for c in rgb)
        xyz = (
            (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
            0.2126 * r + 0.7152 * g + 0.0722 * b,
            (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
        )
        fx, fy, fz = (v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116 for v in xyz)
        return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)

    return sum((p - q) ** 2 for p, q in zip(lab(a), lab(b), strict=True)) ** 0.5


def test_choropleth_classes_are_clearly_different_neighbours():
    from gridmap.maps import CHORO_COLORS

    steps = [_delta_e(a, b) for a, b in zip(CHORO_COLORS, CHORO_COLORS[1:], strict=False)]
    assert min(steps) >= 24, steps  # the former YlOrRd had 20 between 301–400 and 401–500


def test_distinct_colours_differ_between_every_pair_of_touching_grids(sample_run):
    import shapely

    from gridmap.maps import distinct_colors

    colours = distinct_colors(sample_run.grids)
    geoms = sample_run.grids.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = [(a, b) for a, b in zip(left, right, strict=True) if a < b]
    assert pairs and all(colours[a] != colours[b] for a, b in pairs)
    assert len(set(colours)) <= 8


def test_mbtiles_tiles_are_renumbered_to_xyz_and_kept_within_the_page_budget(sample_run, tmp_path, caplog):
    from gridmap.basemaps import custom_tiles, mbtiles_tiles
    from tests.gridmap.test_map_browser import make_mbtiles

    bounds = tuple(sample_run.grids.to_crs(4326).total_bounds)
    mb = tmp_path / "t.mbtiles"
    n = make_mbtiles(mb, bounds, range(12, 15))
    layer = custom_tiles(str(mb))
    assert layer.local and (layer.min_zoom, layer.max_zoom) == (12, 14) and layer.as_json()["url"] == ""
    tiles = mbtiles_tiles(mb, bounds)
    assert len(tiles) == n and all(v.startswith("data:image/png;base64,") for v in tiles.values())
    z, x, y = (int(v) for v in next(k for k in tiles if k.startswith("14/")).split("/"))
    lon = x / 2**z * 360 - 180  # the XYZ key of a tile west of the run's east edge, north of its south edge
    assert lon <= bounds[2]
    small = sum(k.startswith("12/") for k in tiles)
    with caplog.at_level("WARNING", logger="gridmap"):
        cut = mbtiles_tiles(mb, bounds, max_bytes=len(next(iter(tiles.values()))) * (small + 1))
    assert set(cut) == {k for k in tiles if k.startswith("12/")} and "zoom levels 13 and deeper" in caplog.text
    with pytest.raises(OptionError, match="does not exist"):
        custom_tiles(str(tmp_path / "none.mbtiles"))


def test_default_base_map_is_one_a_chinese_office_can_use(sample_run, monkeypatch, tmp_path):
    # in China: Gaode without a key (grids shifted to GCJ-02), 天地图 with one; OpenStreetMap is never the default there
    from gridmap.maps import build_map

    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    monkeypatch.setenv("GRIDMAP_CONFIG", str(tmp_path / "none.toml"))
    page = build_map(sample_run).get_root().render()
    assert "autonavi.com" in page and "openstreetmap" not in page
    monkeypatch.setenv("TIANDITU_KEY", "k3y")
    page = build_map(sample_run).get_root().render()
    assert "tianditu.gov.cn" in page and "autonavi" not in page and "openstreetmap" not in page


def _page_data(m) -> dict:
    import re

    page = m.get_root().render()
    return json.loads(re.search(r"<script type='application/json' id='gridmap-data'>(.*?)</script>", page, re.S)[1])


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4547"])  # longitude/latitude, and a CGCS2000 Gauss-Krüger zone
def test_map_draws_every_grid_where_it_is_with_its_code_and_households_and_no_gaps(sample_run, crs):
    """The page's GeoJSON: each feature is its grid (same place, same code and households), neighbours still meet."""
    import dataclasses

    import geopandas as gpd
    import numpy as np
    import shapely

    run = dataclasses.replace(
        sample_run, grids=sample_run.grids.to_crs(crs), boundaries=sample_run.boundaries.to_crs(crs)
    )
    grids = sample_run.grids.to_crs(sample_run.grids.estimate_utm_crs())

    def gaps(union) -> float:  # area of the holes in the grids' union
        return shapely.area(shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(union)))).sum() - union.area

    holes = gaps(shapely.union_all(grids.geometry.values))
    for tolerance in (1.0, 20.0):
        features = _page_data(build_map(run, basemap="osm", tolerance_m=tolerance))["grids"]["features"]
        assert [f["properties"]["c"] for f in features] == list(grids["grid_code"])
        assert [f["properties"]["h"] for f in features] == list(grids["households"])
        drawn = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in features], crs=4326).to_crs(grids.crs)
        overlap = shapely.area(shapely.intersection(drawn.values, grids.geometry.values))
        assert (overlap / shapely.area(grids.geometry.values)).min() > (0.99 if tolerance == 1.0 else 0.9)
        # simplified as one coverage: neighbours neither overlap nor open a gap (a hole in their union)
        union = shapely.union_all(drawn.values)
        assert drawn.area.sum() - union.area < 1e-5 * union.area  # rounding to 1e-6° leaves slivers of a few m²
        assert gaps(union) < holes + 1e-5 * union.area
    assert np.isfinite([c for f in features for c in f["properties"]["lp"]]).all()


def test_grids_simplified_on_several_threads_are_drawn_as_on_one(sample_run):
    """Separate groups of grids (here the sample and a copy 50 km east) simplified at once give the same page."""
    import dataclasses

    import numpy as np
    import pandas as pd
    import shapely

    def copied(frame):
        metric = frame.to_crs(frame.estimate_utm_crs())
        moved = metric.set_geometry(
            shapely.transform(metric.geometry.values, lambda xy: xy + np.array([50_000.0, 0.0]))
        )
        return pd.concat([metric, moved], ignore_index=True).to_crs(frame.crs)

    run = dataclasses.replace(sample_run, grids=copied(sample_run.grids), boundaries=copied(sample_run.boundaries))
    one, two = (
        _page_data(build_map(run, basemap="osm", tolerance_m=20.0, threads=n))["grids"]["features"] for n in (1, 2)
    )
    assert len(one) == 2 * len(sample_run.grids)
    assert [f["geometry"] for f in two] == [f["geometry"] for f in one]


def test_addresses_are_where_they_are_and_a_missing_value_is_empty_not_a_word(sample_run):
    """Missing text (None, NaN or pandas' NA) and numbers reach the page as null, never as 'None', 'nan' or '<NA>'."""
    import dataclasses

    addr = sample_run.addresses.copy()
    addr["building"] = addr["building"].astype("string")
    addr.loc[addr.index[0], "building"] = pd.NA
    addr.loc[addr.index[1], "group"] = None
    addr.loc[addr.index[2], "group"] = float("nan")
    addr.loc[addr.index[3], "households"] = float("nan")
    data = _page_data(build_map(dataclasses.replace(sample_run, addresses=addr), basemap="osm"))["addresses"]
    assert data["b"][0] is None and data["gr"][1] is None and data["gr"][2] is None and data["h"][3] is None
    assert data["h"][4:] == list(addr["households"].iloc[4:])
    wgs = addr.to_crs(4326)
    assert data["lat"] == list(wgs.geometry.y.round(6)) and data["lon"] == list(wgs.geometry.x.round(6))
    assert data["b"][1:] == list(addr["building"].iloc[1:])
    assert not {"None", "nan", "<NA>"} & (set(data["b"]) | set(data["gr"]))
