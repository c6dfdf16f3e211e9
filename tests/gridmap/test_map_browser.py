"""The map for offices, in a real headless Chromium: base maps, offline context, folium layers and search.

Offline pages are opened with every http(s) request blocked; the intranet tile server is a real
HTTP server on 127.0.0.1 whose requests are recorded. Needs Debian's ``chromium`` and
``chromium-driver`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gridmap.maps import save_map, write_map
from tests.gridmap.conftest import NEEDS_CHROMIUM, REDRAWN, start_chromium
from tests.gridmap.test_browser import js_errors, shot

pytestmark = NEEDS_CHROMIUM
# a 1×1 PNG: Leaflet stretches it to a 256 px tile
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    driver.execute_cdp_cmd("Network.enable", {})
    yield driver
    driver.quit()


def offline(driver, on: bool = True) -> None:
    """Block every http(s) request (a county intranet without a tile server), or lift the block."""
    urls = ["http://*", "https://*", "ws://*", "wss://*"] if on else []
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": urls})


def load(driver, page, n_grids: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    WebDriverWait(driver, 20, ignored_exceptions=REDRAWN).until(
        lambda d: (
            d.execute_script(
                "return document.querySelectorAll("
                "'path.gridmap-grid, path.gridmap-distinct, path.gridmap-choro').length"
            )
            == n_grids
        )
    )
    time.sleep(0.5)


@pytest.fixture
def tile_server():
    """A tile server on 127.0.0.1 that answers every /z/x/y.png with a PNG and records the paths asked for."""
    asked: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def test_offline_page_says_so_and_draws_the_roads_rivers_and_exclusive_areas_it_was_given(
    browser, sample_run, tmp_path
):
    offline(browser)
    page = tmp_path / "map.html"
    write_map(sample_run, page)
    load(browser, page, len(sample_run.grids))
    notice = browser.find_element("id", "gridmap-notice")
    assert notice.is_displayed() and "底图无法加载" in notice.text and "roads, rivers" in notice.text
    n_barriers = int(sample_run.context["kind"].eq("barrier").sum())
    n_exclusive = int(sample_run.context["kind"].eq("exclusive").sum())
    assert n_barriers > 0 and n_exclusive > 0
    drawn = browser.execute_script(
        "return [document.querySelectorAll('path.gridmap-barrier').length,"
        " document.querySelectorAll('path.gridmap-exclusive').length]"
    )
    assert drawn == [n_barriers, n_exclusive]
    legend = browser.find_element("id", "gridmap-legend").text
    assert "道路、河流（输入的界线）" in legend and "专属区域（输入）" in legend
    shot(browser, "offline_context.png")
    assert js_errors(browser) == []


def test_no_basemap_page_shows_the_context_at_once(browser, sample_run, tmp_path):
    offline(browser)
    page = tmp_path / "map_none.html"
    write_map(sample_run, page, basemap="none", colors="distinct")
    load(browser, page, len(sample_run.grids))
    assert "未使用底图" in browser.find_element("id", "gridmap-notice").text
    # the colour-per-grid layer is the one shown, in the colours computed for it
    from gridmap.maps import distinct_colors

    fills = browser.execute_script(
        "return Array.from(document.querySelectorAll('path.gridmap-distinct')).map(function(p){"
        "return p.getAttribute('fill');})"
    )
    assert sorted(fills) == sorted(distinct_colors(sample_run.grids))
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-grid').length") == 0
    assert browser.execute_script("return document.querySelectorAll('img.leaflet-tile').length") == 0
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-barrier').length") > 0


def test_intranet_tile_template_is_requested_and_the_notice_stays_hidden(browser, sample_run, tile_server, tmp_path):
    base, asked = tile_server
    offline(browser, False)
    try:
        page = tmp_path / "map_tiles.html"
        write_map(sample_run, page, tiles=base + "/tiles/{z}/{x}/{y}.png", tiles_attribution="区测绘院 tiles")
        load(browser, page, len(sample_run.grids))
        zoom = browser.execute_script("return gridmap.map.getZoom()")
        # tiles asked at the map's zoom, for the tiles covering the view (Web Mercator numbering)
        centre = browser.execute_script("var c=gridmap.map.getCenter(); return [c.lat, c.lng]")
        import math

        n = 2**zoom
        cx = int((centre[1] + 180) / 360 * n)
        cy = int((1 - math.asinh(math.tan(math.radians(centre[0]))) / math.pi) / 2 * n)
        assert f"/tiles/{zoom}/{cx}/{cy}.png" in asked, asked
        assert not browser.find_element("id", "gridmap-notice").is_displayed()
        assert "区测绘院 tiles" in browser.find_element("css selector", ".leaflet-control-attribution").text
        srcs = browser.execute_script(
            "return Array.from(document.querySelectorAll('img.leaflet-tile-loaded')).map(function(i){return i.src;})"
        )
        assert srcs and all(s.startswith(base + "/tiles/") for s in srcs)
        shot(browser, "intranet_tiles.png")
        assert js_errors(browser) == []
    finally:
        offline(browser)


def test_gaode_page_offers_only_gcj02_tiles_and_shifts_the_grids(browser, sample_run, tmp_path):
    offline(browser)
    page = tmp_path / "map_gaode.html"
    write_map(sample_run, page, basemap="gaode")
    load(browser, page, len(sample_run.grids))
    urls = browser.execute_script(
        "var u=[]; gridmap.map.eachLayer(function(l){ if (l._url) u.push(l._url); }); return u;"
    )
    assert urls and all("autonavi.com" in u for u in urls)
    from selenium.webdriver.common.action_chains import ActionChains

    control = browser.find_element("css selector", ".leaflet-control-layers")
    ActionChains(browser).move_to_element(control).perform()
    base_names = [lab.text for lab in browser.find_elements("css selector", ".leaflet-control-layers-base label")]
    assert base_names and all("高德" in t for t in base_names)  # roads and satellite, no OpenStreetMap
    assert not any("OpenStreetMap" in lab.text for lab in browser.find_elements("css selector", "label"))
    # the grids are drawn in GCJ-02: a grid's label point sits a few hundred metres from its WGS 84 position
    import shapely

    p = browser.execute_script(
        "return JSON.parse(document.getElementById('gridmap-data').textContent).grids.features[0].properties.lp"
    )
    wgs = shapely.point_on_surface(sample_run.grids.to_crs(4326).geometry.values[0])
    dist_m = ((p[0] - wgs.y) * 111_000) ** 2 + ((p[1] - wgs.x) * 95_000) ** 2
    assert 300 < dist_m**0.5 < 800


def test_explore_is_a_folium_map_users_extend_with_geopandas_layers_and_plugins(browser, sample_run, tmp_path):
    import folium
    from folium.plugins import FloatImage

    offline(browser)
    m = sample_run.explore()
    assert isinstance(m, folium.Map)
    sample_run.addresses[["households", "geometry"]].explore(
        m=m, color="#000", marker_kwds={"radius": 3}, tooltip=False, name="my addresses"
    )
    FloatImage("data:image/png;base64," + base64.b64encode(PNG).decode(), bottom=5, left=5).add_to(m)
    folium.LayerControl().add_to(m)
    page = tmp_path / "extended.html"
    save_map(m, page)
    text = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in text and "code.jquery.com" not in text and "cdnjs" not in text
    load(browser, page, len(sample_run.grids))
    mine = browser.execute_script(
        "var n=0; gridmap.map.eachLayer(function(l){ var p=l.feature && l.feature.properties;"
        " if (p && l instanceof L.CircleMarker && 'households' in p) n++; }); return n;"
    )
    assert mine == len(sample_run.addresses)
    assert browser.execute_script("return document.querySelectorAll('.leaflet-control-layers').length") == 2
    assert browser.execute_script("return document.querySelectorAll('img[src^=\"data:image/png\"]').length") >= 1
    shot(browser, "explore_extended.png")
    assert js_errors(browser) == []


def search(driver, text: str) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, ".gm-search-input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    time.sleep(0.1)
    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, ".gm-search-results li")]


def test_search_village_and_grid_number_full_code_village_and_no_results(browser, sample_run, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    offline(browser)
    page = tmp_path / "map.html"
    write_map(sample_run, page)
    load(browser, page, len(sample_run.grids))
    g = sample_run.grids
    # the search box is reached within 3 Tab presses from the page's start
    browser.execute_script("document.activeElement && document.activeElement.blur(); window.focus();")
    body = browser.find_element(By.TAG_NAME, "body")
    presses = 0
    for presses in range(1, 4):  # noqa: B007 (the count is the result)
        body.send_keys(Keys.TAB) if presses == 1 else browser.switch_to.active_element.send_keys(Keys.TAB)
        if "gm-search-input" in (browser.switch_to.active_element.get_attribute("class") or ""):
            break
    assert "gm-search-input" in browser.switch_to.active_element.get_attribute("class"), presses
    # village name + grid number, with or without a space: exactly that grid
    mei = g[g["village_name"].str.startswith("梅园一村")]
    target = mei[mei["seq"].eq("002")]["grid_code"].iloc[0]
    for q in ("梅园一村 002", "梅园一村002", "梅园一村 2"):
        found = search(browser, q)
        assert len(found) == 1 and found[0].startswith(target), (q, found)
    # a grid number alone matches the sequence, never digits of the township code (310115005…)
    found = search(browser, "005")
    assert sorted(f.split(" · ")[0] for f in found) == sorted(g.loc[g["seq"].eq("005"), "grid_code"])
    # a full code: that grid; Enter opens it
    code = g["grid_code"].iloc[-1]
    assert [f.split(" · ")[0] for f in search(browser, code)] == [code]
    browser.find_element(By.CSS_SELECTOR, ".gm-search-input").send_keys(Keys.ENTER)
    time.sleep(0.3)
    popup = browser.execute_script(
        "var p=document.querySelector('.leaflet-popup-content'); return p ? p.textContent : ''"
    )
    assert popup.startswith(code)
    # a village by name: the village first
    found = search(browser, "连民")
    assert found and found[0].startswith("连民村村委会 · ")
    # nothing found says so
    found = search(browser, "不存在的村 009")
    assert found == ["没有找到 no results"]
    shot(browser, "search_no_results.png")
    assert js_errors(browser) == []


@pytest.mark.skipif(__import__("shutil").which("pdftotext") is None, reason="needs poppler-utils")
def test_report_prints_without_controls_and_repeats_table_headers(browser, hostile_run, tmp_path):
    import re
    import subprocess

    _, folder = hostile_run
    offline(browser)
    browser.get((folder / "report.html").as_uri())
    printed = browser.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True})
    out = tmp_path / "report.pdf"
    out.write_bytes(base64.b64decode(printed["data"]))
    text = subprocess.run(["pdftotext", str(out), "-"], check=True, capture_output=True, text=True).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    assert len(pages) > 1
    assert "下载 CSV" not in text and "筛选 filter" not in text  # controls are for the screen only
    # every page that continues the grids table starts it with the header row again
    # (the header's Chinese words: pdftotext interleaves a wrapped header's lines with its neighbours')
    header = browser.execute_script("return document.querySelector('#grids thead th').textContent").split()[0]
    with_rows = [p for p in pages if re.search(r"\b\d{15}\b", p)]
    assert len(with_rows) > 1 and all(header in p for p in with_rows), header


def make_mbtiles(path, bounds, zooms) -> int:
    """An MBTiles file (TMS rows, as the spec says) with one PNG per tile over `bounds`; returns the tile count."""
    import io
    import math
    import sqlite3

    from PIL import Image

    def tile(lon, lat, z):
        n = 2**z
        return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 230, 200)).save(buf, format="PNG")
    png = buf.getvalue()
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test"), ("format", "png")])
    count = 0
    for z in zooms:
        (x0, y0), (x1, y1) = tile(bounds[0], bounds[3], z), tile(bounds[2], bounds[1], z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                con.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, 2**z - 1 - y, png))
                count += 1
    con.commit()
    con.close()
    return count


def test_local_mbtiles_base_map_shows_offline(browser, sample_run, tmp_path):
    offline(browser)
    bounds = tuple(sample_run.grids.to_crs(4326).total_bounds)
    mb = tmp_path / "county.mbtiles"
    assert make_mbtiles(mb, bounds, range(12, 16)) > 0
    page = tmp_path / "map_mbtiles.html"
    write_map(sample_run, page, tiles=str(mb), tiles_attribution="县自然资源局 tiles")
    assert str(tmp_path) not in page.read_text(encoding="utf-8")  # the file's path stays out of the page
    load(browser, page, len(sample_run.grids))
    srcs = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.leaflet-tile-loaded')).map(function(i){return i.src;})"
    )
    assert sum(s.startswith("data:image/png") for s in srcs) > 0
    assert not browser.find_element("id", "gridmap-notice").is_displayed()
    assert "县自然资源局" in browser.find_element("css selector", ".leaflet-control-attribution").text
    shot(browser, "mbtiles_offline.png")
    assert js_errors(browser) == []


def test_a_measure_choropleth_is_offered_with_its_name_as_text_and_its_limit_in_the_legend(browser, town, tmp_path):
    import numpy as np

    import gridmap
    from gridmap.config import read_rules
    from partition.values import Limit

    hostile = "<img src=x onerror=window.__pwned=1>"
    addresses = town["addresses"].copy()
    addresses[hostile] = np.arange(len(addresses)) % 5 * 1.0
    rules = read_rules().with_measures(limits=[Limit(hostile, max=200)])
    result = gridmap.make_grids(addresses, town["boundaries"], options=gridmap.Options(rules=rules))
    page = tmp_path / "map.html"
    write_map(result, page, basemap="none")
    offline(browser)
    load(browser, page, len(result.grids))
    labels = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(function (s) { return s.textContent; });"
    )
    mine = [t for t in labels if hostile in t]
    assert len(mine) == 1  # the column name is shown as text, never run
    browser.execute_script(
        "var name = arguments[0];"
        "var box = Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".find(function (l) { return l.textContent.indexOf(name) >= 0; }).querySelector('input');"
        "box.click();",
        hostile,
    )
    time.sleep(0.5)
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-measure').length") == len(
        result.grids
    )
    legend = browser.execute_script("return document.getElementById('gridmap-legend').textContent")
    assert f"{hostile}=200" in legend
    assert browser.execute_script("return window.__pwned === undefined")
    assert not js_errors(browser)
    offline(browser, False)
