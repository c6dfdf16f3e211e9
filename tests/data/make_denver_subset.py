"""Cut the Denver test subset (tests/data/denver_tracts.gpkg) from ../shared/data (run from the repo root).

Twelve census tracts of Denver County (2020 blocks, US Census, public domain; via mggg/maup, MIT).
Layers: ``units`` (block polygons, ``building`` = GEOID20), ``addresses`` (one representative point
per block, ``households`` = round(pop / 2.5) — an ESTIMATE, not a census count — and
``population``), ``boundaries`` (tracts dissolved from their blocks, stand-in 12-digit codes).
"""

import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
OUT = Path(__file__).with_name("denver_tracts.gpkg")


def main() -> None:
    """Write the subset (the tests only read it; importing this module writes nothing)."""
    sys.path.insert(0, "benchmarks")
    from geopandas import sjoin
    from synthetic import denver, write_inputs

    addresses, tracts, units = denver(SHARED)
    keep = tracts.iloc[40:52]

    inside = sjoin(addresses, keep[["code", "geometry"]], predicate="within")
    addresses = addresses.loc[inside.index.unique()]
    units = units[units["building"].isin(addresses["building"])]
    write_inputs(
        OUT,
        addresses=addresses.reset_index(drop=True),
        boundaries=keep.reset_index(drop=True),
        units=units.reset_index(drop=True),
    )
    print(OUT, len(addresses), int(addresses["households"].sum()), len(keep))


if __name__ == "__main__":
    main()
