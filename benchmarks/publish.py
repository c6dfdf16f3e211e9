"""Database benchmark: publish time of a run into PostGIS, and reading inputs back from it.

Datasets (seeded, as in scale.py):
  denver   Denver 2020 blocks as units, tracts as communities (the partition_quality.py case)
  N        synthetic city with one point per household: 100k, 300k, 1M (benchmarks/synthetic.py)

For each: make the run (not timed here; scale.py times it), then
  publish 1     first publish into an empty schema (layout created, every grid and address new)
  publish 2     the same grids published again as a new run (versioning compares every grid:
                all unchanged, addresses written again for the new run)
  read          read the addresses back from PostGIS (geodata.postgis.read_db_layer) vs from the
                run's GeoPackage (pyogrio)

The server: --db URL, else $GRIDMAP_TEST_DB, else a throwaway cluster (tests/pgcluster.py) on
this machine (fsync off, as in CI; a production server with fsync on adds commit latency).

Usage::

    python benchmarks/publish.py                  # denver 1M
    python benchmarks/publish.py 100k 300k --db postgresql://me@localhost/bench
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from scale import SHARED, denver_points, explode  # noqa: E402
from synthetic import denver, make_town, write_inputs  # noqa: E402

from geodata import io as gio  # noqa: E402
from geodata.postgis import read_db_layer  # noqa: E402
from gridmap import LayerSpec, make_grids, read_inputs, read_run  # noqa: E402
from gridmap.options import Options  # noqa: E402
from gridmap.publish import publish_run  # noqa: E402


def make_inputs(name: str, path: Path, seed: int) -> dict[str, str]:
    if name == "denver":
        addresses, tracts, units = denver(SHARED)
        write_inputs(path, addresses=addresses, boundaries=tracts, units=units)
        return {"addresses": "addresses", "boundaries": "boundaries", "units": "units"}
    if name == "denver-points":
        pts, tracts = denver_points(seed)
        write_inputs(path, addresses=pts, boundaries=tracts)
        return {"addresses": "addresses", "boundaries": "boundaries"}
    n = int(float(name.lower().replace("k", "e3").replace("m", "e6")))
    town = make_town(n, seed=seed)
    write_inputs(path, addresses=explode(town.addresses), boundaries=town.boundaries, roads=town.roads)
    return {"addresses": "addresses", "boundaries": "boundaries", "roads": "roads"}


def case(name: str, tmp: Path, url: str, *, seed: int, workers: int) -> dict:
    path = tmp / f"{name}.gpkg"
    layers = make_inputs(name, path, seed)
    inputs = read_inputs(
        LayerSpec(path, layers["addresses"]),
        LayerSpec(path, layers["boundaries"]),
        units=LayerSpec(path, layers["units"]) if "units" in layers else None,
        barriers=[LayerSpec(path, layers["roads"])] if "roads" in layers else (),
    )
    t = time.perf_counter()
    run = tmp / f"run_{name}"
    make_grids(**inputs.frames(), options=Options(workers=workers)).save(run, maps=False)
    t_make = time.perf_counter() - t
    result = read_run(run)
    schema = f"bench_{name.lower().replace('-', '_')}"
    first = publish_run(result, url, schema=schema)
    result.manifest["name"] = f"{result.manifest.get('name')} (again)"  # a new run with the same grids
    second = publish_run(result, url, schema=schema)
    t = time.perf_counter()
    back = read_db_layer(url, sql=f"SELECT * FROM {schema}.addresses WHERE run_id = {second.run_id}")
    t_read_db = time.perf_counter() - t
    t = time.perf_counter()
    from_file = gio.read_layer(run / "grids.gpkg", layer="addresses")
    t_read_file = time.perf_counter() - t
    assert len(back) == len(from_file) == first.addresses
    return {
        "dataset": name,
        "addresses": first.addresses,
        "grids": len(result.grids),
        "villages": first.villages,
        "run s (not publish)": round(t_make, 1),
        "publish 1 s": round(first.seconds, 1),
        "publish 2 s": round(second.seconds, 1),
        "unchanged in 2": second.grids_unchanged,
        "addresses/s (publish 1)": int(first.addresses / first.seconds),
        "read DB s": round(t_read_db, 1),
        "read GPKG s": round(t_read_file, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", default=["denver", "1M"])
    ap.add_argument(
        "--db", help="postgresql:// URL of a database with PostGIS [$GRIDMAP_TEST_DB, else a throwaway cluster]"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    url = args.db or os.environ.get("GRIDMAP_TEST_DB")
    folder = None
    if not url:
        from tests import pgcluster

        url, folder = pgcluster.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as d:
            for name in args.datasets:
                row = case(name, Path(d), url, seed=args.seed, workers=args.workers)
                rows.append(row)
                print(pd.DataFrame([row]).to_string(index=False), flush=True)
    finally:
        if folder is not None:
            from tests import pgcluster

            pgcluster.stop(folder)
    print("\nSummary")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
