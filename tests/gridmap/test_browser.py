"""The map in a real headless Chromium, used as a person would: real mouse moves and clicks.

The default page is opened from file:// with every http(s) request blocked (it must work offline:
Leaflet is inlined); the run carries hostile names (``conftest.hostile_run``), and after hovering and
clicking every grid no injected handler may have run. Screenshots are kept in
``outputs/browser/`` (git-ignored; CI artifacts). Needs Debian's ``chromium`` and
``chromium-driver`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from gridmap.maps import write_map
from gridmap.options import Options
from tests.gridmap.conftest import NEEDS_CHROMIUM, REDRAWN, start_chromium

pytestmark = NEEDS_CHROMIUM
TILE_HOSTS = ("tile.openstreetmap.org", "autonavi.com", "tianditu.gov.cn")
SHOTS = Path(__file__).resolve().parents[2] / "outputs" / "browser"


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    # no network at all: only file:// pages load (tiles fail, as on an intranet without a tile server)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def js_errors(driver) -> list[str]:
    out = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if any(h in entry["message"] for h in TILE_HOSTS) or "favicon" in entry["message"]:
            continue  # tiles cannot load without network; that is not a page error
        out.append(entry["message"])
    return out


def settle(driver) -> None:
    """Wait until the map has stopped panning (popups auto-pan into view with an animation)."""
    for _ in range(50):
        if not driver.execute_script("var a=gridmap.map._panAnim; return !!(a && a._inProgress);"):
            return
        time.sleep(0.05)


def shot(driver, name: str) -> None:
    """Screenshot into outputs/browser once popups have finished fading in."""
    time.sleep(0.4)
    driver.save_screenshot(str(SHOTS / name))


def open_page(driver, page: Path, n_grids: int):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    WebDriverWait(driver, 20, ignored_exceptions=REDRAWN).until(
        lambda d: d.execute_script("return document.querySelectorAll('path.gridmap-grid').length") == n_grids
    )
    time.sleep(0.3)
    assert js_errors(driver) == []
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function(e){return e.name;})"
    )
    assert all(r.startswith(("file:", "data:")) or any(h in r for h in TILE_HOSTS) for r in resources), resources


def centre_on(driver, latlng, zoom: int) -> None:
    """Put a point at the centre of the map (as a user would by panning), then wait for redraw."""
    driver.execute_script(
        "gridmap.map.closePopup(); gridmap.map.setView(arguments[0], arguments[1], {animate:false});", latlng, zoom
    )
    time.sleep(0.05)


def hover_and_click_centre(driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    m = driver.find_element(By.CSS_SELECTOR, ".folium-map")
    ActionChains(driver).move_to_element_with_offset(m, 3, 3).move_to_element(m).perform()
    tip = driver.execute_script("var t=document.querySelector('.leaflet-tooltip'); return t ? t.textContent : '';")
    ActionChains(driver).click().perform()
    popup = driver.execute_script(
        "var p=document.querySelector('.leaflet-popup-content'); return p ? p.textContent : '';"
    )
    return tip, popup


def grid_props(driver) -> list[dict]:
    return driver.execute_script(
        "return JSON.parse(document.getElementById('gridmap-data').textContent)"
        ".grids.features.map(function(f){return f.properties;});"
    )


def test_every_grid_opens_on_hover_and_click_and_nothing_injected_runs(browser, hostile_run, tmp_path):
    result, _ = hostile_run
    page = tmp_path / "map.html"
    write_map(result, page)
    open_page(browser, page, len(result.grids))
    shot(browser, "hostile_overview.png")
    props = grid_props(browser)
    assert len(props) == len(result.grids)
    # as first shown: click each grid at its own screen position (where no control covers it)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    m = browser.find_element(By.CSS_SELECTOR, ".folium-map")
    size = m.size
    clicked = 0
    for p in props:
        settle(browser)  # a popup's auto-pan must finish before reading a screen position
        browser.execute_script("gridmap.map.closePopup();")  # the last grid's popup covers no other grid
        for _ in range(20):  # until it has faded out and left the page
            if not browser.execute_script("return document.querySelectorAll('.leaflet-popup').length;"):
                break
            time.sleep(0.05)
        x, y = browser.execute_script(
            "var q=gridmap.map.latLngToContainerPoint(arguments[0]); return [q.x, q.y];", p["lp"]
        )
        covered = browser.execute_script(
            "var e=document.elementFromPoint(arguments[0], arguments[1]); return !(e && e.closest && "
            "e.closest('path.gridmap-grid'));",
            x,
            y,
        )
        if covered:
            continue  # under the legend, search box or a label-less edge: reached below by panning
        ActionChains(browser).move_to_element_with_offset(
            m, int(x - size["width"] / 2), int(y - size["height"] / 2)
        ).click().perform()
        popup = browser.execute_script(
            "var q=document.querySelector('.leaflet-popup-content'); return q ? q.textContent : '';"
        )
        assert popup.startswith(p["c"]), (p["c"], popup)
        clicked += 1
    assert clicked >= len(props) * 0.8
    for p in props:
        centre_on(browser, p["lp"], 16)
        tip, popup = hover_and_click_centre(browser)
        assert p["c"] in tip and f"{p['h']:,}" in tip, (p["c"], tip)
        assert popup.startswith(p["c"]), (p["c"], popup)
        assert p["vn"] in popup  # the literal (hostile) village name, as text
        assert f"户数 households{p['h']:,}" in popup
    shot(browser, "hostile_popup.png")
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert (
        browser.execute_script(
            "return document.querySelectorAll('.leaflet-popup-content img, .leaflet-tooltip img').length"
        )
        == 0
    )
    assert js_errors(browser) == []


def test_search_layers_legend_and_language_like_a_user(browser, hostile_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    result, _ = hostile_run
    page = tmp_path / "map.html"
    write_map(result, page)
    open_page(browser, page, len(result.grids))
    wait = WebDriverWait(browser, 10, ignored_exceptions=REDRAWN)
    legend = browser.find_element(By.ID, "gridmap-legend").text
    assert "户数区间规则" in legend and "村民小组网格" in legend and "专属网格" in legend
    # the legend folds away (it may cover grids on a small screen) and opens again
    browser.find_element(By.CSS_SELECTOR, ".gm-legend-toggle").click()
    assert "户数区间规则" not in browser.find_element(By.ID, "gridmap-legend").text
    browser.find_element(By.CSS_SELECTOR, ".gm-legend-toggle").click()
    assert "户数区间规则" in browser.find_element(By.ID, "gridmap-legend").text
    # layer control starts collapsed; the scale is metric
    assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-expanded") == []
    scale = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-scale-line").text
    assert scale.endswith(("m", "km")) and "ft" not in scale and "mi" not in scale

    # search a grid code: type it, click the suggestion; the popup opens on that grid
    target = result.grids.sort_values("households").iloc[-1]
    box = browser.find_element(By.CSS_SELECTOR, ".gm-search-input")
    box.send_keys(target["grid_code"])
    item = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".gm-search-item")))
    assert target["grid_code"] in item.text
    item.click()
    popup = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".leaflet-popup-content")))
    assert popup.get_attribute("textContent").startswith(target["grid_code"])
    assert browser.execute_script("return gridmap.map.getZoom()") >= 15
    shot(browser, "search_grid.png")

    # search a village by (part of) its hostile name: the map fits it and outlines it
    village = result.boundaries.iloc[0]
    box.clear()
    box.send_keys(village["name"][:6])
    item = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".gm-search-item")))
    assert village["name"] in item.text
    z_before = browser.execute_script("return gridmap.map.getZoom()")
    item.click()
    time.sleep(0.3)
    assert browser.execute_script("return document.querySelectorAll('path[stroke=\"#00b7ff\"]').length") == 1
    b = (
        village.geometry.bounds
        if result.boundaries.crs.is_geographic
        else result.boundaries.to_crs(4326).iloc[0].geometry.bounds
    )
    if "autonavi.com" in browser.page_source:  # the default base map in China is Gaode: the page is in GCJ-02
        from geodata.crs import wgs84_to_gcj02

        xs, ys = wgs84_to_gcj02(np.array([b[0], b[2]]), np.array([b[1], b[3]]))
        b = (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))
    inside = browser.execute_script(
        "var b=gridmap.map.getBounds(); return b.contains([arguments[1],arguments[0]]) && "
        "b.contains([arguments[3],arguments[2]]);",
        *b,
    )
    assert inside and browser.execute_script("return gridmap.map.getZoom()") > z_before - 3
    shot(browser, "search_village.png")

    # open the layer control by hovering, switch the status layer off and the choropleth on
    control = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers")
    ActionChains(browser).move_to_element(control).perform()
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".leaflet-control-layers-overlays")))
    labels = browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label")
    by_text = {lab.text.strip(): lab for lab in labels}
    by_text["网格·工作量状态 grids by workload status"].click()
    by_text["户数分级 households per grid"].click()
    ActionChains(browser).move_by_offset(-600, 300).perform()
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-grid').length") == 0
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-choro').length") == len(result.grids)
    legend = browser.find_element(By.ID, "gridmap-legend").text
    assert "户数 (每格)" in legend and "401–500" in legend and "网格状态" not in legend
    # a click on a grid of the choropleth still opens its popup
    p = grid_props(browser)[0]
    centre_on(browser, p["lp"], 16)
    tip, popup = hover_and_click_centre(browser)
    assert popup.startswith(p["c"]) and p["c"] in tip
    shot(browser, "choropleth_popup.png")
    assert js_errors(browser) == []


def test_english_page_and_address_popups(browser, hostile_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    result, _ = hostile_run
    page = tmp_path / "map_en.html"
    write_map(result, page, lang="en")
    open_page(browser, page, len(result.grids))
    p = grid_props(browser)[0]
    centre_on(browser, p["lp"], 16)
    _, popup = hover_and_click_centre(browser)
    assert "households · 户数" in popup and "status · 状态" in popup
    # the address layer, switched on, draws one marker per address at street zoom; a click shows its popup
    browser.execute_script("gridmap.map.closePopup();")
    control = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers")
    ActionChains(browser).move_to_element(control).perform()
    [
        lab
        for lab in browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label")
        if "addresses" in lab.text
    ][0].click()
    a = result.addresses.to_crs(4326).iloc[0]
    x, y = a.geometry.x, a.geometry.y
    if "autonavi.com" in browser.page_source:  # the default base map in China is Gaode: the page is in GCJ-02
        from geodata.crs import wgs84_to_gcj02

        xs, ys = wgs84_to_gcj02(np.array([x]), np.array([y]))
        x, y = float(xs[0]), float(ys[0])
    centre_on(browser, [y, x], 18)
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-address').length") > 0
    _, popup = hover_and_click_centre(browser)
    assert a["grid_code"] in popup and a["building"] in popup
    shot(browser, "address_popup_en.png")
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert js_errors(browser) == []


def test_report_tables_sort_filter_download_and_link_to_the_grid_on_the_map(browser, hostile_run, tmp_path):
    import csv

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    result, folder = hostile_run
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.get((folder / "report.html").as_uri())
    table = browser.find_element(By.ID, "grids")
    # sort by households: click the header twice (ascending, then descending)
    header = [th for th in table.find_elements(By.CSS_SELECTOR, "thead th") if "households" in th.text][0]
    col = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")].index(header.text)
    header.click()
    header.click()
    shown = [
        int(r.find_elements(By.TAG_NAME, "td")[col].text.replace(",", ""))
        for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert shown == sorted(result.grids["households"], reverse=True)
    # filter by a (hostile) village name: only its grids stay visible
    name = result.boundaries["name"].iloc[1]
    box = browser.find_element(By.CSS_SELECTOR, "input.filter[data-table='grids']")
    box.send_keys(name)
    visible = [r for r in table.find_elements(By.CSS_SELECTOR, "tbody tr") if r.is_displayed()]
    assert len(visible) == int(result.grids["village_name"].eq(name).sum()) > 0
    shot(browser, "report_filtered.png")
    # download the filtered table as CSV: the rows shown, names neutralised for spreadsheets
    browser.find_element(By.CSS_SELECTOR, "button.csv[data-table='grids']").click()
    WebDriverWait(browser, 10, ignored_exceptions=REDRAWN).until(lambda d: (downloads / "grids.csv").exists())
    with open(downloads / "grids.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == len(visible) + 1
    assert all(r[1] in (name, "'" + name) for r in rows[1:])
    assert all(
        r[0].startswith("\t") and r[0].strip() in set(result.grids["grid_code"]) for r in rows[1:]
    )  # codes kept as text
    # a grid code in the report opens that grid on the map
    code = visible[0].find_element(By.TAG_NAME, "a")
    target = code.text
    code.click()
    popup = WebDriverWait(browser, 10, ignored_exceptions=REDRAWN).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, ".leaflet-popup-content"))
    )
    assert popup.get_attribute("textContent").startswith(target)
    shot(browser, "report_link_to_map.png")
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert js_errors(browser) == []


def test_province_index_links_to_township_maps_and_reports_like_a_user(browser, tmp_path):
    """A province run of the hostile sample: index.html shows names as text, its links open working pages."""
    from selenium.webdriver.common.by import By

    from gridmap import LayerSpec, grid_province
    from tests.gridmap.conftest import PAYLOADS, hostile_sample

    spec = hostile_sample(tmp_path)
    res = grid_province(
        LayerSpec(spec.path, "addresses"),
        LayerSpec(spec.path, "boundaries"),
        tmp_path / "prov",
        exclusive=LayerSpec(spec.path, "exclusive"),
        options=Options(workers=1, name=PAYLOADS[3]),
    )
    browser.get((tmp_path / "prov" / "index.html").as_uri())
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert PAYLOADS[3] in browser.find_element(By.TAG_NAME, "h1").text  # the run name, shown literally
    body = browser.find_element(By.TAG_NAME, "body").text
    assert PAYLOADS[0] + "0" in body and "崂山42二村" not in body  # village names in the index, as text
    links = browser.find_elements(By.PARTIAL_LINK_TEXT, "地图")
    townships = sorted(res.villages["county"].unique())
    assert len(links) == len(townships)
    links[0].click()  # a real click on the first township's map link opens that township's map
    assert browser.current_url.endswith(f"maps/{townships[0]}.html")
    n = len(res.dataset("grids", county=townships[0]))
    open_page(browser, tmp_path / "prov" / "maps" / f"{townships[0]}.html", n)
    tip, popup = hover_and_click_centre(browser)
    assert townships[0] in tip + popup  # a grid of that township answers hover and click
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    browser.back()
    browser.find_elements(By.PARTIAL_LINK_TEXT, "报告")[0].click()
    assert browser.current_url.endswith(f"reports/{townships[0]}.html")
    assert "网格" in browser.find_element(By.TAG_NAME, "body").text
    assert js_errors(browser) == []
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
