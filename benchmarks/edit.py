"""Editor speed: 200 random valid edits through the JSON API on the Denver case, median and p95 per op.

The Denver case is built as ``benchmarks/partition_quality.py`` builds it (2020 census blocks as
unit polygons and as address points, households = round(pop / 2.5), ESTIMATED; tracts as
communities), gridded, written to a run folder and opened in an edit session. Every edit is a
real POST through the Flask app (Werkzeug's test client: routing, JSON parsing, the session's work,
the changed grids' GeoJSON and the village's problem list) — the time a browser waits for the
answer, minus the network.

Edits are drawn at random (seeded) among valid ones: move one border unit to a neighbouring grid
(confirmed), merge two adjacent grids, split a grid (k=2), lock or unlock a grid, regenerate the
unlocked grids of a tract, undo, redo.
Targets (issue 15): move/merge/lock <= 200 ms, split <= 1 s.

Usage::

    python benchmarks/edit.py                 # 200 edits, seed 0
    python benchmarks/edit.py --edits 500 --seed 3
    python benchmarks/edit.py --case points --ops move,undo,redo,merge   # the 5,068-household-point community
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver, run_files, write_inputs  # noqa: E402

from gridmap import LayerSpec  # noqa: E402
from gridmap.edit.server import create_app  # noqa: E402
from gridmap.edit.session import EditSession  # noqa: E402

TOKEN = "bench"
WEIGHTS = {"move": 0.43, "merge": 0.12, "split": 0.12, "lock": 0.12, "regenerate": 0.04, "undo": 0.1, "redo": 0.07}


def denver_run(tmp: Path) -> Path:
    addresses, tracts, units = denver(SHARED / "data")
    path = tmp / "denver.gpkg"
    write_inputs(path, addresses=addresses, boundaries=tracts, units=units)
    result = run_files(LayerSpec(path, "addresses"), LayerSpec(path, "boundaries"), units=LayerSpec(path, "units"))
    return result.save(tmp / "run", maps=False)


def propose(session: EditSession, op: str, rng: np.random.Generator) -> dict | None:
    """A random valid request body for `op`, or None when none was found quickly."""
    live = np.flatnonzero(session.g_cells > 0)
    if op in ("undo", "redo"):
        return {} if (session.undo_stack if op == "undo" else session.redo_stack) else None
    if op == "lock":
        g = int(rng.choice(live))
        return {"grids": [session.code[g]], "locked": not session.locked[g]}
    if op == "regenerate":
        g = int(rng.choice(live))
        free = [
            h for h in session.grids_of(session.g_village[g]) if not session.locked[h] and session.g_type[h] == "base"
        ]
        ok = free and session.g_rule[free[0]] == "household_band"
        return {"village": session.g_village[g]} if ok else None
    for _ in range(50):
        if op == "move":
            c = int(rng.integers(len(session.cell_grid)))
            a = session.cell_grid[c]
            nbr = session.adj[c].indices
            nbr = nbr[(session.cell_grid[nbr] != a) & ~session.exclusive[nbr]]
            if session.hh[c] <= 0 or session.exclusive[c] or not len(nbr) or session.g_cells[a] < 2:
                continue
            b = session.cell_grid[int(rng.choice(nbr))]
            if session.locked[a] or session.locked[b]:
                continue
            return {"units": [c], "to": session.code[b], "confirm": True}
        g = int(rng.choice(live))
        if session.locked[g] or session.g_type[g] != "base":
            continue
        if op == "split":
            if (session.hh[session.members(g)] > 0).sum() >= 2:
                return {"grid": session.code[g], "k": 2}
            continue
        cells = session.members(g)
        nbr = np.unique(session.cell_grid[np.unique(session.adj[cells].indices)])
        nbr = [h for h in nbr if h != g and not session.locked[h] and session.g_type[h] == "base"]
        if nbr:
            return {"grids": [session.code[g], session.code[int(rng.choice(nbr))]]}
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--case", choices=["denver", "points"], default="denver", help="points: benchmarks/edit_browser.py's community"
    )
    ap.add_argument("--ops", default=",".join(WEIGHTS), help="comma-separated operations to draw from")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t = time.perf_counter()
        if args.case == "points":
            from edit_browser import household_points

            folder = household_points(tmp)
        else:
            folder = denver_run(tmp)
        print(f"{args.case} run made in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        session = EditSession.from_folder(folder)
        opened = time.perf_counter() - t
        client = create_app(session, token=TOKEN).test_client()
        t = time.perf_counter()
        assert client.get("/api/grids").status_code == 200
        first_grids = time.perf_counter() - t
        print(
            f"session opened in {opened:.1f} s: {len(session.cells)} unit cells "
            f"({int((session.hh > 0).sum())} with households), {int((session.g_cells > 0).sum())} grids, "
            f"{len(session.edges[0])} adjacencies; GET /api/grids {first_grids * 1000:.0f} ms",
            flush=True,
        )
        rows = []
        ops = [op for op in WEIGHTS if op in args.ops.split(",")]
        p = np.array([WEIGHTS[op] for op in ops])
        while len(rows) < args.edits:
            op = str(rng.choice(ops, p=p / p.sum()))
            body = propose(session, op, rng)
            if body is None:
                continue
            t = time.perf_counter()
            resp = client.post(f"/api/{op}", data=json.dumps(body), headers={"X-Gridmap-Token": TOKEN})
            ms = (time.perf_counter() - t) * 1000
            if resp.status_code != 200:
                raise SystemExit(f"{op} {body} failed: {resp.get_json()}")
            rows.append({"op": op, "ms": ms})
        t = time.perf_counter()
        resp = client.post(
            "/api/save", data=json.dumps({"out": str(tmp / "edited")}), headers={"X-Gridmap-Token": TOKEN}
        )
        save_s = time.perf_counter() - t
        assert resp.status_code == 200, resp.get_json()
    df = pd.DataFrame(rows)
    table = (
        df.groupby("op")["ms"]
        .agg(n="size", median="median", p95=lambda s: float(np.percentile(s, 95)), max="max")
        .round(1)
    )
    target = {"move": 200, "merge": 200, "lock": 200, "split": 1000}
    table["target_ms"] = [target.get(op, "") for op in table.index]
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"\n{len(df)} random valid edits through the JSON API (seed {args.seed}), milliseconds per answer:")
    print(table.to_string())
    print(f"\nsave (complete run folder: gpkg, geojson, roster, map, report, manifest): {save_s:.1f} s")


if __name__ == "__main__":
    main()
