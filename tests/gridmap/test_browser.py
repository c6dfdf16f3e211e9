"""The interactive map in a real headless Chromium: drawn, searchable, popups, no JavaScript errors.

The page's CDN files are served from npm packages installed for the test (once, into pytest's
cache) by a local HTTP server, and the ``--offline`` page is opened with no server at all.
Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and npm.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from geodata.sample import sample_path
from gridmap import LayerSpec
from gridmap.maps import write_map
from gridmap.offline import TAG, _file, _unused, install_assets, needed_packages
from tests.helpers import run_files

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists() and shutil.which("npm")),
    reason="needs chromium, chromium-driver and npm (.ci/run installs them)",
)
TILE_HOSTS = ("tile.openstreetmap.org", "autonavi.com", "tianditu.gov.cn")


@pytest.fixture(scope="module")
def run():
    p = sample_path()
    return run_files(**
        dict(
            addresses=LayerSpec(p, "addresses"), boundaries=LayerSpec(p, "boundaries"),
            exclusive=LayerSpec(p, "exclusive"), barriers=(LayerSpec(p, "barriers"),),
        )
    )


@pytest.fixture(scope="module")
def assets(request, run, tmp_path_factory):
    folder = Path(request.config.cache.mkdir("gridmap-web"))
    page = tmp_path_factory.mktemp("probe") / "map.html"
    write_map(run, page)
    html = page.read_text(encoding="utf-8")
    urls = [m["js"] or m["css"] for m in TAG.finditer(html)]
    if any(_file(u, folder) is None for u in urls if not _unused(u)):
        install_assets(needed_packages(html), folder=folder)
    return folder


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture
def served(assets, tmp_path):
    """A local HTTP server for the test folder and the npm packages; CDN URLs rewritten to it."""
    (tmp_path / "node_modules").symlink_to(assets / "node_modules")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def local_copy(html: str, base: str, assets: Path) -> str:
    def repl(m):
        url = m["js"] or m["css"]
        f = _file(url, assets)
        if f is None:
            return ""  # icon fonts the grid map never uses
        local = f"{base}/node_modules/{f.relative_to(assets / 'node_modules').as_posix()}"
        return m.group(0).replace(url, local)

    return TAG.sub(repl, html)


def js_errors(driver) -> list[str]:
    out = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if any(h in entry["message"] for h in TILE_HOSTS) or "favicon" in entry["message"]:
            continue  # tiles cannot load without internet; that is not a page error
        out.append(entry["message"])
    return out


def check_page(driver, url: str, run, shot: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: d.execute_script("return document.querySelectorAll('path.gridmap-grid').length") > 0)
    assert js_errors(driver) == []
    n_paths = driver.execute_script("return document.querySelectorAll('svg path.gridmap-grid').length")
    assert n_paths == len(run.grids)
    # the search box finds a known grid code and its popup shows the households
    target = run.grids.sort_values("households").iloc[-1]
    box = driver.find_element(By.CSS_SELECTOR, ".leaflet-control-search input.search-input")
    box.send_keys(target["grid_code"])
    tip = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".search-tip")))
    assert target["grid_code"] in tip.text
    tip.click()
    popup = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".leaflet-popup-content")))
    text = popup.get_attribute("textContent")  # the whole popup, also rows scrolled out of view
    assert target["grid_code"] in text
    assert f"{int(target['households']):,}" in text or str(int(target["households"])) in text
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    assert js_errors(driver) == []


def test_map_with_cdn_files_served_locally(browser, run, assets, served):
    folder, base = served
    page = folder / "map.html"
    write_map(run, page)
    page.write_text(local_copy(page.read_text(encoding="utf-8"), base, assets), encoding="utf-8")
    check_page(browser, f"{base}/map.html", run, folder / "map.png")


def test_offline_map_needs_no_server(browser, run, assets, tmp_path):
    page = tmp_path / "map_offline.html"
    write_map(run, page, offline=True, asset_folder=assets)
    assert "cdn.jsdelivr.net" not in page.read_text(encoding="utf-8")
    check_page(browser, page.as_uri(), run, tmp_path / "map_offline.png")
