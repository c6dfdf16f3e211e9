"""Walks and worker areas on the map, in a real headless Chromium: drawn, in the layer control, names as text."""

from __future__ import annotations

import time

import geopandas as gpd
import pandas as pd
import pytest

import gridmap
from geodata.sample import sample_path
from gridmap.maps import write_map
from tests.gridmap.conftest import NEEDS_CHROMIUM, PAYLOADS, REDRAWN, start_chromium
from tests.gridmap.test_browser import js_errors

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*"]})
    yield driver
    driver.quit()


def test_worker_areas_and_walks_are_drawn_and_named_as_text(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    p = sample_path()
    run = gridmap.make_grids(
        gpd.read_file(p, layer="addresses"),
        gpd.read_file(p, layer="boundaries"),
        barriers=gpd.read_file(p, layer="barriers"),
    )
    names = [f"{PAYLOADS[2 + i % 2]}{i}" for i in range(6)]  # <img onerror> and <script> in the names
    staffed = gridmap.assign_workers(gridmap.walk_grids(run), pd.DataFrame({"worker": names}))
    page = tmp_path / "map.html"
    write_map(staffed, page, basemap="none")
    browser.get(page.as_uri())
    WebDriverWait(browser, 20, ignored_exceptions=REDRAWN).until(
        lambda d: d.execute_script("return document.querySelectorAll('path.gridmap-worker').length") == 6
    )
    time.sleep(0.5)
    assert js_errors(browser) == []
    assert browser.execute_script("return window.__pwned === undefined")
    control = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers")
    labels = control.get_attribute("textContent")
    assert "网格员责任区" in labels and "步行路线" in labels
    # the walks layer is off at first; switched on it draws one dashed line and one service point per grid walked
    walks = len(staffed.walks)
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-walk').length") == 0
    ActionChains(browser).move_to_element(control).perform()
    box = next(
        lab.find_element(By.TAG_NAME, "input")
        for lab in control.find_elements(By.TAG_NAME, "label")
        if "步行路线" in lab.get_attribute("textContent")
    )
    box.click()
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script("return document.querySelectorAll('path.gridmap-walk').length") == walks
    )
    assert browser.execute_script("return document.querySelectorAll('path.gridmap-service').length") == walks
    # a worker's tooltip shows the name as text, not as markup
    shown = browser.execute_script(
        """var out = [];
        document.querySelectorAll('path.gridmap-worker').forEach(function (p) {
          p.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 600, clientY: 400}));
          var t = document.querySelector('.leaflet-tooltip .gm-tip b');
          if (t) out.push(t.textContent);
          p.dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));
        });
        return out;"""
    )
    assert shown and set(shown) <= set(names)
    assert (
        browser.execute_script(
            "return document.querySelectorAll('.leaflet-tooltip img, .leaflet-tooltip script').length"
        )
        == 0
    )
    assert browser.execute_script("return window.__pwned === undefined")
