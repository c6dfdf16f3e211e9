"""Partition quality benchmark: how well the grids follow the rules, per dataset, with timings.

Prints one row per dataset: grids, share of household-band grids inside the band (where a feasible
k exists), grids flagged with a reason, CV of households, median Polsby-Popper, non-contiguous
grids, grids crossing a barrier, fitting compounds split, and partition time.

Datasets
--------
sample      the bundled township (geodata/sample)
denver      Denver 2020 census blocks (../shared/data): blocks as unit polygons and as address
            points, households = round(pop / 2.5) (ESTIMATED), communities = tracts dissolved from blocks
synth20k    seeded synthetic town, ~20,000 households (benchmarks/synthetic.py)
synth100k   seeded synthetic town, ~100,000 households
peers       the peer harness inputs (../shared/bench/data/synthetic_{small,medium,large}.gpkg),
            scored with the harness's own metric code next to spopt / GerryChain / METIS; METIS's bare
            solve on the harness's graphs is timed beside each run, and the stage's ratio to it printed

Usage::

    python benchmarks/partition_quality.py                 # sample denver synth20k synth100k
    python benchmarks/partition_quality.py peers           # side-by-side with the peer partitioners
    python benchmarks/partition_quality.py sample synth20k --seed 3
"""

from __future__ import annotations

import argparse
import json
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
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver, make_town, run_files, write_inputs  # noqa: E402

from gridmap import GridResult, LayerSpec  # noqa: E402
from partition.measures import cv, pieces  # noqa: E402
from partition.tessellation import blocks_from_barriers  # noqa: E402
from partition.values import Band  # noqa: E402


def evaluate(result: GridResult, *, barriers: np.ndarray | None, seconds: float) -> dict[str, float]:
    """Quality figures of a run (in its work CRS), as printed by the benchmark."""
    work = result.work_crs
    g = result.grids.to_crs(work)
    a = result.addresses
    band = g["rule"].eq("household_band")
    base = g["grid_type"].eq("base")
    # a community has a feasible k when its base households fit ceil(H/max) <= k <= floor(H/min)
    # grids the data force out of band (a unit alone over max; an area no k fits) are excluded
    forced = g["flag"].isin(["unit_over_max", "no_feasible_k"])
    fb = g[band & base & ~forced]
    inside = fb["households"].between(fb["min_households"], fb["max_households"])
    out_band = g[band & ~g["households"].between(g["min_households"], g["max_households"])]
    parts = pieces(g.geometry.values)
    noncontig = int(((parts > 1) & g["status"].ne("enclave").to_numpy()).sum())
    crossing = avoidable = 0
    if barriers is not None and len(barriers):
        crossing, avoidable = _crossings(result, barriers)
    split = fitting = 0
    if "compound" in a.columns and a["compound"].notna().any():
        c = a[a["compound"].notna() & a["grid_code"].notna()]
        # a compound cut by a village/community border cannot be one grid: count per community
        per = c.groupby(["village_code", "compound"]).agg(hh=("households", "sum"), grids=("grid_code", "nunique"))
        fits = per["hh"] <= float(g["max_households"].max())
        fitting = int(fits.sum())
        split = int((fits & per["grids"].gt(1)).sum())
    pp = g.loc[base, "compactness"]
    return {
        "grids": len(g),
        "households": int(g["households"].sum()),
        "band_grids": int(band.sum()),
        "in_band": float(inside.mean()) if len(inside) else float("nan"),
        "forced_flags": int((band & forced).sum()),
        "out_of_band_flagged": f"{int(out_band['status'].ne('ok').sum())}/{len(out_band)}",
        "cv": cv(g.loc[band, "households"].to_numpy()),
        "pp_median": float(pp.median()),
        "noncontiguous": noncontig,
        "barrier_crossing": crossing,
        "avoidable_crossing": avoidable,
        "compounds_split": f"{split}/{fitting}",
        "seconds": round(seconds, 2),
    }


def _crossings(result: GridResult, barriers: np.ndarray) -> tuple[int, int]:
    """Base grids with households on both sides of a barrier, and how many of them were avoidable.

    A crossing is avoidable when every barrier block of the community holds a household count
    that some number of grids fits (so a crossing-free split existed).
    """
    b = result.boundaries.to_crs(result.work_crs)
    a = result.addresses.to_crs(result.work_crs)
    g = result.grids
    crossing = avoidable = 0
    for code, geom in zip(b["code"], b.geometry.values, strict=True):
        rows = g[g["village_code"].eq(code) & g["grid_type"].eq("base")]
        if rows.empty or not rows["rule"].eq("household_band").all():
            continue
        mn, mx = float(rows["min_households"].iloc[0]), float(rows["max_households"].iloc[0])
        blocks = blocks_from_barriers(geom, barriers)
        pts = a[a["village_code"].eq(code) & a["grid_type"].eq("base") & a["households"].gt(0)]
        pi, bi = shapely.STRtree(blocks).query(pts.geometry.values, predicate="intersects")
        frame = pd.DataFrame(
            {"grid": pts["grid_code"].to_numpy()[pi], "block": bi, "hh": pts["households"].to_numpy(float)[pi]}
        )
        n_cross = int((frame.groupby("grid")["block"].nunique() > 1).sum())
        crossing += n_cross
        per_block = frame.groupby("block")["hh"].sum()
        if all(len(Band(mn, mx).feasible_counts(h)) for h in per_block):
            avoidable += n_cross
    return crossing, avoidable


def _run(config: dict) -> tuple[GridResult, float]:
    t = time.perf_counter()
    result = run_files(**config)
    return result, time.perf_counter() - t


def sample() -> tuple[GridResult, np.ndarray | None, float]:
    from geodata.sample import sample_path

    p = sample_path()
    config = dict(
        addresses=LayerSpec(p, "addresses"),
        boundaries=LayerSpec(p, "boundaries"),
        exclusive=LayerSpec(p, "exclusive"),
        barriers=(LayerSpec(p, "barriers"),),
    )
    result, s = _run(config)
    bars = gpd.read_file(p, layer="barriers").to_crs(result.work_crs).geometry.values
    return result, bars, s


def denver_case(tmp: Path) -> tuple[GridResult, None, float]:
    addresses, tracts, units = denver(SHARED / "data")
    path = tmp / "denver.gpkg"
    write_inputs(path, addresses=addresses, boundaries=tracts, units=units)
    config = dict(
        addresses=LayerSpec(path, "addresses"), boundaries=LayerSpec(path, "boundaries"), units=LayerSpec(path, "units")
    )
    result, s = _run(config)
    return result, None, s


def synthetic_case(tmp: Path, households: int, seed: int) -> tuple[GridResult, np.ndarray, float]:
    town = make_town(households, seed=seed)
    path = tmp / f"synth{households}.gpkg"
    write_inputs(path, addresses=town.addresses, boundaries=town.boundaries, roads=town.roads)
    config = dict(
        addresses=LayerSpec(path, "addresses"),
        boundaries=LayerSpec(path, "boundaries"),
        barriers=(LayerSpec(path, "roads"),) if len(town.roads) else (),
    )
    result, s = _run(config)
    return result, town.roads.to_crs(result.work_crs).geometry.values, s


PEER_REPEATS = 5
"""Runs of gridmap per peer input; the times printed are their medians (the grids are the same each run)."""


def metis_problems(src: Path) -> list:
    """The harness's own graph problems of `src` (one per community, as ``peers.py`` builds them), ready for METIS."""
    if str(SHARED / "bench") not in sys.path:
        sys.path.insert(0, str(SHARED / "bench"))
    import metrics as harness_metrics  # noqa: PLC0415 - the harness's modules, from ../shared/bench
    import peers as harness  # noqa: PLC0415
    import pymetis  # noqa: PLC0415

    inputs = harness_metrics.load_inputs(
        str(src), str(src), "households", points_layer="units", boundary_layer="boundary"
    )
    problems = harness.problems(harness_metrics.build_sites(inputs), 300, 500, 0)
    return [(p.k, pymetis.CSRAdjacency(*p.csr()), p.hh.astype(np.int64)) for p in problems]


def metis_solve(problems: list) -> float:
    """Seconds of METIS's bare solve over `problems` (``pymetis.part_graph``, as the harness times its ``metis``)."""
    import pymetis  # noqa: PLC0415

    options = pymetis.Options(seed=0)
    total = 0.0
    for k, adjacency, households in problems:
        t = time.perf_counter()
        pymetis.part_graph(k, adjacency, vweights=households, options=options)
        total += time.perf_counter() - t
    return total


def peers(tmp: Path) -> None:
    """Run ours on the peer harness inputs and score it with the harness's metric code."""
    bench = SHARED / "bench"
    rows = []
    for size in ("small", "medium", "large"):
        src = bench / "data" / f"synthetic_{size}.gpkg"
        config = dict(
            addresses=LayerSpec(src, "units"),
            boundaries=LayerSpec(src, "boundary"),
            barriers=(LayerSpec(src, "roads"),),
            fields={"compound": "compound_id"},
        )
        problems = metis_problems(src)
        runs, metis = [], []
        for _ in range(PEER_REPEATS):  # each run of ours next to METIS's solve: the same machine load for both
            runs.append(_run(config))
            metis.append(float(np.median([metis_solve(problems) for _ in range(PEER_REPEATS)])))
        result = runs[0][0]
        s = float(np.median([t for _, t in runs]))
        stage = float(np.median([r.manifest["timings_s"]["partition"] for r, _ in runs]))
        solve = float(np.median(metis))
        ours = tmp / f"{size}_ours.gpkg"
        pts = result.addresses[["households", "compound", "grid_code", "geometry"]].rename(
            columns={"compound": "compound_id"}
        )
        pts["compound_id"] = pd.to_numeric(pts["compound_id"], errors="coerce").fillna(-1).astype(int)
        pts.to_file(ours, layer="units")
        result.grids.to_file(ours, layer="grids")
        cmd = [
            sys.executable,
            "peers.py",
            "--points",
            str(ours),
            "--points-layer",
            "units",
            "--boundary",
            str(src),
            "--households-col",
            "households",
            "--barriers",
            str(src),
            "--compound-col",
            "compound_id",
            "--score-labels",
            "grid_code",
            "--grids",
            str(ours),
            "--grids-layer",
            "grids",
            "--out",
            str(tmp),
            "--name",
            f"{size}_ours",
        ]
        done = subprocess.run(cmd, cwd=bench, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"peers.py failed:\n{done.stderr[-3000:]}")
        m = json.loads((tmp / f"{size}_ours.json").read_text())
        m = m.get("results", [m])[0] if "results" in m else m
        rows.append((size, s, stage, solve, m))
    for size, s, stage, solve, m in rows:
        print(
            f"\n### {size} — gridmap scored by ../shared/bench/metrics.py (partition stage {stage:.3f} s, "
            f"whole call with reading {s:.2f} s: medians of {PEER_REPEATS}; METIS's bare solve {solve:.4f} s "
            f"alongside, the stage {stage / solve:.1f}x it)"
        )
        print(json.dumps(_pick(m), indent=1, ensure_ascii=False))


def _pick(m: dict) -> dict:
    """The harness metrics we quote, found wherever the harness nested them."""
    keys = (
        "n_regions",
        "share_in_band",
        "hh_cv",
        "pp_median",
        "pp_p10",
        "n_noncontiguous_regions",
        "regions_crossing_barrier",
        "fitting_compounds_split",
        "grids_coverage_gap_ratio",
        "grids_coverage_excess_ratio",
        "grids_overlap_m2",
        "grids_pp_median",
        "grids_multipart",
    )
    flat: dict = {}

    def walk(d):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v)
            elif k in keys and k not in flat:
                flat[k] = v

    walk(m)
    return flat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", default=["sample", "denver", "synth20k", "synth100k"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "peers" in args.datasets:
            peers(tmp)
            return
        table = []
        for name in args.datasets:
            if name == "sample":
                res = sample()
            elif name == "denver":
                res = denver_case(tmp)
            elif name.startswith("synth"):
                res = synthetic_case(tmp, int(name[5:].replace("k", "000")), args.seed)
            else:
                raise SystemExit(f"unknown dataset {name!r}")
            result, bars, s = res
            row = {"dataset": name, **evaluate(result, barriers=bars, seconds=s)}
            table.append(row)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
        print("\nSummary")
        print(pd.DataFrame(table).to_string(index=False))


if __name__ == "__main__":
    main()
