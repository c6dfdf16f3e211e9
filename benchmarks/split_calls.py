"""The splitter alone on the peer harness's inputs: every ``split_graph`` call recorded, re-run, timed, compared.

``partition_quality.py peers`` times gridmap's partition stage: cells, their graph and the split.
METIS's solve, which the harness times, starts from a ready graph. This script times the part that
compares like for like (a cell graph in, grids out), and tells whether a change to the splitter
changed any grid: record the calls once, change the code, check them.

Usage::

    python benchmarks/split_calls.py record calls.pkl                 # medium and large, current code
    python benchmarks/split_calls.py check calls.pkl --repeat 5       # same grids? wall and CPU per input
    python benchmarks/split_calls.py record calls.pkl --inputs small medium large

A recording holds the splitter's own arrays (``partition.adjacency.CellGraph``): check it with the
code it was recorded with or a later one whose ``CellGraph`` has the same fields.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench" / "data"
sys.path.insert(0, str(ROOT))

import gridmap  # noqa: E402
import partition.rules as rules  # noqa: E402
from gridmap import LayerSpec  # noqa: E402
from partition.split import split_graph  # noqa: E402


def record(inputs: list[str]) -> dict[str, list[tuple]]:
    """Run gridmap on each harness input, keeping every splitter call: ``(graph, keywords, parts)``."""
    calls: dict[str, list[tuple]] = {}

    def keep(graph, **kw):
        parts = split_graph(graph, **kw)
        calls[name].append((graph, kw, parts))
        return parts

    rules.split_graph = keep
    try:
        for name in inputs:
            calls[name] = []
            src = BENCH / f"synthetic_{name}.gpkg"
            opts = gridmap.Options(fields={"compound": "compound_id"})
            read = gridmap.read_inputs(
                LayerSpec(src, "units"), LayerSpec(src, "boundary"), barriers=(LayerSpec(src, "roads"),), options=opts
            )
            gridmap.make_grids(**read.frames(), options=opts)
    finally:
        rules.split_graph = split_graph
    return calls


def check(calls: dict[str, list[tuple]], *, repeat: int) -> bool:
    """Re-run every recorded call `repeat` times; print per input whether the grids are the same and the medians."""
    same = True
    print(f"{'input':8s} {'calls':>5s} {'grids':>9s} {'wall s':>7s} {'CPU s':>7s}  (medians of {repeat})")
    for name, recorded in calls.items():
        walls, cpus, differ = [], [], 0
        for _ in range(repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            got = [split_graph(graph, **kw) for graph, kw, _ in recorded]
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            differ = sum(g != parts for g, (_, _, parts) in zip(got, recorded, strict=True))
        same &= differ == 0
        verdict = "identical" if not differ else f"{differ} differ"
        print(
            f"{name:8s} {len(recorded):5d} {verdict:>9s} {statistics.median(walls):7.3f} {statistics.median(cpus):7.3f}"
        )
    return same


def main() -> int:
    """Record or check, as the command line says; exit 1 when a checked call's grids differ."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("record", "check"))
    ap.add_argument("file", type=Path, help="the recording (a pickle this script wrote)")
    ap.add_argument("--inputs", nargs="+", default=["medium", "large"], choices=("small", "medium", "large"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.action == "record":
        calls = record(args.inputs)
        args.file.write_bytes(pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL))
        print(f"{args.file}: " + ", ".join(f"{k} {len(v)} calls" for k, v in calls.items()))
        return 0
    calls = pickle.loads(args.file.read_bytes())  # noqa: S301 - a file this script wrote
    return 0 if check(calls, repeat=args.repeat) else 1


if __name__ == "__main__":
    raise SystemExit(main())
