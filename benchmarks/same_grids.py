"""Same grids: compare default runs with the reference grids kept in benchmarks/reference/.

Usage (from the repo root)::

    python benchmarks/same_grids.py             # compare sample and Denver with the references
    python benchmarks/same_grids.py --write     # (re)write the references from this checkout

A refactor that is meant to change nothing must print ``identical`` for both. For every grid the
reference keeps its code, households, status and a hash of its exact geometry (WKB of the
normalised polygon in the work CRS, coordinates rounded to 1 mm), so a change in any of them is
named by code. ``sample`` is the bundled sample with its exclusive areas, barriers and liaison
groups; ``denver`` is the 178 Denver tracts of ../shared/data with census blocks as units.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = Path(__file__).with_name("reference")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import denver, write_inputs  # noqa: E402

import gridmap  # noqa: E402
from gridmap import LayerSpec  # noqa: E402


def fingerprint(result: gridmap.GridResult) -> pd.DataFrame:
    """One row per grid: code, households, status and a hash of its geometry (work CRS, 1 mm)."""
    g = result.grids.to_crs(result.work_crs)
    geoms = shapely.normalize(shapely.set_precision(g.geometry.values, 0.001))
    digest = [hashlib.sha1(shapely.to_wkb(x, hex=False)).hexdigest()[:16] for x in geoms]
    return pd.DataFrame(
        {
            "grid_code": g["grid_code"].astype(str).to_numpy(),
            "households": g["households"].astype(int).to_numpy(),
            "status": g["status"].astype(str).to_numpy(),
            "geometry_sha1": digest,
        }
    ).sort_values("grid_code", ignore_index=True)


def run_case(name: str, tmp: Path) -> gridmap.GridResult:
    """Run one reference case through the public API with default options."""
    if name == "sample":
        p = gridmap.sample_path()
        inputs = gridmap.read_inputs(
            LayerSpec(p, "addresses"),
            LayerSpec(p, "boundaries"),
            exclusive=LayerSpec(p, "exclusive"),
            barriers=[LayerSpec(p, "barriers")],
        )
        return _make(inputs, liaison=(10, 15))
    addresses, tracts, units = denver(SHARED / "data")
    path = tmp / "denver.gpkg"
    write_inputs(path, addresses=addresses, boundaries=tracts, units=units)
    inputs = gridmap.read_inputs(
        LayerSpec(path, "addresses"), LayerSpec(path, "boundaries"), units=LayerSpec(path, "units")
    )
    return _make(inputs)


def _make(inputs: gridmap.Inputs, *, liaison: tuple[int, int] | None = None) -> gridmap.GridResult:
    options = getattr(gridmap, "Options", None)
    if options is None:  # before the options object existed (the commit the references were taken at)
        return gridmap.make_grids(**inputs.frames(), liaison=liaison)
    return gridmap.make_grids(**inputs.frames(), options=options(liaison=liaison))


def compare(ref: pd.DataFrame, now: pd.DataFrame) -> list[str]:
    """Differences between a reference fingerprint and a new one, one line per grid code."""
    merged = ref.merge(now, on="grid_code", how="outer", suffixes=("_ref", "_now"), indicator=True)
    lines = []
    for row in merged.to_dict("records"):
        if row["_merge"] == "left_only":
            lines.append(f"{row['grid_code']}: only in the reference")
        elif row["_merge"] == "right_only":
            lines.append(f"{row['grid_code']}: new")
        else:
            what = [
                f"{col} {_text(row[col + '_ref'])} → {_text(row[col + '_now'])}"
                for col in ("households", "status", "geometry_sha1")
                if row[col + "_ref"] != row[col + "_now"]
            ]
            if what:
                lines.append(f"{row['grid_code']}: " + ", ".join(what))
    return lines


def _text(value: object) -> str:
    """A value as the reference file writes it (the outer merge turns whole numbers into floats)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", help="sample and/or denver [both]")
    ap.add_argument("--write", action="store_true", help="write the references instead of comparing")
    args = ap.parse_args()
    args.cases = args.cases or ["sample", "denver"]
    REFERENCE.mkdir(exist_ok=True)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            t = time.perf_counter()
            now = fingerprint(run_case(case, Path(tmp)))
            s = time.perf_counter() - t
            path = REFERENCE / f"{case}_grids.csv"
            if args.write:
                now.to_csv(path, index=False)
                print(f"{case}: wrote {len(now)} grids to {path.relative_to(ROOT)} ({s:.1f} s)")
                continue
            ref = pd.read_csv(path, dtype={"grid_code": str, "geometry_sha1": str})
            diffs = compare(ref, now)
            print(f"{case}: {len(now)} grids, {'identical' if not diffs else f'{len(diffs)} differ'} ({s:.1f} s)")
            for line in diffs[:40]:
                print("  " + line)
            failed |= bool(diffs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
