"""Map size benchmark: HTML size and render time of the interactive map of a ~4,000-grid city.

A seeded synthetic city (benchmarks/synthetic.py) of 600,000 households gridded with a 100-200
household band gives about 4,000 grids; the map is written online and with --offline (scripts
inlined), at the default 1 m display simplification and without simplification.

Usage::

    python benchmarks/map_size.py [--households 600000] [--min 100 --max 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import make_town, run_files, write_inputs  # noqa: E402

from gridmap import LayerSpec  # noqa: E402
from gridmap.maps import write_map  # noqa: E402
from gridmap.offline import asset_dir  # noqa: E402
from partition.rules import RuleSet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=600_000)
    ap.add_argument("--min", type=int, default=100)
    ap.add_argument("--max", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        town = make_town(args.households, seed=0)
        path = tmp / "city.gpkg"
        write_inputs(path, addresses=town.addresses, boundaries=town.boundaries, roads=town.roads)
        config = dict(
            addresses=LayerSpec(path, "addresses"), boundaries=LayerSpec(path, "boundaries"),
            barriers=(LayerSpec(path, "roads"),), rules=RuleSet.from_dict({}, min_households=args.min, max_households=args.max),
            workers=args.workers,
        )
        result = run_files(**config)
        print(f"{len(result.grids)} grids, {len(result.addresses):,} address points, {int(result.addresses['households'].sum()):,} households")
        for label, kw in (
            ("online, 1 m simplification", {}),
            ("online, no simplification", {"tolerance_m": 0.0}),
            ("offline (scripts inlined), 1 m", {"offline": True}),
        ):
            if kw.get("offline") and not (asset_dir() / "node_modules").exists():
                print(f"{label:34}: skipped (run `gridmap assets` first)")
                continue
            t = time.perf_counter()
            out = tmp / "map.html"
            write_map(result, out, **kw)
            print(f"{label:34}: {out.stat().st_size / 1e6:6.1f} MB in {time.perf_counter() - t:5.1f} s")


if __name__ == "__main__":
    main()
