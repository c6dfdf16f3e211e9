"""Scale benchmark: per-stage wall time, peak memory and households per second of a full run.

Datasets (seeded):
  N = 100k, 300k, 1M   a synthetic city (benchmarks/synthetic.py) with one point per household:
                       households stand in apartment entrances inside walled compounds and in
                       low-rise houses, communities of ~5,000 households with 12-digit codes, roads
  denver               Denver 2020 blocks exploded into round(pop / 2.5) household points placed
                       uniformly at random inside their block (households ESTIMATED), tracts as
                       communities
  city                 ../shared/bench/city: four translated copies of Denver's blocks, 1,144,764
                       household points in 712 communities, each block one indivisible unit
                       (``building``); build city1m.gpkg once as that README says (three commands,
                       outside the repository) and pass it with --city (default: $GRIDMAP_CITY)

Stages: read+validate (files read, inputs checked and in the work CRS), partition (tessellate,
graph, split; per community, in --workers processes; each village saved into the resume folder,
as `gridmap partition` always does), code, other (addresses labelled with their
grid, the violations layer, outputs back to the output CRS), write (the run folder as the command
writes it: GeoPackage, GeoJSON, CSV roster, report, and with --map both maps, map.html and
map.png; with --workers 2 the GeoPackage is written by a second process meanwhile). "cpu s" is
the CPU time of the run and its workers (comparable across machine load), "load" the 1-minute
load average before/after: the machine is shared, so wall times are only comparable at low load.
Each run is a fresh process, so its peak memory (the run and its workers) is its own.

The floor (--floor; on by default for city): what the bare job costs with the fastest tools, on the
same points: read the addresses and communities with Arrow (pyogrio), Voronoi cells of each
community's points (shapely), their Delaunay graph (scipy) and METIS (pymetis, vertex weights =
households, as ../shared/bench/peers.py runs it) into as many parts per community as gridmap made;
gridmap's end-to-end time is printed as a ratio to it. The floor draws no grid polygons, keeps
no unit whole, checks nothing and writes nothing: it is a lower bound, not a peer.

Usage::

    python benchmarks/scale.py                    # 100k 300k 1M denver
    python benchmarks/scale.py 100k --workers 2 --map
    python benchmarks/scale.py city --city /work/city/city1m.gpkg --workers 1 2 --map
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
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
from gridmap.cli.console import Progress  # noqa: E402
from gridmap.execute import clear_resume_dir  # noqa: E402
from gridmap.runfolder import import_writers, warm_writer  # noqa: E402

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


def run_case(name: str, inputs: Path, out: Path, *, layers: dict[str, str], workers: int, draw_map: bool) -> dict:
    load_before, c0 = load(), cpu_s()
    t0 = time.perf_counter()
    fields = {"building": "building"} if name == "city" else {}
    # as run_files / `gridmap partition`: read the files, then make the grids; timed apart
    frames = gridmap.read_inputs(
        LayerSpec(inputs, layers["addresses"]),
        LayerSpec(inputs, layers["boundaries"]),
        barriers=(LayerSpec(inputs, layers["roads"]),) if "roads" in layers else (),
        options=gridmap.Options(fields=fields),
    ).frames()
    t_read = time.perf_counter() - t0
    # the resume folder `gridmap partition` always keeps (each finished village saved, for --resume)
    parts = out.with_name(f".{out.name}.parts")
    options = gridmap.Options(workers=workers, fields=fields, resume_dir=parts)
    warm_writer(addresses=len(frames["addresses"]), workers=workers)  # as the command: the writer starts now
    # as the command: the map writers are loaded once the first village is gridded
    progress = Progress(True, meanwhile={"partition": import_writers})
    result = gridmap.make_grids(**frames, options=options, progress=progress)
    del frames  # as in run_files, the frames read are not kept while the outputs are written
    t_run = time.perf_counter() - t0
    t = time.perf_counter()
    # as the command: with --workers 2 the GeoPackage is written aside while the rest (and maps) are
    write_run(result, out, maps=draw_map, workers=workers)
    clear_resume_dir(parts)
    t_write = time.perf_counter() - t
    timings = json.loads((out / "manifest.json").read_text())["timings_s"]
    hh = float(result.addresses["households"].sum())
    total = t_run + t_write
    parts = result.grids.groupby("village_code").size()
    (out / "parts.json").write_text(json.dumps({str(k): int(v) for k, v in parts.items()}))
    return {
        "dataset": name,
        "workers": workers,
        "points": len(result.addresses),
        "households": int(hh),
        "communities": int(result.manifest["counts"]["villages"]),
        "grids": len(result.grids),
        "not ok": int(result.grids["status"].astype(str).ne("ok").sum()),
        "unbalanced": int(result.grids["status"].astype(str).eq("unbalanced").sum()),
        "read+validate s": round(t_read + timings["read_validate"], 1),
        "partition s": round(timings["partition"], 1),
        "code s": round(timings["code"], 1),
        "other s": round(t_run - t_read - timings["read_validate"] - timings["partition"] - timings["code"], 1),
        "write s": round(t_write, 1),
        "maps": "both" if draw_map else "none",
        "end-to-end s": round(total, 1),
        "households/s": int(hh / total),
        "cpu s": round(cpu_s() - c0, 1),
        "load": f"{load_before:.1f}/{load():.1f}",
        "peak GiB": round(peak_gib(), 2),
    }


def floor(inputs: Path, layers: dict[str, str], parts: dict[str, int]) -> dict:
    """Read with Arrow + Voronoi per community + METIS into `parts` (community code -> parts) on the same points."""
    import pymetis
    import pyogrio
    from scipy.spatial import Delaunay

    load_before, c0 = load(), cpu_s()
    t0 = time.perf_counter()
    pts = pyogrio.read_dataframe(inputs, layer=layers["addresses"], use_arrow=True)
    bnd = pyogrio.read_dataframe(inputs, layer=layers["boundaries"], use_arrow=True)
    t_read = time.perf_counter() - t0
    code = pts["village_code"].to_numpy() if "village_code" in pts else None
    if code is None:  # no community column: the community whose polygon holds the point
        hit = bnd.sindex.query(pts.geometry.values, predicate="within")
        code = np.full(len(pts), None, object)
        code[hit[0]] = bnd["code"].to_numpy()[hit[1]]
    xy = shapely.get_coordinates(pts.geometry.values)
    hh = pts["households"].to_numpy(np.int64)
    groups = pd.Series(np.arange(len(pts))).groupby(code, sort=True).indices
    shapes = dict(zip(bnd["code"], bnd.geometry.values, strict=True))
    t_vor = t_graph = t_metis = 0.0
    n_parts = 0
    for c, rows in groups.items():
        k = parts.get(str(c), 0)
        if k == 0 or len(rows) < 4:
            continue
        t = time.perf_counter()
        shapely.voronoi_polygons(shapely.multipoints(xy[rows]), extend_to=shapes[c])
        t_vor += time.perf_counter() - t
        t = time.perf_counter()
        tri = Delaunay(xy[rows]).simplices.astype(np.int64)
        ends = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1)
        key = np.unique(np.concatenate([ends[:, 0] * len(rows) + ends[:, 1], ends[:, 1] * len(rows) + ends[:, 0]]))
        src, dst = np.divmod(key, len(rows))  # every edge both ways, sorted by source: CSR
        xadj = np.searchsorted(src, np.arange(len(rows) + 1))
        t_graph += time.perf_counter() - t
        t = time.perf_counter()
        if k > 1:
            adj = pymetis.CSRAdjacency(xadj, dst)
            pymetis.part_graph(k, adj, vweights=hh[rows], options=pymetis.Options(seed=0))
        t_metis += time.perf_counter() - t
        n_parts += k
    total = t_read + t_vor + t_graph + t_metis
    return {
        "floor": "Arrow read + Voronoi + Delaunay graph + METIS",
        "points": len(pts),
        "parts": n_parts,
        "read s": round(t_read, 2),
        "voronoi s": round(t_vor, 2),
        "graph s": round(t_graph, 2),
        "metis s": round(t_metis, 2),
        "floor s": round(total, 2),
        "cpu s": round(cpu_s() - c0, 1),
        "load": f"{load_before:.1f}/{load():.1f}",
        "peak GiB": round(peak_gib(), 2),
    }


def _in_fresh_process(*args: str) -> dict:
    """Run this script with `args` in a new process (its peak memory is its own); return the JSON it prints."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"scale.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def inputs_for(name: str, tmp: Path, *, seed: int, city: Path | None) -> tuple[Path, dict[str, str]]:
    """Write (or find) the input file of dataset `name`; return it with its layer names."""
    layers = {"addresses": "addresses", "boundaries": "boundaries"}
    if name == "city":
        if city is None or not city.exists():
            raise SystemExit(
                f"city1m.gpkg not found ({city}): build it as ../shared/bench/city/README.md says "
                "(three commands, outside the repository) and pass --city PATH or set GRIDMAP_CITY."
            )
        return city, layers
    path = tmp / f"{name}.gpkg"
    if name == "denver":
        pts, tracts = denver_points(seed)
        write_inputs(path, addresses=pts, boundaries=tracts)
        return path, layers
    n = int(float(name.lower().replace("k", "e3").replace("m", "e6")))
    town = make_town(n, seed=seed)
    write_inputs(path, addresses=explode(town.addresses), boundaries=town.boundaries, roads=town.roads)
    return path, layers | {"roads": "roads"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", default=["100k", "300k", "1M", "denver"])
    ap.add_argument("--workers", type=int, nargs="+", default=[2], help="one run per value, e.g. --workers 1 2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--map", action="store_true", help="also draw both maps (map.html, map.png), as the command does")
    ap.add_argument("--floor", action="store_true", help="also time the floor (always for city)")
    ap.add_argument("--city", type=Path, default=os.environ.get("GRIDMAP_CITY"), help="city1m.gpkg")
    ap.add_argument("--case", nargs=5, help=argparse.SUPPRESS)  # name inputs out workers layers-json (child)
    ap.add_argument("--floor-of", nargs=3, help=argparse.SUPPRESS)  # inputs layers-json parts-json (child)
    args = ap.parse_args()
    if args.case:
        name, inputs, out, workers, layers = args.case
        row = run_case(
            name, Path(inputs), Path(out), layers=json.loads(layers), workers=int(workers), draw_map=args.map
        )
        print(json.dumps(row))
        return
    if args.floor_of:
        inputs, layers, parts = args.floor_of
        print(json.dumps(floor(Path(inputs), json.loads(layers), json.loads(Path(parts).read_text()))))
        return
    rows, floors = [], []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in args.datasets:
            t = time.perf_counter()
            path, layers = inputs_for(name, tmp, seed=args.seed, city=args.city)
            print(f"[{name}] inputs ready in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
            for w in args.workers:
                out = tmp / f"run_{name}_{w}"
                case = [name, str(path), str(out), str(w), json.dumps(layers)]
                row = _in_fresh_process("--case", *case, *(["--map"] if args.map else []))
                rows.append(row)
                print(pd.DataFrame([row]).to_string(index=False), flush=True)
            if args.floor or name == "city":
                f = _in_fresh_process("--floor-of", str(path), json.dumps(layers), str(out / "parts.json"))
                f["dataset"] = name
                f["gridmap / floor"] = round(rows[-1]["end-to-end s"] / f["floor s"], 1)
                floors.append(f)
                print(pd.DataFrame([f]).to_string(index=False), flush=True)
            (tmp / f"{name}.gpkg").unlink(missing_ok=True)  # generated inputs only (never the city file)
    print("\nSummary (each run a fresh process: peak GiB is that run's and its workers')")
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    by = table.groupby("dataset")["end-to-end s"]
    for name, s in by:
        ws = table.loc[s.index, "workers"].to_numpy()
        if 1 in ws and len(ws) > 1:
            one = s[ws == 1].iloc[0]
            for w, v in zip(ws, s, strict=True):
                if w != 1:
                    print(f"{name}: --workers {w} is {one / v:.2f}x --workers 1 (end-to-end)")
    if floors:
        print("\nFloor (lower bound on the same points; gridmap / floor = end-to-end of the last run / floor s)")
        print(pd.DataFrame(floors).to_string(index=False))


if __name__ == "__main__":
    main()
