"""Scale benchmark: per-stage wall time, peak memory and households per second of a full run.

Datasets (seeded):
  N = 100k, 300k, 1M   a synthetic city (benchmarks/synthetic.py) with one point per household:
                       households stand in apartment entrances inside walled compounds and in
                       low-rise houses, communities of ~5,000 households with 12-digit codes, roads
  denver               Denver 2020 blocks exploded into round(pop / 2.5) household points placed
                       uniformly at random inside their block (households ESTIMATED), tracts as
                       communities

Stages: read+validate (files read, inputs checked and in the work CRS), partition (tessellate,
graph, split; per community, in --workers processes), code, other (addresses labelled with their
grid, the violations layer, outputs back to the output CRS), write (GeoPackage, GeoJSON, CSV
roster, report), map (folium + PNG; timed separately with --map, and added in "with map s"). "cpu s" is the CPU time
of the run and its workers (comparable across machine load), "load" the 1-minute load average
before/after: the machine is shared, so wall times are only comparable at low load.

Usage::

    python benchmarks/scale.py                    # 100k 300k 1M denver
    python benchmarks/scale.py 100k --workers 2 --map
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver, make_town, write_inputs  # noqa: E402

import gridmap  # noqa: E402
from gridmap import LayerSpec, write_run  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def explode(addresses: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One point per household: an address of h households becomes h points at its spot."""
    hh = addresses["households"].to_numpy(int)
    idx = np.repeat(np.arange(len(addresses)), hh)
    out = addresses.iloc[idx].reset_index(drop=True)
    out["households"] = 1
    return out.drop(columns=["population"], errors="ignore")


def denver_points(seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Denver blocks exploded into household points placed at random inside each block."""
    addresses, tracts, units = denver(SHARED)
    rng = np.random.default_rng(seed)
    hh = addresses["households"].to_numpy(int)
    polys = units.geometry.values
    need = hh.copy()
    xs, ys, owner = [], [], []
    bounds = shapely.bounds(polys)
    while need.sum():
        k = np.flatnonzero(need)
        reps = np.repeat(k, need[k] * 2)  # oversample, keep those inside
        x = rng.uniform(bounds[reps, 0], bounds[reps, 2])
        y = rng.uniform(bounds[reps, 1], bounds[reps, 3])
        inside = shapely.contains_xy(polys[reps], x, y)
        reps, x, y = reps[inside], x[inside], y[inside]
        order = np.argsort(reps, kind="stable")
        reps, x, y = reps[order], x[order], y[order]
        rank = np.arange(len(reps)) - np.searchsorted(reps, reps)
        take = rank < need[reps]
        xs.append(x[take])
        ys.append(y[take])
        owner.append(reps[take])
        need -= np.bincount(reps[take], minlength=len(need))
    owner = np.concatenate(owner)
    pts = gpd.GeoDataFrame(
        {"households": 1, "building": addresses["building"].to_numpy()[owner]},
        geometry=shapely.points(np.concatenate(xs), np.concatenate(ys)),
        crs=addresses.crs,
    )
    # each household is its own unit here: drop the block id so points are not merged per block
    pts = pts.drop(columns="building")
    return pts, tracts


def peak_gib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024**2


def cpu_s() -> float:
    """User + system CPU seconds of this process and its finished workers (load-independent work)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load() -> float:
    """One-minute load average (the machine is shared: timings are only comparable at low load)."""
    return os.getloadavg()[0]


def run_case(name: str, inputs: Path, *, layers: dict[str, str], workers: int, draw_map: bool) -> dict:
    load_before, c0 = load(), cpu_s()
    t0 = time.perf_counter()
    # as run_files / `gridmap partition`: read the files, then make the grids; timed apart
    frames = gridmap.read_inputs(
        LayerSpec(inputs, layers["addresses"]),
        LayerSpec(inputs, layers["boundaries"]),
        barriers=(LayerSpec(inputs, layers["roads"]),) if "roads" in layers else (),
    ).frames()
    t_read = time.perf_counter() - t0
    result = gridmap.make_grids(**frames, options=gridmap.Options(workers=workers))
    del frames  # as in run_files, the frames read are not kept while the outputs are written
    t_run = time.perf_counter() - t0
    out = inputs.parent / f"run_{name}"
    t = time.perf_counter()
    write_run(result, out, maps=False)
    t_write = time.perf_counter() - t
    t_map = float("nan")
    if draw_map:
        from gridmap import maps as gmaps

        t = time.perf_counter()
        gmaps.write_map(result, out / "map.html")
        t_map = time.perf_counter() - t
    timings = json.loads((out / "manifest.json").read_text())["timings_s"]
    hh = float(result.addresses["households"].sum())
    total = t_run + t_write
    return {
        "dataset": name,
        "points": len(result.addresses),
        "households": int(hh),
        "communities": int(result.manifest["counts"]["villages"]),
        "grids": len(result.grids),
        "read+validate s": round(t_read + timings["read_validate"], 1),
        "partition s": round(timings["partition"], 1),
        "code s": round(timings["code"], 1),
        "other s": round(t_run - t_read - timings["read_validate"] - timings["partition"] - timings["code"], 1),
        "write s": round(t_write, 1),
        "end-to-end s": round(total, 1),
        "map s": round(t_map, 1),
        "with map s": round(total + t_map, 1),
        "households/s": int(hh / total),
        "cpu s": round(cpu_s() - c0, 1),
        "load": f"{load_before:.1f}/{load():.1f}",
        "peak GiB": round(peak_gib(), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", default=["100k", "300k", "1M", "denver"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--map", action="store_true", help="also time the interactive map")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in args.datasets:
            t = time.perf_counter()
            path = tmp / f"{name}.gpkg"
            if name == "denver":
                pts, tracts = denver_points(args.seed)
                write_inputs(path, addresses=pts, boundaries=tracts)
                layers = {"addresses": "addresses", "boundaries": "boundaries"}
            else:
                n = int(float(name.lower().replace("k", "e3").replace("m", "e6")))
                town = make_town(n, seed=args.seed)
                write_inputs(path, addresses=explode(town.addresses), boundaries=town.boundaries, roads=town.roads)
                layers = {"addresses": "addresses", "boundaries": "boundaries", "roads": "roads"}
            print(f"[{name}] inputs generated in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
            row = run_case(name, path, layers=layers, workers=args.workers, draw_map=args.map)
            rows.append(row)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
    print("\nSummary (peak GiB is the largest of this process and any worker, so it grows monotonically)")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
