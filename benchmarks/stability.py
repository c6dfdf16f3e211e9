"""Code stability benchmark: how many households keep their grid code when the data change.

Denver 2020 blocks (as in partition_quality.py: one address point per block, households =
round(pop / 2.5), estimated) are gridded once. Then 5 % of the households change, one kind of
change at a time, each drawn with seeds 0-4:

delete     address points holding 5 % of the households are deleted
add        new address points (new building ids) with 5 % more households, at populated blocks
move       address points holding 5 % of the households move to another populated block
counts     household counts change: blocks holding 2.5 % of the households are emptied, and
           2.5 % more households are added to other blocks (each grown by half again)

Each changed input is gridded again with ``--previous`` (no ``--keep-valid``), and we print the
share of households whose grid code is unchanged, over the households that are still where they
were (per block the smaller of the old and new counts; moved points excluded): the kind × seed
table, then one row per kind. ``--keep-valid`` adds the same table for that mode.

Usage::

    python benchmarks/stability.py [--share 0.05] [--seeds 5] [--workers 2] [--keep-valid]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver, run_files, write_inputs  # noqa: E402

from gridmap import LayerSpec, write_run  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
KINDS = ("delete", "add", "move", "counts")


def _draw(rng: np.random.Generator, hh: np.ndarray, target: float, *, among: np.ndarray) -> np.ndarray:
    """Random rows of `among` whose households add up to at least `target`."""
    order = rng.permutation(among)
    upto = np.searchsorted(np.cumsum(hh[order]), target) + 1
    return order[:upto]


def perturb(addresses: gpd.GeoDataFrame, kind: str, *, share: float, seed: int) -> tuple[gpd.GeoDataFrame, set[str]]:
    """Return the changed addresses and the building ids of moved points (excluded from the score)."""
    rng = np.random.default_rng(seed)
    out = addresses.copy()
    hh = out["households"].to_numpy(int)
    lived = np.flatnonzero(hh > 0)
    target = hh.sum() * share
    moved: set[str] = set()
    if kind == "delete":
        out = out.drop(index=out.index[_draw(rng, hh, target, among=lived)])
    elif kind == "add":
        at = rng.choice(lived, size=len(lived))
        size = np.maximum(1, np.round(hh[at] * rng.uniform(0.2, 1.0, len(at)))).astype(int)
        upto = np.searchsorted(np.cumsum(size), target) + 1
        new = out.iloc[at[:upto]].copy()
        new["households"] = size[:upto]
        new["population"] = np.round(size[:upto] * 2.5).astype(int)
        new["building"] = [f"new{i}" for i in range(upto)]
        out = gpd.GeoDataFrame(pd.concat([out, new], ignore_index=True), crs=addresses.crs)
    elif kind == "move":
        rows = _draw(rng, hh, target, among=lived)
        dest = rng.choice(lived, size=len(rows))
        geoms = out.geometry.values.copy()
        geoms[rows] = geoms[dest]
        out = out.set_geometry(geoms)
        moved = set(out["building"].iloc[rows])
    elif kind == "counts":
        gone = _draw(rng, hh, target / 2, among=lived)
        grow = _draw(rng, np.ceil(hh / 2), target / 2, among=np.setdiff1d(lived, gone))
        hh = hh.copy()
        hh[grow] += np.ceil(hh[grow] / 2).astype(int)
        hh[gone] = 0
        out["households"] = hh
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return out.reset_index(drop=True), moved


def kept_share(old: pd.DataFrame, new: pd.DataFrame, *, moved: set[str] = frozenset()) -> float:
    """Share of households still where they were (per block, the smaller count) whose code is unchanged."""
    cols = ["building", "households", "grid_code"]
    o = old[cols].groupby("building").agg(households=("households", "sum"), grid_code=("grid_code", "first"))
    n = new[cols][~new["building"].isin(moved)]
    m = n.merge(o, left_on="building", right_index=True, suffixes=("", "_old"))
    both = np.minimum(m["households"], m["households_old"])
    return float(both[m["grid_code"] == m["grid_code_old"]].sum() / both.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--share", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep-valid", action="store_true", help="also run every change with --keep-valid")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        addresses, tracts, units = denver(SHARED)
        write_inputs(tmp / "before.gpkg", addresses=addresses, boundaries=tracts, units=units)

        def cfg(path, **kw):
            return dict(
                addresses=LayerSpec(path, "addresses"),
                boundaries=LayerSpec(path, "boundaries"),
                units=LayerSpec(path, "units"),
                workers=args.workers,
                **kw,
            )

        t = time.perf_counter()
        base = run_files(**cfg(tmp / "before.gpkg"))
        t_base = time.perf_counter() - t
        write_run(base, tmp / "base", maps=False)
        prev = LayerSpec(tmp / "base" / "grids.gpkg", "grids")
        same = run_files(**cfg(tmp / "before.gpkg", previous=prev))
        print(
            f"Denver: {len(base.grids)} grids, {int(addresses['households'].sum()):,} households; "
            f"first run {t_base:.1f} s; same input again with --previous keeps "
            f"{kept_share(base.addresses, same.addresses):.1%} and retires {len(same.manifest['retired_codes'])} codes",
            flush=True,
        )
        modes = [("--previous", {})] + ([("--previous --keep-valid", {"keep_valid": True})] if args.keep_valid else [])
        rows = []
        for kind in args.kinds:
            for seed in range(args.seeds):
                changed, moved = perturb(addresses, kind, share=args.share, seed=seed)
                path = tmp / "after.gpkg"
                write_inputs(path, addresses=changed, boundaries=tracts, units=units)
                for mode, kw in modes:
                    t = time.perf_counter()
                    res = run_files(**cfg(path, previous=prev, **kw))
                    secs = time.perf_counter() - t
                    share = kept_share(base.addresses, res.addresses, moved=moved)
                    out_band = int((res.grids["status"].isin(["under_min", "over_max"])).sum())
                    rows.append(
                        dict(
                            mode=mode,
                            kind=kind,
                            seed=seed,
                            kept=share,
                            grids=len(res.grids),
                            out_of_band=out_band,
                            seconds=round(secs, 1),
                        )
                    )
                    print(
                        f"{mode:26s} {kind:7s} seed {seed}: {share:.1%} kept, {len(res.grids)} grids, "
                        f"{out_band} out of band, {secs:.1f} s",
                        flush=True,
                    )
        table = pd.DataFrame(rows)
        for mode, _ in modes:
            t = table[table["mode"].eq(mode)]
            wide = t.pivot(index="kind", columns="seed", values="kept").reindex(args.kinds)
            wide["min"] = wide.min(axis=1)
            wide["mean"] = wide.drop(columns="min").mean(axis=1)
            print(f"\nHouseholds keeping their code, {mode} after a {args.share:.0%} change (kind × seed):")
            print(wide.map(lambda v: f"{v:.1%}").to_string())


if __name__ == "__main__":
    main()
