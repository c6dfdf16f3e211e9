"""Walking distance and worker assignment benchmark: figures printed for the README.

walk    the bundled sample (Lujiazui, Shanghai: addresses in the real OSM compounds) with the real OSM
        roads of ../shared/data/cn_shanghai_lujiazui_osm as streets (subway and funicular lines
        dropped), and with the sample's barrier lines (major roads) as the default: walk_m per
        grid, households on streets not connected to the service point, time
assign  Denver 2020 blocks (../shared/data; households = round(pop / 2.5), ESTIMATED; 178 tracts as
        communities, blocks as units) gridded as in partition_quality.py, then 60 workers by
        households: load per worker max/min, CV, contiguous areas, time

Usage::

    python benchmarks/workload.py            # walk assign
    python benchmarks/workload.py walk
    python benchmarks/workload.py assign --workers 60
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver  # noqa: E402

import gridmap  # noqa: E402
from geodata.sample import sample_path  # noqa: E402
from partition.measures import summary  # noqa: E402

OSM = SHARED / "data" / "cn_shanghai_lujiazui_osm" / "shanghai_lujiazui_osm.gpkg"
NOT_WALKED = ("subway", "funicular")


def walk() -> None:
    """Walking distance on the sample with the real OSM roads, and with its barrier lines."""
    p = sample_path()
    layers = {n: gpd.read_file(p, layer=n) for n in ("addresses", "boundaries", "exclusive", "barriers")}
    run = gridmap.make_grids(
        layers["addresses"], layers["boundaries"], exclusive=layers["exclusive"], barriers=layers["barriers"]
    )
    roads = pyogrio.read_dataframe(OSM, layer="roads")
    roads = roads[~roads["kind_detail"].isin(NOT_WALKED)]
    urban = run.grids["rule"].eq("household_band").to_numpy()
    print("| streets | street pieces | grids with walk | urban grids: median / p90 / max walk_m | "
          "households not reached | time |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, streets in ((f"OSM roads ({len(roads)} lines)", roads), ("sample barriers (major roads)", None)):
        t = time.perf_counter()
        out = gridmap.walk_grids(run, streets)
        secs = time.perf_counter() - t
        w = out.grids["walk_m"].to_numpy(float)
        u = w[urban]
        m = out.manifest["walk"]
        print(
            f"| {label} | {m['street_edges']:,} | {int(np.isfinite(w).sum())}/{len(w)} | "
            f"{np.nanmedian(u):,.0f} / {np.nanpercentile(u, 90):,.0f} / {np.nanmax(u):,.0f} m | "
            f"{m['households_unreached']:,.0f} | {secs:.2f} s |"
        )


def assign(workers: int) -> None:
    """Denver gridded as in partition_quality.py, then `workers` workers balanced by households."""
    addresses, tracts, units = denver(SHARED / "data")
    t = time.perf_counter()
    run = gridmap.make_grids(addresses, tracts, units=units, options=gridmap.Options(workers=1))
    grid_secs = time.perf_counter() - t
    t = time.perf_counter()
    staffed = gridmap.assign_workers(run, workers)
    secs = time.perf_counter() - t
    w = staffed.workers
    assert w is not None
    hh = w["households"].to_numpy(float)
    s = summary(hh)
    print(
        "| grids | townships | workers | households per worker min / mean / max | max/min | CV | "
        "contiguous | grids per worker | assign time | grid time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {len(run.grids)} | {w['township'].nunique()} | {len(w)} | {hh.min():,.0f} / {hh.mean():,.0f} / "
        f"{hh.max():,.0f} | {s['max_min_ratio']:.3f} | {s['cv']:.3f} | {int(w['pieces'].eq(1).sum())}/{len(w)} | "
        f"{w['grids'].min()}–{w['grids'].max()} | {secs:.1f} s | {grid_secs:.1f} s |"
    )


def main() -> None:
    """Run the benchmarks named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="*", help="benchmarks to run: walk, assign [both]")
    parser.add_argument("--workers", type=int, default=60)
    args = parser.parse_args()
    args.which = args.which or ["walk", "assign"]
    if "walk" in args.which:
        walk()
    if "assign" in args.which:
        assign(args.workers)


if __name__ == "__main__":
    main()
