"""Code stability benchmark: how many households keep their grid code when the data change.

Denver 2020 blocks (as in partition_quality.py; households = round(pop / 2.5), estimated) are
gridded once. Then 5 % of the households change at random (seeded): a third deleted, a third
added to random blocks, a third moved from one block to another. The changed input is gridded
again (a) with ``--previous`` only and (b) with ``--previous --keep-valid``, and we print the
share of households (present in both inputs) whose grid code is unchanged, plus timings.

Usage::

    python benchmarks/stability.py [--share 0.05] [--seed 0] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver, run_files, write_inputs  # noqa: E402

from gridmap import LayerSpec, write_run  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def perturb(addresses: pd.DataFrame, *, share: float, seed: int) -> pd.DataFrame:
    """Delete, add and move `share` of all households (a third each) at random blocks."""
    rng = np.random.default_rng(seed)
    hh = addresses["households"].to_numpy(int).copy()
    n = int(round(hh.sum() * share / 3))
    # delete n households, drawn in proportion to where they live
    owners = np.repeat(np.arange(len(hh)), hh)
    gone = rng.choice(owners, size=n, replace=False)
    np.subtract.at(hh, gone, 1)
    # add n households to random blocks that already have people
    lived = np.flatnonzero(hh > 0)
    np.add.at(hh, rng.choice(lived, size=n), 1)
    # move n households from one block to another
    owners = np.repeat(np.arange(len(hh)), hh)
    leave = rng.choice(owners, size=n, replace=False)
    np.subtract.at(hh, leave, 1)
    np.add.at(hh, rng.choice(lived, size=n), 1)
    out = addresses.copy()
    out["households"] = hh
    return out


def kept_share(old: pd.DataFrame, new: pd.DataFrame) -> float:
    """Share of households present in both runs (per block, the smaller count) whose code is unchanged."""
    m = new[["building", "households", "grid_code"]].merge(
        old[["building", "households", "grid_code"]], on="building", suffixes=("", "_old")
    )
    both = np.minimum(m["households"], m["households_old"])
    return float(both[m["grid_code"] == m["grid_code_old"]].sum() / both.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        addresses, tracts, units = denver(SHARED)
        write_inputs(tmp / "before.gpkg", addresses=addresses, boundaries=tracts, units=units)
        changed = perturb(addresses, share=args.share, seed=args.seed)
        write_inputs(tmp / "after.gpkg", addresses=changed, boundaries=tracts, units=units)

        def cfg(path, **kw):
            return dict(
                addresses=LayerSpec(path, "addresses"), boundaries=LayerSpec(path, "boundaries"),
                units=LayerSpec(path, "units"), workers=args.workers, **kw,
            )

        t = time.perf_counter()
        base = run_files(**cfg(tmp / "before.gpkg"))
        t_base = time.perf_counter() - t
        write_run(base, tmp / "base", maps=False)
        prev = LayerSpec(tmp / "base" / "grids.gpkg", "grids")
        same = run_files(**cfg(tmp / "before.gpkg", previous=prev))
        rows = [("same input again, --previous", kept_share(base.addresses, same.addresses), len(same.grids), 0, t_base)]
        for label, kw in (("5% changed, --previous", {}), ("5% changed, --previous --keep-valid", {"keep_valid": True})):
            t = time.perf_counter()
            res = run_files(**cfg(tmp / "after.gpkg", previous=prev, **kw))
            secs = time.perf_counter() - t
            rows.append((label.replace("5%", f"{args.share:.0%}"), kept_share(base.addresses, res.addresses), len(res.grids), int(res.grids["kept"].sum()), secs))
        moved = int(abs(changed["households"] - addresses["households"]).sum())
        print(f"Denver: {len(base.grids)} grids, {int(addresses['households'].sum()):,} households; "
              f"changed households (|Δ| summed over blocks): {moved:,}; first run {t_base:.1f} s")
        table = pd.DataFrame(rows, columns=["run", "households keeping their code", "grids", "grids kept as they were", "seconds"])
        table["households keeping their code"] = table["households keeping their code"].map(lambda v: f"{v:.1%}")
        table["seconds"] = table["seconds"].round(1)
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
