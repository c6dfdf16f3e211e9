"""Shared fixtures: tiny hand-built villages in a metric CRS, and writers of input files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridmap.options import Options

UTM = "EPSG:32651"  # Shanghai's UTM zone: every constructed case lives here
ORIGIN = (350_000.0, 3_460_000.0)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
collect_ignore = ["data"]  # scripts that make the test data; doctest collection must not run them


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run the slow real-data tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def grid_points(nx: int, ny: int, *, spacing: float = 20.0, households: int = 10, origin=ORIGIN) -> gpd.GeoDataFrame:
    """Points on a regular nx × ny lattice (row-major from the south-west), each with `households`."""
    xs, ys = np.meshgrid(np.arange(nx) * spacing + spacing / 2, np.arange(ny) * spacing + spacing / 2)
    pts = shapely.points(xs.ravel() + origin[0], ys.ravel() + origin[1])
    n = len(pts)
    return gpd.GeoDataFrame(
        {"households": np.full(n, float(households)), "population": np.full(n, households * 2.5)}, geometry=pts, crs=UTM
    )


def square(w: float, h: float, *, origin=ORIGIN):
    """Axis-aligned rectangle w × h metres from `origin` (south-west corner)."""
    return shapely.box(origin[0], origin[1], origin[0] + w, origin[1] + h)


@pytest.fixture
def town(tmp_path: Path) -> dict[str, Path]:
    """A small town as files: two communities (urban band) and one village with 村民小组.

    ::

        +--------------+--------------+-----------+
        | community A  | community B  | village C |
        | 30×10 lattice| 20×10 lattice| 3 groups  |
        | 10 hh/point  | 10 hh/point  | 2 hh/pt   |
        +--------------+--------------+-----------+
              600 m          400 m        300 m    (all 200 m tall)
    """
    a = grid_points(30, 10)
    b = grid_points(20, 10, origin=(ORIGIN[0] + 600, ORIGIN[1]))
    c = grid_points(15, 10, households=2, origin=(ORIGIN[0] + 1000, ORIGIN[1]))
    c["group"] = np.where(
        c.geometry.x < ORIGIN[0] + 1100, "第1组", np.where(c.geometry.x < ORIGIN[0] + 1200, "第2组", "第3组")
    )
    addresses = gpd.GeoDataFrame(gpd.pd.concat([a, b, c], ignore_index=True), geometry="geometry", crs=UTM)
    boundaries = gpd.GeoDataFrame(
        {
            "code": ["310115005001", "310115005003", "310115103269"],
            "name": ["社区A", "社区B", "七星村"],
            "urban_rural": ["111", "111", "220"],
        },
        geometry=[
            square(600, 200),
            square(400, 200, origin=(ORIGIN[0] + 600, ORIGIN[1])),
            square(300, 200, origin=(ORIGIN[0] + 1000, ORIGIN[1])),
        ],
        crs=UTM,
    )
    path = tmp_path / "town.gpkg"
    addresses.to_file(path, layer="addresses")
    boundaries.to_file(path, layer="boundaries")
    return {"gpkg": path, "addresses": addresses, "boundaries": boundaries}


@pytest.fixture(scope="session")
def sample_frames() -> dict[str, gpd.GeoDataFrame]:
    """The bundled sample's layers, read once per test session."""
    from geodata.sample import SAMPLE_LAYERS, sample_path

    return {name: gpd.read_file(sample_path(), layer=name) for name in SAMPLE_LAYERS}


@pytest.fixture(scope="session")
def sample_run(sample_frames):
    """The demo's grids (sample, exclusive areas, barriers, 联户 10-15), made once per session."""
    import gridmap

    s = sample_frames
    return gridmap.make_grids(
        s["addresses"],
        s["boundaries"],
        exclusive=s["exclusive"],
        barriers=s["barriers"],
        options=Options(liaison=(10, 15), name="sample"),
    )


@pytest.fixture(scope="session")
def sample_run_dir(sample_run, tmp_path_factory) -> Path:
    """The sample run saved as a run folder (with map and report), once per session."""
    return sample_run.save(tmp_path_factory.mktemp("sample") / "run")
