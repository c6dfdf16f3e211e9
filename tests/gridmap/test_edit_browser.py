"""The editor page in a real headless Chromium, driven with real pointer and key events (WebDriver actions).

A planner's day: pick the neighbouring grid as the brush, paint a unit into it and see its colour,
label, chart and problems change; drag the brush across several units; undo and redo from the
keyboard; give units to the brush with a box and with a lasso; merge two 村民小组 grids and see the
rural problem; split with a preview and save: the saved codes are the codes shown; reload after a
killed server and continue the edit log; reach the controls and the grid list by Tab.
Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); Leaflet is the copy
installed with gridmap (``gridmap/web``), served by the editor itself: no internet at run time.
"""

from __future__ import annotations

import itertools
import json
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


def serve(session: EditSession, **kwargs):
    """Run the editor on a free loopback port in a thread; returns (url, server)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(session, token=TOKEN, **kwargs), threaded=True)
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


def to_cell(browser, cell: int, zoom: int = 17) -> tuple[int, int]:
    """Centre the map on `cell` (no animation) and return its inner point in window pixels."""
    script = (
        "const ed = window.gridmapEditor; ed.map.setView(ed.state.cellPoint.get(arguments[0]), arguments[1],"
        " {animate: false}); const r = document.getElementById('map').getBoundingClientRect();"
        " const [x, y] = ed.cellPixel(arguments[0]); return [Math.round(r.left + x), Math.round(r.top + y)];"
    )
    return tuple(browser.execute_script(script, cell, zoom))


PIXEL = (
    "const r = document.getElementById('map').getBoundingClientRect(); const [x, y] = window.gridmapEditor"
    ".cellPixel(arguments[0]); return [Math.round(r.left + x), Math.round(r.top + y)];"
)
"""Window pixel of a cell's inner point, the map left where it is."""


def pixel(browser, x: int, y: int) -> tuple[int, int, int]:
    """Colour the cells' canvas shows at window point (x, y)."""
    script = (
        "const c = document.querySelector('#map canvas.gm-cells'); const r = c.getBoundingClientRect();"
        " const px = (arguments[0] - r.left) * c.width / r.width, py = (arguments[1] - r.top) * c.height / r.height;"
        " return Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data.slice(0, 3));"
    )
    return tuple(browser.execute_script(script, x, y))


def press_at(browser, points: list[tuple[int, int]]) -> None:
    """Real pointer: press at the first point, drag through the others, release."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(*points[0]).pointer_down()
    for p in points[1:]:
        actions.pointer_action.move_to_location(*p)
    actions.pointer_action.pointer_up()
    actions.perform()


def idle(d) -> bool:
    return d.find_element("tag name", "body").get_attribute("data-busy") in (None, "0")


def row(browser, key: str):
    return browser.find_element("css selector", f'#grid-list li[data-code="{key}"]')


def shows_the_engines_problems(browser, session: EditSession) -> bool:
    """Whether the page's problem list is the session's (the engine's) problems of the village, in its words."""
    expected = session.problems(VILLAGE)
    text = "\n".join(f"{p['grid_code']}：{p['text']}" for p in expected) if expected else "无 none"
    return browser.find_element("css selector", "#problems").text == text


def listed(browser) -> dict[str, str]:
    """Grid list: grid key → its row text."""
    return {li.get_attribute("data-code"): li.text for li in browser.find_elements("css selector", "#grid-list li")}


def keys(browser, *sequence) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(browser)
    for k in sequence:
        if isinstance(k, tuple):  # (modifier, ..., key)
            for m in k[:-1]:
                chain = chain.key_down(m)
            chain = chain.send_keys(k[-1])
            for m in reversed(k[:-1]):
                chain = chain.key_up(m)
        else:
            chain = chain.send_keys(k)
    chain.perform()


def test_planner_paints_a_unit_into_the_neighbouring_grid_and_sees_everything_change(browser, run_folder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    assert leaflet_assets()["dir"] is not None  # the installed copy: the page needs no internet
    session = EditSession.from_folder(run_folder)
    unit, a, b = clickable_unit(session)
    hh_unit = int(session.hh[unit])
    hh_a, hh_b = int(session.g_hh[session.by_code[a]]), int(session.g_hh[session.by_code[b]])
    other_b = next(  # a cell of b away from the unit: what b's colour looks like on the canvas
        int(c) for c in session.members(session.by_code[b]) if c != unit and session.area[c] > 400
    )
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
        assert browser.find_element(By.ID, "village").get_attribute("value") == VILLAGE
        # the neighbouring grid as the brush by its number key, then paint mode by its key
        number = list(listed(browser)).index(b) + 1
        keys(browser, str(number), "p")
        wait.until(lambda d: "brush" in row(d, b).get_attribute("class"))
        assert browser.find_element(By.ID, "paint").get_attribute("aria-pressed") == "true"
        bx, by = to_cell(browser, other_b)
        colour_b = pixel(browser, bx, by)
        x, y = to_cell(browser, unit)
        before = pixel(browser, x, y)
        assert before != colour_b
        bar = browser.find_element(By.CSS_SELECTOR, f'#chart rect[data-code="{b}"]')
        height = float(bar.get_attribute("height"))
        problems = browser.find_element(By.ID, "problems").text
        press_at(browser, [(x, y)])
        wait.until(lambda d: idle(d) and f"{hh_b + hh_unit} 户" in row(d, b).text)
        assert f"{hh_a - hh_unit} 户" in row(browser, a).text
        assert session.cell_grid[unit] == session.by_code[b]
        assert pixel(browser, x, y) == colour_b  # painted in b's colour
        labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".grid-label")]
        assert f"{b[-3:]} {hh_b + hh_unit}户" in labels and f"{a[-3:]} {hh_a - hh_unit}户" in labels
        bar = browser.find_element(By.CSS_SELECTOR, f'#chart rect[data-code="{b}"]')
        assert float(bar.get_attribute("height")) > height
        assert shows_the_engines_problems(browser, session)
        assert "已移动单元" in browser.find_element(By.ID, "message").text
        # keyboard undo and redo (focus off the inputs)
        browser.execute_script("document.activeElement.blur()")
        keys(browser, (Keys.CONTROL, "z"))
        wait.until(lambda d: idle(d) and f"{hh_b} 户" in row(d, b).text)
        assert pixel(browser, x, y) == before and browser.find_element(By.ID, "problems").text == problems
        keys(browser, (Keys.CONTROL, Keys.SHIFT, "z"))
        wait.until(lambda d: idle(d) and f"{hh_b + hh_unit} 户" in row(d, b).text)
        # every edit is measured from the pointer/key event to the frame that shows it
        measures = browser.execute_script(
            "return performance.getEntriesByName('gridmap:edit').map(m => [m.detail.op, m.duration])"
        )
        assert [op for op, _ in measures] == ["move", "undo", "redo"] and all(d > 0 for _, d in measures)
        # box: undo once more, then drag a small rectangle around the unit: it joins the brush grid again
        keys(browser, (Keys.CONTROL, "z"))
        wait.until(lambda d: idle(d) and f"{hh_b} 户" in row(d, b).text)
        browser.find_element(By.ID, "box").click()
        assert browser.find_element(By.ID, "box").get_attribute("aria-pressed") == "true"
        press_at(browser, [(x - 4, y - 4), (x, y), (x + 4, y + 4)])
        # the page shows the edit once its list has the new count (the server applies it before the page hears back)
        wait.until(lambda d: idle(d) and f"{hh_b + hh_unit} 户" in row(d, b).text)
        assert session.cell_grid[unit] == session.by_code[b]
        assert pixel(browser, x, y) == colour_b
        # closing the tab with unsaved edits asks first
        assert browser.execute_script(
            "const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e);"
            " return e.defaultPrevented;"
        )
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()


def test_a_lasso_drawn_with_the_pointer_gives_the_cells_inside_it_to_the_brush(browser, run_folder):
    import math

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    session = EditSession.from_folder(run_folder)
    unit, a, b = clickable_unit(session)
    other_b = next(int(c) for c in session.members(session.by_code[b]) if c != unit and session.area[c] > 400)
    url, server = serve(session)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 20, ignored_exceptions=REDRAWN)
        # the neighbouring grid as the brush: a click on one of its units on the map (no tool on)
        ActionChains(browser).click(row(browser, a)).perform()
        at_b = to_cell(browser, other_b)
        press_at(browser, [at_b])
        wait.until(lambda d: "brush" in row(d, b).get_attribute("class"))
        assert "brush" not in row(browser, a).get_attribute("class")
        browser.find_element(By.ID, "lasso").click()
        assert browser.find_element(By.ID, "lasso").get_attribute("aria-pressed") == "true"
        colour_b = pixel(browser, *at_b)
        x, y = to_cell(browser, unit)
        before = pixel(browser, x, y)
        assert before != colour_b

        def bar() -> float:
            return float(browser.find_element(By.CSS_SELECTOR, f'#chart rect[data-code="{b}"]').get_attribute("height"))

        height = bar()
        labels = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".grid-label")}
        # a closed loop of pointer moves, 6 px around the unit's inner point
        turns = [t / 8 * math.tau for t in range(9)]
        loop = [(round(x + 6 * math.cos(t)), round(y + 6 * math.sin(t))) for t in turns]
        press_at(browser, loop)
        wait.until(lambda d: idle(d) and session.cell_grid[unit] == session.by_code[b])
        hh_a, hh_b = (int(session.g_hh[session.by_code[k]]) for k in (a, b))
        wait.until(lambda d: f"{hh_b} 户" in row(d, b).text and f"{hh_a} 户" in row(d, a).text)
        assert [e["op"] for e in session.log] == ["move"]
        assert pixel(browser, x, y) == colour_b  # painted in the brush's colour
        now = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".grid-label")}
        assert {f"{b[-3:]} {hh_b}户", f"{a[-3:]} {hh_a}户"} <= now and now != labels
        assert bar() > height
        assert shows_the_engines_problems(browser, session)
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()


def drag_chain(session: EditSession, length: int = 3) -> tuple[list[int], str, str]:
    """`length` units of one grid in a chain (each touches the next), the first touching a neighbouring
    grid, such that the straight pointer path through their inner points stays inside them (2 m clear)
    and giving them all to that neighbour warns of nothing. Returns the chain and the two grids' codes."""
    inner = shapely.points(session.x, session.y)

    def clear(c: int, d: int) -> bool:
        both = shapely.buffer(shapely.union_all(session.geoms[[c, d]]), -2)
        return bool(shapely.contains(both, shapely.linestrings([inner[c].coords[0], inner[d].coords[0]])))

    def chains(path: list[int]):
        if len(path) == length:
            yield path
            return
        for d in map(int, session.adj[path[-1]].indices):
            same = session.cell_grid[d] == session.cell_grid[path[0]]
            if d not in path and same and session.area[d] > 400 and clear(path[-1], d):  # noqa: PLR2004
                yield from chains([*path, d])

    for c in map(int, session.village_cells[VILLAGE]):
        a = int(session.cell_grid[c])
        if session.area[c] < 400 or len(session.members(a)) < length + 2:  # noqa: PLR2004
            continue
        for b in sorted({int(session.cell_grid[j]) for j in session.adj[c].indices} - {a}):
            if session.g_village[b] != VILLAGE or session.g_type[b] != "base":
                continue
            for path in chains([c]):
                cells = np.array(path)
                if not 0 < session.hh[cells].sum() < session.g_hh[a] / 2:  # a keeps most: both keep their codes
                    continue
                if not session._move_warnings(cells, session.cell_grid[cells], b):
                    return path, session.code[a], session.code[b]
    raise AssertionError("no chain of units to drag the brush across in the sample")


def test_dragging_the_brush_across_units_of_the_neighbouring_grid_gives_it_every_unit_crossed(browser, run_folder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    session = EditSession.from_folder(run_folder)
    chain, a, b = drag_chain(session)
    gained = int(session.hh[chain].sum())
    hh_a, hh_b = int(session.g_hh[session.by_code[a]]), int(session.g_hh[session.by_code[b]])
    start = next(int(c) for c in session.members(session.by_code[b]) if session.area[c] > 400)  # noqa: PLR2004
    url, server = serve(session)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 20, ignored_exceptions=REDRAWN)
        keys(browser, str(list(listed(browser)).index(b) + 1), "p")  # b as the brush, paint mode
        wait.until(lambda d: "brush" in row(d, b).get_attribute("class"))
        colour_b = pixel(browser, *to_cell(browser, start, 18))
        to_cell(browser, chain[len(chain) // 2], 18)  # the chain in view; where each unit's inner point is now
        points = [tuple(browser.execute_script(PIXEL, c)) for c in chain]
        before = [pixel(browser, *p) for p in points]
        assert colour_b not in before
        bar = float(browser.find_element(By.CSS_SELECTOR, f'#chart rect[data-code="{b}"]').get_attribute("height"))
        labels = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".grid-label")}
        # press on the first unit, drag through the others in 3 px steps, release: one move on release
        path = [points[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            steps = max(1, round(max(abs(x1 - x0), abs(y1 - y0)) / 3))
            path += [
                (round(x0 + (x1 - x0) * k / steps), round(y0 + (y1 - y0) * k / steps)) for k in range(1, steps + 1)
            ]
        press_at(browser, path)
        wait.until(lambda d: idle(d) and f"{hh_b + gained} 户" in row(d, b).text)
        assert f"{hh_a - gained} 户" in row(browser, a).text
        assert [e["op"] for e in session.log] == ["move"]
        assert sorted(json.loads(session.log[0]["args"])["units"]) == sorted(chain)  # every unit crossed, no other
        assert all(session.cell_grid[c] == session.by_code[b] for c in chain)
        assert [pixel(browser, *p) for p in points] == [colour_b] * len(chain)  # each painted in b's colour
        now = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".grid-label")}
        assert {f"{b[-3:]} {hh_b + gained}户", f"{a[-3:]} {hh_a - gained}户"} <= now and now != labels
        assert (
            float(browser.find_element(By.CSS_SELECTOR, f'#chart rect[data-code="{b}"]').get_attribute("height")) > bar
        )
        assert shows_the_engines_problems(browser, session)
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()


def test_merging_two_village_group_grids_raises_the_rural_problem(browser, run_folder):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    rural = "310115103269"
    session = EditSession.from_folder(run_folder)
    a = session.grids_of(rural)[0]
    near = np.unique(session.cell_grid[np.unique(session.adj[session.members(a)].indices)])
    b = next(int(g) for g in near if g != a and session.g_village[g] == rural)
    url, server = serve(session)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 20, ignored_exceptions=REDRAWN)
        Select(browser.find_element(By.ID, "village")).select_by_value(rural)
        wait.until(
            lambda d: (
                d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1" and session.code[a] in listed(d)
            )
        )
        assert "村民小组" not in browser.find_element(By.ID, "problems").text
        ActionChains(browser).click(row(browser, session.code[a])).perform()
        ActionChains(browser).key_down(Keys.SHIFT).click(row(browser, session.code[b])).key_up(Keys.SHIFT).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "merge")).perform()
        wait.until(lambda d: idle(d) and session.code[b] not in listed(d))
        problems = browser.find_element(By.ID, "problems").text
        assert "含 2 个村民小组（规则为一组一格）。 / holds 2 village groups" in problems
        assert "several_groups" not in problems and "ok" not in listed(browser)[session.code[a]]
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()


def test_split_preview_then_save_carries_exactly_the_codes_shown(browser, run_folder, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    session = EditSession.from_folder(run_folder)
    big, other = f"{VILLAGE}002", f"{VILLAGE}004"  # merged: 798 households, the band 300-500 allows 2 grids
    url, server = serve(session, start_dir=tmp_path)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 30, ignored_exceptions=REDRAWN)
        n = len(listed(browser))
        ActionChains(browser).click(row(browser, big)).perform()
        assert not browser.find_elements(By.CSS_SELECTOR, "#k option")  # in band: no split offered
        ActionChains(browser).key_down(Keys.SHIFT).click(row(browser, other)).key_up(Keys.SHIFT).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "merge")).perform()
        wait.until(lambda d: idle(d) and len(listed(d)) == n - 1)
        ActionChains(browser).click(row(browser, big)).perform()
        counts = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#k option")]
        assert counts == [str(k) for k in session.split_counts(session.by_code[big])] == ["2"]
        Select(browser.find_element(By.ID, "k")).select_by_value("2")
        ActionChains(browser).click(browser.find_element(By.ID, "split")).perform()
        accept = wait.until(lambda d: d.find_element(By.ID, "split-accept"))
        wait.until(lambda d: accept.is_displayed())
        assert "拆分预览" in browser.find_element(By.ID, "message").text
        assert [e["op"] for e in session.log] == ["merge"]  # a preview changes nothing
        ActionChains(browser).click(accept).perform()
        wait.until(lambda d: idle(d) and len(listed(d)) == n)
        shown = {
            li.find_element(By.CSS_SELECTOR, ".code").text: int(
                li.find_element(By.CSS_SELECTOR, ".households").text.split()[0]
            )
            for li in browser.find_elements(By.CSS_SELECTOR, "#grid-list li")
        }
        assert not [c for c in shown if c.startswith("new")]  # a new grid shows its future code
        box = browser.find_element(By.ID, "out")
        ActionChains(browser).click(box).send_keys("edited").perform()
        assert browser.find_element(By.ID, "out-full").text == str(tmp_path / "edited")  # relative to the start
        ActionChains(browser).click(browser.find_element(By.ID, "save")).perform()
        wait.until(lambda d: "已保存到" in d.find_element(By.ID, "message").text)
        assert str(tmp_path / "edited") in browser.find_element(By.ID, "message").text
        # saving again to the same folder: refused first, then offered as a replacement of the own save
        ActionChains(browser).click(browser.find_element(By.ID, "save")).perform()
        wait.until(lambda d: d.find_element(By.ID, "overwrite").is_displayed())
        ActionChains(browser).click(browser.find_element(By.ID, "overwrite")).perform()
        wait.until(lambda d: "已保存到" in d.find_element(By.ID, "message").text)
        # never over the run being edited, even asked to
        ActionChains(browser).click(box).send_keys("x").perform()
        box.clear()
        ActionChains(browser).click(box).send_keys(str(run_folder)).perform()
        ActionChains(browser).click(browser.find_element(By.ID, "save")).perform()
        wait.until(lambda d: "正在调整的结果" in d.find_element(By.ID, "message").text)
        assert not browser.find_element(By.ID, "overwrite").is_displayed()
        assert not [e for e in errors(browser) if "409 (CONFLICT)" not in e]  # the two refusals answer 409
    finally:
        server.shutdown()
        server.server_close()
    saved = read_run(tmp_path / "edited")
    mine = saved.grids[saved.grids["village_code"].eq(VILLAGE)]
    assert dict(zip(mine["grid_code"], mine["households"], strict=True)) == shown


def test_reload_after_a_killed_server_continues_the_edit_log(browser, run_folder, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    journal = tmp_path / "run.edit-log.jsonl"
    session = EditSession.from_folder(run_folder)
    assert session.open_journal(journal) == 0
    unit, a, b = clickable_unit(session)
    hh_b = int(session.g_hh[session.by_code[b]] + session.hh[unit])
    url, server = serve(session)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 20, ignored_exceptions=REDRAWN)
        ActionChains(browser).click(row(browser, b)).perform()
        keys(browser, "p")
        press_at(browser, [to_cell(browser, unit)])
        wait.until(lambda d: idle(d) and f"{hh_b} 户" in row(d, b).text)
    finally:  # the server dies without saving
        server.shutdown()
        server.server_close()
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["op"] for line in lines] == ["run", "move"]  # the run it belongs to, then the edit
    again = EditSession.from_folder(run_folder)
    assert again.open_journal(journal) == 1
    url, server = serve(again)
    try:
        open_page(browser, url)
        wait = WebDriverWait(browser, 20, ignored_exceptions=REDRAWN)
        offer = browser.find_element(By.ID, "resume")
        assert offer.is_displayed() and "1 项调整" in offer.text
        assert f"{hh_b} 户" not in row(browser, b).text
        ActionChains(browser).click(browser.find_element(By.ID, "resume-yes")).perform()
        wait.until(lambda d: f"{hh_b} 户" in row(d, b).text)
        assert again.cell_grid[unit] == again.by_code[b]
        assert not browser.find_element(By.ID, "undo").get_attribute("disabled")  # the edit can be undone
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()


def test_an_edit_log_of_another_run_version_is_only_offered_for_discarding(browser, run_folder, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    session = EditSession.from_folder(run_folder)
    unit, _, b = clickable_unit(session)
    journal = tmp_path / "run.edit-log.jsonl"
    stale = [
        {"op": "run", "run": str(run_folder), "grids_sha256": "0" * 64},
        {"op": "move", "args": {"units": [unit], "to": b}},
    ]
    journal.write_text("".join(json.dumps(e) + "\n" for e in stale), encoding="utf-8")
    assert session.open_journal(journal) == 1
    url, server = serve(session)
    try:
        open_page(browser, url)
        offer = browser.find_element(By.ID, "resume")
        assert offer.is_displayed() and "另一版本" in offer.text and "another version" in offer.text
        assert not browser.find_element(By.ID, "resume-yes").is_displayed()
        ActionChains(browser).click(browser.find_element(By.ID, "resume-no")).perform()

        def ops() -> list[str]:
            return [json.loads(line)["op"] for line in journal.read_text(encoding="utf-8").splitlines()]

        # the discard reached the server and the log (read while being rewritten: not JSON yet, try again)
        WebDriverWait(browser, 20, ignored_exceptions=(ValueError,)).until(lambda d: ops() == ["run"])
        assert not session.undo_stack and session.journal_refusal is None and session.unsaved() == 0
        assert ops() == ["run"]
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()


def test_controls_and_grid_list_are_a_few_tabs_away_and_map_shapes_are_not_tab_stops(browser, run_folder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, server = serve(EditSession.from_folder(run_folder))
    try:
        open_page(browser, url)
        browser.find_element(By.TAG_NAME, "body").click()
        reached = []
        for _ in range(10):
            keys(browser, Keys.TAB)
            reached.append(browser.switch_to.active_element.get_attribute("id"))
        assert {"village", "paint", "box", "lasso", "grid-list"} <= set(reached), reached
        grid_list = browser.find_element(By.ID, "grid-list")
        assert grid_list.get_attribute("role") == "listbox" and grid_list.get_attribute("aria-labelledby")
        options = browser.find_elements(By.CSS_SELECTOR, "#grid-list li[role=option]")
        assert len(options) == len(listed(browser)) > 1
        # arrows move through the list, Enter takes the grid as the brush
        browser.execute_script("arguments[0].focus()", grid_list)
        keys(browser, Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ENTER)
        second = list(listed(browser))[1]
        assert "brush" in row(browser, second).get_attribute("class")
        assert browser.find_element(By.ID, "brush").text.startswith(second)
        focusable = browser.execute_script(
            "return document.querySelectorAll('#map path[tabindex], #map .leaflet-marker-icon[tabindex],"
            " #map canvas[tabindex]').length"
        )
        assert focusable == 0
        assert not errors(browser)
    finally:
        server.shutdown()
        server.server_close()
