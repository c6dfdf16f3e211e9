"""Export benchmark: time each export of a finished run, through Arrow and through the classic writers.

Reads a run folder (``gridmap partition ... --out RUN``), then writes ``roster.csv`` with Arrow
compute (``geodata.io.write_csv``) and with pandas' writer (``geodata.io._pandas_csv``: the path for
frames Arrow cannot write, and the code before), and ``addresses.geojson`` through pyogrio's Arrow path and its
classic path; prints the seconds (wall and CPU), the load average and whether the files are
byte-for-byte identical. The machine is shared: compare CPU seconds, or re-run on an idle machine.

Usage::

    python benchmarks/exports.py RUN [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geodata import io as gio  # noqa: E402
from gridmap import export  # noqa: E402
from gridmap.result import read_run  # noqa: E402


def _timed(write, path: Path) -> tuple[float, float, str]:
    t, c = time.perf_counter(), time.process_time()
    write(path)
    return time.perf_counter() - t, time.process_time() - c, hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    result = read_run(args.run)
    arrow_csv, arrow_writes = gio._csv_lines, gio.ARROW_WRITES

    def classic_csv(path: Path) -> None:
        gio._csv_lines = lambda *a, **k: None  # pandas' writer, as for frames Arrow cannot write
        try:
            export.write_roster_csv(result, path)
        finally:
            gio._csv_lines = arrow_csv

    def classic_geojson(path: Path) -> None:
        gio.ARROW_WRITES = False
        try:
            gio.write_geojson(path, result.addresses)
        finally:
            gio.ARROW_WRITES = arrow_writes

    cases = {
        ("roster.csv", "Arrow"): lambda p: export.write_roster_csv(result, p),
        ("roster.csv", "pandas"): classic_csv,
        ("addresses.geojson", "Arrow"): lambda p: gio.write_geojson(p, result.addresses),
        ("addresses.geojson", "classic"): classic_geojson,
    }
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(args.repeat):
            for (name, how), write in cases.items():
                load = os.getloadavg()[0]
                folder = Path(d) / how  # same file name: GeoJSON names its collection after the file
                folder.mkdir(exist_ok=True)
                wall, cpu, digest = _timed(write, folder / name)
                rows.append({"file": name, "writer": how, "wall s": wall, "cpu s": cpu, "load": load, "sha256": digest})
    df = pd.DataFrame(rows)
    table = df.groupby(["file", "writer"], sort=False).agg(
        {"wall s": "median", "cpu s": "median", "load": "mean", "sha256": "nunique"}
    )
    same = df.groupby("file")["sha256"].nunique().eq(1)  # every writer, every repeat: one file content
    table["identical bytes"] = table.index.get_level_values("file").map(same)
    print(f"{len(result.addresses):,} addresses; medians of {args.repeat}")
    print(table.drop(columns="sha256").round(2).to_string())


if __name__ == "__main__":
    main()
