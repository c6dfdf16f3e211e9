"""Measures benchmark: Denver with a second measure, minors per block, without and with a limit on it.

Denver's 178 tracts with 2020 census blocks as units (households = round(pop / 2.5), ESTIMATED) and
``minors`` = TOTPOP20 − VAP20 per block. Prints, per run: grids, share of grids with ≤ LIMIT minors,
share of unforced household-band grids inside the band (flag ``unit_over_max``/``no_feasible_k``
grids are forced by the data and left out), grids flagged for the limit (proven / not proven),
median Polsby–Popper and the time of ``make_grids``.

Usage (from the repo root)::

    python benchmarks/measures.py                  # --limit minors=300
    python benchmarks/measures.py --limit 250
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver, write_inputs  # noqa: E402

import gridmap  # noqa: E402
from gridmap import LayerSpec  # noqa: E402
from partition.measures import within_band  # noqa: E402
from partition.values import Flag, Limit  # noqa: E402

FORCED = (Flag.UNIT_OVER_MAX, Flag.NO_FEASIBLE_K)


def figures(result: gridmap.GridResult, limit: float, seconds: float) -> dict[str, float]:
    """The row of one run: limit share, band share of unforced grids, limit flags, PP median, time."""
    g = result.grids
    band = g["rule"].eq("household_band")
    unforced = band & ~g["flag"].isin([str(f) for f in FORCED])
    minors = result.addresses.groupby("grid_code")["minors"].sum().reindex(g["grid_code"]).fillna(0).to_numpy()
    return {
        "grids": len(g),
        "limit_share": float(np.mean(minors <= limit + 1e-9)),
        "band_share": float(within_band(g)[unforced].mean()),
        "forced": int(g["flag"].eq(str(Flag.LIMIT_FORCED)).sum()),
        "unmet": int(g["flag"].eq(str(Flag.LIMIT_UNMET)).sum()),
        "pp_median": float(g["compactness"].median()),
        "seconds": seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=float, default=300.0, help="most minors per grid [300]")
    ap.add_argument("--workers", type=int, default=1, help="worker processes [1]")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        addresses, tracts, units = denver(SHARED / "data", minors=True)
        path = Path(tmp) / "denver.gpkg"
        write_inputs(path, addresses=addresses, boundaries=tracts, units=units)
        inputs = gridmap.read_inputs(
            LayerSpec(path, "addresses"), LayerSpec(path, "boundaries"), units=LayerSpec(path, "units")
        )
        rows = {}
        for name, limits in (("no limit", ()), (f"--limit minors={args.limit:g}", (Limit("minors", max=args.limit),))):
            options = gridmap.Options(rules=gridmap.Options().rules.with_measures(limits=limits), workers=args.workers)
            t = time.perf_counter()
            result = gridmap.make_grids(**inputs.frames(), options=options)
            rows[name] = figures(result, args.limit, time.perf_counter() - t)
    print(
        f"{'run':<24} {'grids':>5} {'≤' + format(args.limit, 'g') + ' minors':>12} {'band (unforced)':>15} "
        f"{'limit_forced':>12} {'limit_unmet':>11} {'PP median':>9} {'time':>7}"
    )
    for name, r in rows.items():
        print(
            f"{name:<24} {r['grids']:>5} {r['limit_share']:>12.1%} {r['band_share']:>15.1%} {r['forced']:>12} "
            f"{r['unmet']:>11} {r['pp_median']:>9.3f} {r['seconds']:>6.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
