"""Runs shared by the engine-level tests: a hostile-text run, and the sample run folder the editor tests open."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pyogrio
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

from geodata.sample import sample_path
from gridmap import LayerSpec, grid_files, sample_layers, write_run
from tests.helpers import run_files

PAYLOADS = (
    "崂山{{ 6*7 }}二村",
    "{% raw %}村{% endraw %}{{ config }}",
    "<img src=x onerror=window.__pwned=1>",
    "\"'><script>window.__pwned=2</script>",
    "=1+1",
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "\tTAB村",
    "\rCR村",
)
"""Hostile text: Jinja expressions and blocks, HTML/script injection, CSV/XLSX formula injection."""


def hostile_sample(folder) -> LayerSpec:
    """The bundled sample with payloads in village names, group names, buildings, compounds, exclusive names."""
    src = sample_path()
    out = folder / "hostile.gpkg"
    b = pyogrio.read_dataframe(src, layer="boundaries")
    b["name"] = [PAYLOADS[i % len(PAYLOADS)] + str(i) for i in range(len(b))]
    a = pyogrio.read_dataframe(src, layer="addresses")
    groups = sorted(a["group"].dropna().unique())
    a["group"] = a["group"].map({g: PAYLOADS[(i + 3) % len(PAYLOADS)] + g for i, g in enumerate(groups)})
    a["building"] = [PAYLOADS[i % len(PAYLOADS)] + str(v) for i, v in enumerate(a["building"])]
    a["compound"] = a["compound"].map(lambda v: v if v is None or v != v else PAYLOADS[2] + v)
    e = pyogrio.read_dataframe(src, layer="exclusive")
    e["name"] = [PAYLOADS[(i + 1) % len(PAYLOADS)] + str(n) for i, n in enumerate(e["name"])]
    for name, df in (
        ("boundaries", b),
        ("addresses", a),
        ("exclusive", e),
        ("barriers", pyogrio.read_dataframe(src, layer="barriers")),
    ):
        pyogrio.write_dataframe(df, out, layer=name, append=out.exists())
    return LayerSpec(out)


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory):
    """(result, run folder) of the hostile sample, written with maps and report."""
    folder = tmp_path_factory.mktemp("hostile")
    spec = hostile_sample(folder)
    result = run_files(
        **sample_layers(spec.path),
        liaison=(10, 15),
        name=PAYLOADS[0],
    )
    out = folder / "run"
    write_run(result, out)
    return result, out


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """The sample gridded from its files (so the manifest names the barrier file the editor checks), per module."""
    return grid_files(**sample_layers()).save(tmp_path_factory.mktemp("edit") / "run", maps=False)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NEEDS_CHROMIUM = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
        reason="needs chromium and chromium-driver (.ci/run installs them)",
    ),
]
"""``pytestmark`` of the real-browser test modules."""

REDRAWN = (NoSuchElementException, StaleElementReferenceException)
"""What a browser wait retries on: the page re-renders its panels and markers under us."""


def start_chromium():
    """Start headless Debian Chromium at 1400×900 with its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


@pytest.fixture
def port_8787_taken():
    """Hold 127.0.0.1:8787 (Dask's dashboard port) as another Dask or Jupyter process would; None if already held."""
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 8787))
        held.listen()
    except OSError:
        pass  # someone else holds it already: the same situation
    yield
    held.close()
