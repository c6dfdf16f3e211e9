"""Editor click-to-paint in a real browser: median and p95 per operation, from the event to the painted frame.

Two cases, each gridded and opened in ``gridmap edit``'s app, driven in headless Debian Chromium
with real pointer and key events (WebDriver actions):

* **Denver blocks**: the twelve tracts of ``tests/data/denver_tracts.gpkg`` with 2020 census blocks
  as units (``--units``), as the editor tests use them.
* **Household points**: a community built from the 2020 block populations in
  ``../shared/data/us_denver_blocks_2020``: the blocks nearest the most populous block are taken
  until they hold >= 5,000 households (round(pop / 2.5), ESTIMATED), and every household becomes one
  address point at a random spot inside its block (seeded), as a 门牌 address list has one point per
  household. The community is the union of those blocks; every point is one cell.

The page records every edit as ``performance.measure('gridmap:edit')`` from the event that made it
(pointer release of a paint stroke, Ctrl+Z, a button click) to the animation frame after the
answer was drawn; every zoom or pan as ``gridmap:redraw`` from the end of the movement to the frame
the canvases were redrawn in, and every zoom also as ``gridmap:zoom`` from its start (Leaflet's
0.25 s zoom animation included). Operations: paint one border unit into the neighbouring grid
(brush picked first, not timed), undo (Ctrl+Z), redo (Ctrl+Shift+Z), merge two grids and split one
(preview, then accept: the accept click is timed), zoom in and out with the map's buttons, pan by
dragging the map with the pointer. The load average is printed with every table: the figures are
only as quiet as the machine.

Usage::

    python benchmarks/edit_browser.py               # 20 paints, 20 zooms, 20 pans per case
    python benchmarks/edit_browser.py --paints 40 --case points
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import run_files  # noqa: E402

from gridmap import LayerSpec  # noqa: E402
from gridmap.edit.server import create_app  # noqa: E402
from gridmap.edit.session import EditSession  # noqa: E402
from tests.gridmap.conftest import start_chromium  # noqa: E402
from tests.gridmap.test_edit_browser import keys, press_at, to_cell  # noqa: E402

TOKEN = "bench"


def household_points(tmp: Path, *, households: int = 5000, seed: int = 0) -> Path:
    """A community of one address point per household from Denver's 2020 blocks (see the module docstring)."""
    import pyogrio

    blocks = pyogrio.read_dataframe(
        SHARED / "data/us_denver_blocks_2020/DenverCo_blocks.zip", columns=["GEOID20", "TOTPOP20"]
    ).to_crs(32613)
    blocks["households"] = np.round(blocks["TOTPOP20"] / 2.5).astype(int)
    centre = shapely.centroid(blocks.geometry.values[int(blocks["households"].idxmax())])
    order = np.argsort(shapely.distance(blocks.geometry.values, centre))
    take = order[: int(np.searchsorted(np.cumsum(blocks["households"].to_numpy()[order]), households)) + 1]
    chosen = blocks.iloc[take]
    chosen = chosen[chosen["households"] > 0]
    rng = np.random.default_rng(seed)
    points = []
    for geom, n in zip(chosen.geometry.values, chosen["households"], strict=True):  # one block at a time: few
        x0, y0, x1, y1 = geom.bounds
        got: list = []
        while len(got) < n:
            cand = shapely.points(rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n))
            got.extend(cand[shapely.contains(geom, cand)][: n - len(got)])
        points.extend(got)
    addresses = gpd.GeoDataFrame(
        {"address_id": np.arange(len(points)), "households": 1, "village_code": "310115900001"},
        geometry=points,
        crs=blocks.crs,
    )
    boundary = gpd.GeoDataFrame(
        {"code": ["310115900001"], "name": ["Household points"], "urban_rural": ["111"]},
        geometry=[shapely.union_all(chosen.geometry.values)],
        crs=blocks.crs,
    )
    path = tmp / "points.gpkg"
    addresses.drop(columns="village_code").to_file(path, layer="addresses")
    boundary.to_file(path, layer="boundaries")
    result = run_files(LayerSpec(path, "addresses"), LayerSpec(path, "boundaries"))
    return result.save(tmp / "points-run", maps=False)


def denver_blocks(tmp: Path) -> Path:
    data = ROOT / "tests/data/denver_tracts.gpkg"
    result = run_files(LayerSpec(data, "addresses"), LayerSpec(data, "boundaries"), units=LayerSpec(data, "units"))
    return result.save(tmp / "denver-run", maps=False)


def border_unit(session: EditSession, village: str, rng: np.random.Generator) -> tuple[int, str] | None:
    """A household unit on a grid border whose move to the neighbour needs no confirmation."""
    cells = session.village_cells[village]
    for c in rng.permutation(cells)[:2000]:
        a = session.cell_grid[c]
        if session.hh[c] <= 0 or len(session.members(a)) < 3:  # noqa: PLR2004
            continue
        for j in session.adj[c].indices:
            b = session.cell_grid[j]
            if b != a and session.village[j] == village and session.g_type[b] == "base":
                if not session._move_warnings(np.array([c]), np.array([a]), b):
                    return int(c), session.code[b]
    return None


def wait(browser, cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - the page redraws under us
            pass
        time.sleep(0.02)
    raise SystemExit("the page did not answer in time")


def n_edits(browser) -> int:
    return browser.execute_script("return performance.getEntriesByName('gridmap:edit').length")


def view_changes(browser, zooms: int, pans: int) -> list[list]:
    """Zoom in and out with the map's buttons, then pan with real pointer drags; the page's redraw measures.

    Each redraw is measured from the end of the movement (Leaflet's ``zoomend``; for a drag the
    ``moveend`` after its inertia) to the frame the canvases were redrawn in.
    """
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    def count() -> int:
        return browser.execute_script("return performance.getEntriesByName('gridmap:redraw').length")

    def measured(change) -> None:
        n = count()
        change()
        wait(browser, lambda: count() > n)
        time.sleep(0.3)

    def drag(dx: int, dy: int) -> None:
        r = browser.execute_script(
            "const r = document.getElementById('map').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]"
        )
        x, y = int(r[0] + r[2] / 2), int(r[1] + r[3] / 2)
        actions = ActionBuilder(browser)
        actions.pointer_action.move_to_location(x, y).pointer_down()
        for step in range(1, 6):
            actions.pointer_action.move_to_location(x + dx * step // 5, y + dy * step // 5)
        actions.pointer_action.pointer_up()
        actions.perform()

    browser.execute_script("performance.clearMeasures('gridmap:redraw'); performance.clearMeasures('gridmap:zoom')")
    for _ in range(zooms // 2):
        for button in ("leaflet-control-zoom-in", "leaflet-control-zoom-out"):
            measured(lambda button=button: browser.find_element(By.CLASS_NAME, button).click())
    rows = browser.execute_script(
        "return performance.getEntriesByName('gridmap:redraw').map(m => ['zoom: redraw', m.duration])"
        ".concat(performance.getEntriesByName('gridmap:zoom').map(m => ['zoom: with animation', m.duration]))"
    )
    browser.execute_script("performance.clearMeasures('gridmap:redraw'); performance.clearMeasures('gridmap:zoom')")
    for i in range(pans):
        measured(lambda i=i: drag(*[(240, 0), (0, 160), (-240, 0), (0, -160)][i % 4]))
    return rows + browser.execute_script(
        "return performance.getEntriesByName('gridmap:redraw').map(m => ['pan: redraw', m.duration])"
    )


def drive(
    folder: Path, village: str | None, paints: int, seed: int, *, zooms: int = 20, pans: int = 20
) -> pd.DataFrame:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from werkzeug.serving import make_server

    session = EditSession.from_folder(folder)
    village = village or max(session.villages(), key=lambda v: len(session.village_cells[v]))
    server = make_server("127.0.0.1", 0, create_app(session, token=TOKEN), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = start_chromium()
    rng = np.random.default_rng(seed)
    try:
        browser.get(f"http://127.0.0.1:{server.server_port}/?token={TOKEN}")
        wait(browser, lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        browser.execute_script(
            "const s = document.getElementById('village'); s.value = arguments[0];"
            " s.dispatchEvent(new Event('change'));",
            village,
        )
        wait(browser, lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        time.sleep(0.5)

        def row(key: str):
            return browser.find_element(By.CSS_SELECTOR, f'#grid-list li[data-code="{key}"]')

        def edit(action) -> None:
            n = n_edits(browser)
            action()
            wait(browser, lambda: n_edits(browser) > n)

        keys(browser, "p")  # paint mode
        for _ in range(paints):
            found = border_unit(session, village, rng)
            if found is None:
                break
            cell, to = found
            row(to).click()  # the brush (not timed)
            point = to_cell(browser, cell)
            edit(lambda point=point: press_at(browser, [point]))
            edit(lambda: keys(browser, (Keys.CONTROL, "z")))
            edit(lambda: keys(browser, (Keys.CONTROL, Keys.SHIFT, "z")))
        keys(browser, Keys.ESCAPE)  # paint mode off
        browser.execute_script("window.gridmapEditor.map.fitBounds(window.gridmapEditor.map.getBounds())")
        for _ in range(5):  # merge two neighbouring grids, split the result, undo both
            gids = session.grids_of(village)
            a = max(gids, key=lambda g: session.g_hh[g])
            near = np.unique(session.cell_grid[np.unique(session.adj[session.members(a)].indices)])
            b = next((int(g) for g in near if g != a and session.g_type[g] == "base"), None)
            if b is None:
                break
            row(session.code[a]).click()
            from selenium.webdriver.common.action_chains import ActionChains

            ActionChains(browser).key_down(Keys.SHIFT).click(row(session.code[b])).key_up(Keys.SHIFT).perform()
            edit(lambda: browser.find_element(By.ID, "merge").click())
            row(session.code[a]).click()
            if browser.find_elements(By.CSS_SELECTOR, "#k option"):
                browser.find_element(By.ID, "split").click()
                wait(browser, lambda: browser.find_element(By.ID, "split-accept").is_displayed())
                edit(lambda: browser.find_element(By.ID, "split-accept").click())
                edit(lambda: keys(browser, (Keys.CONTROL, "z")))
            edit(lambda: keys(browser, (Keys.CONTROL, "z")))
        rows = browser.execute_script(
            "return performance.getEntriesByName('gridmap:edit').map(m => [m.detail.op, m.duration])"
        )
        rows += view_changes(browser, zooms, pans)
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()
    frame = pd.DataFrame(rows, columns=["op", "ms"])
    frame.attrs["cells"] = len(session.village_cells[village])
    frame.attrs["grids"] = len(session.grids_of(village))
    return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paints", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", choices=("blocks", "points", "both"), default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cases = []
        if args.case in ("blocks", "both"):
            cases.append(("Denver blocks", denver_blocks(tmp)))
        if args.case in ("points", "both"):
            cases.append(("household points", household_points(tmp)))
        for name, folder in cases:
            before = " ".join(f"{x:.1f}" for x in os.getloadavg())
            df = drive(folder, None, args.paints, args.seed)
            table = df.groupby("op")["ms"].agg(
                n="size", median="median", p95=lambda s: float(np.percentile(s, 95)), max="max"
            )
            after = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"\n{name}: one village/community of {df.attrs['cells']} cells, {df.attrs['grids']} grids")
            print(f"load average (1, 5, 15 min): {before} at the start, {after} at the end")
            print("milliseconds from the pointer/key event to the frame that shows the edit")
            print("(zoom, pan: from the end of the movement to the redrawn frame)")
            print(table.round(0).astype(int).to_string())


if __name__ == "__main__":
    main()
