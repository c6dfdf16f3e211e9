"""Map size benchmark: HTML size and render time of the interactive map of a ~4,000-grid city.

A seeded synthetic city (benchmarks/synthetic.py) of 600,000 households gridded with a 100-200
household band gives about 4,000 grids; the map is written as by default (Leaflet inlined, works
offline), without display simplification, and with --cdn. With --browser, each page is opened in
headless Chromium (network blocked) and the time until every grid is drawn, and the time of a
zoom to street level (labels re-placed), are printed.

Usage::

    python benchmarks/map_size.py [--households 600000] [--min 100 --max 200] [--browser]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import make_town, run_files, write_inputs  # noqa: E402

from gridmap import LayerSpec  # noqa: E402
from gridmap.maps import write_map  # noqa: E402
from partition.rules import RuleSet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=600_000)
    ap.add_argument("--min", type=int, default=100)
    ap.add_argument("--max", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--browser", action="store_true", help="also time drawing in headless Chromium")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        town = make_town(args.households, seed=0)
        path = tmp / "city.gpkg"
        write_inputs(path, addresses=town.addresses, boundaries=town.boundaries, roads=town.roads)
        config = dict(
            addresses=LayerSpec(path, "addresses"),
            boundaries=LayerSpec(path, "boundaries"),
            barriers=(LayerSpec(path, "roads"),),
            rules=RuleSet.from_dict({}, min_households=args.min, max_households=args.max),
            workers=args.workers,
        )
        result = run_files(**config)
        print(
            f"{len(result.grids)} grids, {len(result.addresses):,} address points, "
            f"{int(result.addresses['households'].sum()):,} households"
        )
        driver = _browser() if args.browser else None
        for label, kw in (
            ("default (inlined), 1 m", {}),
            ("default (inlined), no simplification", {"tolerance_m": 0.0}),
            ("--cdn, 1 m", {"cdn": True}),
        ):
            t = time.perf_counter()
            out = tmp / "map.html"
            write_map(result, out, **kw)
            line = f"{label:38}: {out.stat().st_size / 1e6:6.1f} MB written in {time.perf_counter() - t:5.1f} s"
            if driver is not None and not kw.get("cdn"):
                drawn, zoom = _draw_times(driver, out, len(result.grids))
                line += f"; Chromium: all grids drawn {drawn:4.1f} s, zoom to 17 {zoom:4.2f} s"
            print(line)
        if driver is not None:
            driver.quit()


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*"]})
    return driver


def _draw_times(driver, page: Path, n: int) -> tuple[float, float]:
    t = time.perf_counter()
    driver.get(page.as_uri())
    while driver.execute_script("return document.querySelectorAll('path.gridmap-grid').length") < n:
        time.sleep(0.05)
    drawn = time.perf_counter() - t
    zoom = driver.execute_script(
        "var t=performance.now(); var c=gridmap.map.getCenter(); gridmap.map.setView(c, 17, {animate:false});"
        "return (performance.now()-t)/1000;"
    )
    return drawn, zoom


if __name__ == "__main__":
    main()
