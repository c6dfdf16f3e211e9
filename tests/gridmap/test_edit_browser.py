"""The editor page in a real headless Chromium, driven with real mouse events (Selenium ActionChains).

A planner's round trip: pick the village, click a unit on the map, move it to the next grid, see
the panel's household counts change, undo, redo, save, and open the saved run in the editor again.
Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); Leaflet is the copy
installed with gridmap (``gridmap/web``), served by the editor itself: no internet at run time.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import shapely

from gridmap import read_run
from gridmap.edit.server import create_app, leaflet_assets
from gridmap.edit.session import EditSession
from tests.gridmap.conftest import NEEDS_CHROMIUM, REDRAWN, start_chromium

pytestmark = NEEDS_CHROMIUM
TOKEN = "browser-token"
VILLAGE = "310115005001"
TILE_HOSTS = ("tile.openstreetmap.org",)


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


def serve(session: EditSession):
    """Run the editor on a free loopback port in a thread; returns (url, server)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(session, token=TOKEN), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/?token={TOKEN}", server


def open_page(browser, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 30, ignored_exceptions=REDRAWN).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1"
    )


def clickable_unit(session: EditSession) -> tuple[int, str, str]:
    """A unit with households on a border between two grids, whose bounding-box centre is inside it.

    Its grid keeps most of its households, so the grid keeps its code.
    """
    for c in session.village_cells[VILLAGE]:
        a = session.cell_grid[c]
        geom = session.geoms[c]
        if session.hh[c] <= 0 or len(session.members(a)) < 3 or session.area[c] < 400:
            continue
        if session.hh[c] >= session.g_hh[a] / 2:
            continue
        box = shapely.envelope(geom)
        if not shapely.contains(shapely.buffer(geom, -3), shapely.centroid(box)):
            continue
        for j in session.adj[c].indices:
            b = session.cell_grid[j]
            if b != a and session.village[j] == VILLAGE and not session._move_warnings(np.array([c]), np.array([a]), b):
                return int(c), session.code[a], session.code[b]
    raise AssertionError("no clickable border unit in the sample")


def settled(browser, element, timeout: float = 20.0):
    """Wait until `element` sits inside the window and has stopped moving (the map's fit animation is over)."""
    import time

    script = (
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height, window.innerWidth, window.innerHeight];"
    )
    last, end = None, time.monotonic() + timeout
    while time.monotonic() < end:
        x, y, w, h, vw, vh = browser.execute_script(script, element)
        cx, cy = x + w / 2, y + h / 2
        now = (round(x), round(y), round(w), round(h))
        if 0 < cx < vw and 0 < cy < vh and now == last:
            return element
        last = now
        time.sleep(0.25)
    raise AssertionError(f"element never settled inside the window (last rect {last})")


def errors(browser) -> list[str]:
    logs = browser.get_log("browser")
    return [e["message"] for e in logs if e["level"] == "SEVERE" and not any(h in e["message"] for h in TILE_HOSTS)]


def test_planner_moves_a_unit_undoes_redoes_saves_and_reopens(browser, run_folder, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    assert leaflet_assets()["dir"] is not None  # the installed copy: the page needs no internet
    session = EditSession.from_folder(run_folder)
    unit, a, b = clickable_unit(session)
    hh_unit = int(session.hh[unit])
    hh_a, hh_b = int(session.g_hh[session.by_code[a]]), int(session.g_hh[session.by_code[b]])
    # text from the run is data: a village name written as HTML must show as text and run nothing
    payload = "<img src=x onerror=\"document.title='pwned'\">梅园"
    session.village_name[VILLAGE] = payload
    url, server = serve(session)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 20, ignored_exceptions=REDRAWN)
        option = browser.find_element(By.CSS_SELECTOR, f'#village option[value="{VILLAGE}"]')
        assert payload in option.text and browser.title != "pwned"
        assert not browser.find_elements(By.CSS_SELECTOR, "#panel img")
        Select(browser.find_element(By.ID, "village")).select_by_value(VILLAGE)
        cell = settled(browser, wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"path.unit-{unit}")))
        ActionChains(browser).move_to_element(cell).click().perform()
        wait.until(lambda d: d.find_element(By.ID, "sel-units").text == "1")
        Select(browser.find_element(By.ID, "move-to")).select_by_value(b)

        def households(code: str) -> str:
            return browser.find_element(By.CSS_SELECTOR, f'#figures tr[data-code="{code}"] td.households').text

        wait.until(lambda d: households(a) == str(hh_a) and households(b) == str(hh_b))
        ActionChains(browser).click(browser.find_element(By.ID, "move")).perform()
        wait.until(lambda d: households(a) == str(hh_a - hh_unit) and households(b) == str(hh_b + hh_unit))
        assert session.cell_grid[unit] == session.by_code[b]
        ActionChains(browser).click(browser.find_element(By.ID, "undo")).perform()
        wait.until(lambda d: households(a) == str(hh_a) and households(b) == str(hh_b))
        assert not browser.find_element(By.ID, "redo").get_attribute("disabled")
        ActionChains(browser).click(browser.find_element(By.ID, "redo")).perform()
        wait.until(lambda d: households(a) == str(hh_a - hh_unit))
        # box select: drag a rectangle around the unit (real mouse down, move, up)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-busy") == "0")
        ActionChains(browser).click(browser.find_element(By.ID, "clear")).perform()
        wait.until(lambda d: d.find_element(By.ID, "sel-units").text == "0")
        ActionChains(browser).click(browser.find_element(By.ID, "box")).perform()
        cell = settled(browser, browser.find_element(By.CSS_SELECTOR, f"path.unit-{unit}"))
        ActionChains(browser).move_to_element_with_offset(cell, -4, -4).click_and_hold().move_by_offset(
            8, 8
        ).release().perform()
        wait.until(lambda d: int(d.find_element(By.ID, "sel-units").text) >= 1)
        ActionChains(browser).click(browser.find_element(By.ID, "box")).perform()
        # lasso: draw a triangle around the unit
        ActionChains(browser).click(browser.find_element(By.ID, "clear")).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "lasso")).perform()
        cell = settled(browser, browser.find_element(By.CSS_SELECTOR, f"path.unit-{unit}"))
        (
            ActionChains(browser)
            .move_to_element_with_offset(cell, 0, -6)
            .click_and_hold()
            .move_by_offset(6, 10)
            .move_by_offset(-12, 0)
            .move_by_offset(6, -10)
            .release()
            .perform()
        )
        wait.until(lambda d: int(d.find_element(By.ID, "sel-units").text) >= 1)
        ActionChains(browser).click(browser.find_element(By.ID, "lasso")).perform()
        out = tmp_path / "edited"
        box = browser.find_element(By.ID, "out")
        ActionChains(browser).click(box).send_keys(str(out)).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "save")).perform()
        wait.until(lambda d: "Saved" in d.find_element(By.ID, "message").text)
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()
    saved = read_run(out)
    counts = saved.grids.set_index("grid_code")["households"]
    assert counts[a] == hh_a - hh_unit and counts[b] == hh_b + hh_unit
    # the saved run opens in the editor again, with the moved unit in its new grid
    reopened = EditSession.from_folder(out)
    url, server = serve(reopened)
    try:
        open_page(browser, url)
        items = browser.find_elements(By.CSS_SELECTOR, "#grid-list li")
        listed = {li.get_attribute("data-code") for li in items}
        assert {a, b} <= listed
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()


def test_planner_merges_splits_and_locks_from_the_grid_list(browser, run_folder):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    session = EditSession.from_folder(run_folder)
    a, b = f"{VILLAGE}002", f"{VILLAGE}003"
    total = int(session.g_hh[session.by_code[a]] + session.g_hh[session.by_code[b]])
    url, server = serve(session)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 20, ignored_exceptions=REDRAWN)
        Select(browser.find_element(By.ID, "village")).select_by_value(VILLAGE)

        def item(code: str):
            return browser.find_element(By.CSS_SELECTOR, f'#grid-list li[data-code="{code}"]')

        def listed() -> set[str]:
            return {li.get_attribute("data-code") for li in browser.find_elements(By.CSS_SELECTOR, "#grid-list li")}

        def idle(d) -> bool:
            return d.find_element(By.TAG_NAME, "body").get_attribute("data-busy") == "0"

        wait.until(lambda d: a in listed())
        before = listed()
        ActionChains(browser).click(item(a)).perform()
        ActionChains(browser).key_down(Keys.SHIFT).click(item(b)).key_up(Keys.SHIFT).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "merge")).perform()
        wait.until(lambda d: idle(d) and listed() == before - {b})
        assert f"{total} 户" in item(a).text  # the merged grid's count, shown in the list
        ActionChains(browser).click(item(a)).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "split")).perform()
        wait.until(lambda d: idle(d) and len(listed()) == len(before))
        new = (listed() - before).pop()
        assert new.startswith("new-")
        ActionChains(browser).click(item(new)).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "lock")).perform()
        wait.until(lambda d: idle(d) and "locked" in item(new).text)
        assert session.locked[session.by_code[new]]
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()
