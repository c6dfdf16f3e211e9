"""Province-scale benchmark: memory that does not grow with the run, and results equal to a whole run.

Datasets (seeded, cached under ``/tmp/gridmap-province``):
  tiles       synthetic towns of 1,000,000 household points each (benchmarks/synthetic.py, one point per
              household), ~200 communities of ~5,000 households per tile, each tile its own county
              (Shanghai district codes) of 10 townships, side by side; addresses as GeoParquet sorted by
              Hilbert distance within each tile, row groups of 5,000, bbox covering; boundaries as GeoPackage.
  1M, 5M      the first 1 and 5 tiles.
  300k        the first 60 communities of the 1M input with their points, gridded by ``gridmap.make_grids``
              in one process and by ``gridmap.grid_province`` task by task: the grids, codes and every
              address's grid must match.

Each run happens in a fresh process (so the driver's peak is its own) on a Dask LocalCluster with
``--workers`` workers of one thread; the manifest records the peak RSS of the driver and of every
worker process that ran a task.

Usage::

    python benchmarks/province.py                 # 300k check, then 1M and 5M with maps
    python benchmarks/province.py 1M --no-maps
    python benchmarks/province.py 1M --scheduler tls://127.0.0.1:8786   # a cluster started with dask scheduler/worker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gridmap.options import Options

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

CACHE = Path(os.environ.get("GRIDMAP_BENCH_CACHE", "/tmp/gridmap-province"))
COUNTIES = ("310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112", "310113", "310114")
ROW_GROUP = 5_000  # rows per GeoParquet row group: about one community's window reads a few of them
TILE = 1_068_000  # make_town places ~93.7 % of the target: ~1,000,000 household points per tile


def _tile(k: int):
    """Tile k: a 1M-household town moved east of tile k-1, codes of county COUNTIES[k]."""
    import shapely
    from scale import explode
    from synthetic import make_town

    town = make_town(TILE, seed=100 + k)
    shift = k * 12_000.0  # a 1M town is ~10.5 km wide
    addr = explode(town.addresses)
    addr["geometry"] = shapely.transform(addr.geometry.values, lambda xy: xy + np.array([shift, 0.0]))
    bnd = town.boundaries.copy()
    bnd["geometry"] = shapely.transform(bnd.geometry.values, lambda xy: xy + np.array([shift, 0.0]))
    i = np.arange(len(bnd))
    bnd["code"] = [f"{COUNTIES[k]}{101 + j // 20:03d}{1 + j % 20:03d}" for j in i]  # 20 communities per township
    bnd["name"] = [f"{COUNTIES[k]}社区{i + 1}" for i in range(len(bnd))]
    addr = addr.to_crs("EPSG:4326")
    order = np.argsort(addr.hilbert_distance().to_numpy(), kind="stable")
    return addr.iloc[order].reset_index(drop=True), bnd.to_crs("EPSG:4326")


def generate(tiles: int) -> tuple[Path, Path]:
    """Return the addresses GeoParquet and boundaries GeoPackage of the first `tiles` tiles (made once).

    The 1M and 5M inputs are written in one pass: tile 0 goes to both.
    """
    import geopandas as gpd
    import pyarrow.parquet as pq

    def paths(n: int) -> tuple[Path, Path]:
        return CACHE / f"{n}M" / "addresses.parquet", CACHE / f"{n}M" / "boundaries.gpkg"

    if all(p.exists() for p in paths(tiles)):
        return paths(tiles)
    sizes = sorted({1, tiles})
    writers: dict[int, pq.ParquetWriter] = {}
    bnds = []
    for k in range(max(sizes)):
        t = time.perf_counter()
        addr, bnd = _tile(k)
        tmp = CACHE / f"tile{k}.parquet"
        CACHE.mkdir(parents=True, exist_ok=True)
        addr.to_parquet(tmp, write_covering_bbox=True, row_group_size=ROW_GROUP)
        table = pq.read_table(tmp)
        for n in sizes:
            if k < n:
                if n not in writers:
                    paths(n)[0].parent.mkdir(parents=True, exist_ok=True)
                    writers[n] = pq.ParquetWriter(paths(n)[0].with_suffix(".tmp"), table.schema)
                writers[n].write_table(table, row_group_size=ROW_GROUP)
        tmp.unlink()
        bnds.append(bnd)
        print(f"  tile {k}: {len(addr):,} points, {len(bnd)} communities, {time.perf_counter() - t:.0f} s", flush=True)
    for n, writer in writers.items():
        writer.close()
        os.replace(paths(n)[0].with_suffix(".tmp"), paths(n)[0])
        frame = gpd.GeoDataFrame(pd.concat(bnds[:n], ignore_index=True), crs="EPSG:4326")
        frame.to_file(paths(n)[1], layer="boundaries")
    return paths(tiles)


def run_one(addresses: str, boundaries: str, out: str, workers: int, maps: bool, scheduler: str = "local") -> None:
    """Run grid_province in this (fresh) process and print its figures as JSON."""
    from gridmap.province import grid_province

    t = time.perf_counter()
    res = grid_province(
        addresses,
        boundaries,
        out,
        overwrite=True,
        maps=maps,
        options=Options(workers=workers, scheduler=scheduler, name="bench"),
    )
    wall = time.perf_counter() - t
    m = res.manifest
    peaks = list(m["memory_mib"]["worker_peaks"].values())
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "points": m["counts"]["addresses"],
                "communities": m["counts"]["villages"],
                "grids": m["counts"]["grids"],
                "flagged": m["counts"]["flagged_grids"],
                "wall s": round(wall, 1),
                **{f"{k} s": round(v, 1) for k, v in m["timings_s"].items() if k != "total"},
                "driver peak MiB": round(driver),
                "worker peak MiB (max)": round(max(peaks)),
                "workers": len(peaks),
                **{f"peak in {k}": round(v) for k, v in m["memory_mib"]["worker_peak_by_stage"].items()},
                "rows scanned / read": round(
                    m["counts"]["rows_scanned_by_windows"] / m["counts"]["rows_read_by_windows"], 2
                ),
            }
        )
    )


def check_300k(workers: int) -> None:
    """Grid a 300k subset of the 1M input in one process and task by task; print whether everything matches."""
    import geopandas as gpd

    import gridmap
    from gridmap.province import grid_province, read_dataset

    folder = CACHE / "300k"
    folder.mkdir(parents=True, exist_ok=True)
    addr_1m, bnd_1m = generate(1)
    bnd = gpd.read_file(bnd_1m).iloc[:60]  # the first three townships: about 300,000 households
    points = gpd.read_parquet(addr_1m)
    inside = points.sindex.query(bnd.union_all(), predicate="intersects")
    addr = points.iloc[np.sort(inside)].reset_index(drop=True)
    del points
    addr.to_parquet(folder / "addresses.parquet", write_covering_bbox=True, row_group_size=ROW_GROUP)
    bnd.to_file(folder / "boundaries.gpkg", layer="boundaries")
    t = time.perf_counter()
    whole = gridmap.make_grids(gpd.read_parquet(folder / "addresses.parquet"), bnd, options=Options(workers=workers))
    t_whole = time.perf_counter() - t
    t = time.perf_counter()
    grid_province(
        folder / "addresses.parquet",
        folder / "boundaries.gpkg",
        folder / "run",
        overwrite=True,
        maps=False,
        options=Options(workers=workers, scheduler="local"),
    )
    t_prov = time.perf_counter() - t
    g = read_dataset(folder / "run", "grids").sort_values("grid_code").reset_index(drop=True)
    w = whole.grids.sort_values("grid_code").reset_index(drop=True)
    a = read_dataset(folder / "run", "addresses").set_index("address_id").sort_index()
    wa = whole.addresses.set_index("address_id").sort_index()
    same = {
        "grids": len(g) == len(w) and bool((g["grid_code"].to_numpy() == w["grid_code"].to_numpy()).all()),
        "households": bool((g["households"].to_numpy() == w["households"].to_numpy()).all()),
        "geometry": bool(g.geometry.geom_equals_exact(w.geometry, 1e-9).all()),
        "status": bool((g["status"].astype(str).to_numpy() == w["status"].astype(str).to_numpy()).all()),
        "address grid": len(a) == len(wa)
        and bool((a["grid_code"].astype(object).to_numpy() == wa["grid_code"].to_numpy()).all()),
    }
    print(f"300k: {len(wa):,} points, {len(w)} grids; make_grids {t_whole:.1f} s, grid_province {t_prov:.1f} s")
    print("identical to the single-process run:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sizes", nargs="*", default=["300k", "1M", "5M"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-maps", action="store_true")
    ap.add_argument(
        "--scheduler",
        default="local",
        help="a running Dask scheduler (tls://HOST:PORT; certificates through DASK_DISTRIBUTED__COMM__TLS__*) "
        "instead of a LocalCluster; --workers then only labels the table",
    )
    ap.add_argument("--run", nargs=3, metavar=("ADDRESSES", "BOUNDARIES", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        run_one(*args.run, workers=args.workers, maps=not args.no_maps, scheduler=args.scheduler)
        return
    rows = []
    for size in args.sizes:
        if size == "300k":
            check_300k(args.workers)
            continue
        tiles = int(size.rstrip("M"))
        print(f"[{size}] inputs", flush=True)
        addr, bnd = generate(tiles)
        cmd = [
            sys.executable,
            __file__,
            "--workers",
            str(args.workers),
            "--scheduler",
            args.scheduler,
            "--run",
            str(addr),
            str(bnd),
            str(addr.parent / "run"),
        ]
        if args.no_maps:
            cmd.append("--no-maps")
        load = os.getloadavg()[0]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-3000:])
            raise SystemExit(proc.returncode)
        row = {"size": size, **json.loads(proc.stdout.strip().splitlines()[-1]), "load": round(load, 1)}
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    if rows:
        where = "LocalCluster" if args.scheduler == "local" else f"scheduler {args.scheduler}"
        print(f"\nMemory and time by size (Dask {where}, {args.workers} workers)")
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
