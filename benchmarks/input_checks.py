"""Input-check benchmark: what reading and checking address points costs, by step, at 10k to 1M rows.

Writes a seeded CSV of N addresses (lon/lat in Shanghai, households, 村民小组, 1 % exact duplicate
rows) and times: reading it (encoding and separator found, coordinates parsed), the coordinate
plausibility check, the household/duplicate checks of ``validate_addresses`` and assigning every
point to a village (with the outside/in-hole split). Prints one table row per size.

Usage::

    python benchmarks/input_checks.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
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

from geodata import io as gio  # noqa: E402
from geodata import validate as gval  # noqa: E402


def _inputs(n: int, folder: Path) -> tuple[Path, gpd.GeoDataFrame]:
    rng = np.random.default_rng(0)
    lon = 121.40 + rng.random(n) * 0.2
    lat = 31.10 + rng.random(n) * 0.2
    df = pd.DataFrame({"lon": lon.round(7), "lat": lat.round(7), "households": rng.integers(1, 6, n),
                       "group": rng.integers(1, 9, n).astype(str) + "组"})
    dup = rng.choice(n, n // 100, replace=False)
    df = pd.concat([df, df.iloc[dup]], ignore_index=True)
    path = folder / f"hh_{n}.csv"
    df.to_csv(path, index=False, sep=";", encoding="gbk")
    cells = [shapely.box(121.40 + i * 0.02, 31.10 + j * 0.02, 121.42 + i * 0.02, 31.12 + j * 0.02) for i in range(10) for j in range(10)]
    cells[55] = cells[55].difference(cells[55].centroid.buffer(0.005))  # one boundary with a hole
    codes = [f"310115{100 + k // 99:03d}{1 + k % 99:03d}" for k in range(100)]
    bnd = gpd.GeoDataFrame({"code": codes}, geometry=cells, crs="EPSG:4326")
    return path, bnd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = ap.parse_args()
    print("| rows | read CSV (;, GBK) | coordinates | validate_addresses (all checks) | village of each point | total | per 1M rows |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for n in args.sizes:
            path, bnd = _inputs(n, Path(d))
            t0 = time.perf_counter()
            gdf = gio.read_layer(path).set_crs("EPSG:4326")
            t1 = time.perf_counter()
            report = gval.Report()
            gval.check_coordinates(gdf, file=str(path), report=report)
            t2 = time.perf_counter()
            addr, rep = gval.validate_addresses(gdf, file=str(path))
            t3 = time.perf_counter()
            b, _ = gval.validate_boundaries(bnd, file="bnd")
            _, vrep = gval.assign_villages(addr, b, file=str(path))
            t4 = time.perf_counter()
            dups = sum(len(p.ids) for p in rep.notes if p.kind == "duplicate_row")
            holes = sum(len(p.ids) for p in vrep.notes if p.kind == "address_in_hole")
            assert dups == n // 100 and holes > 0 and not report.errors
            total = t4 - t0
            print(f"| {len(gdf):,} | {t1 - t0:.2f} s | {t2 - t1:.2f} s | {t3 - t2:.2f} s | {t4 - t3:.2f} s | {total:.2f} s "
                  f"| {total / len(gdf) * 1e6:.1f} s |")


if __name__ == "__main__":
    main()
