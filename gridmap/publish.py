"""Publish a run into PostgreSQL/PostGIS in one transaction: versioned grids, code ledger and the rest of the run.

The rest: addresses, liaison groups, violations and the run itself.

Layout (one schema, default ``gridmap``; full DDL in ``gridmap/publish.sql``):

========================  ===================================================================
``runs``                  one row per published run: name, who (database role and OS user),
                          when, villages, the run's manifest (inputs' fingerprints, options,
                          versions), SRID
``grids``                 every version of every grid; ``valid_from_run``..``valid_to_run``
                          (NULL while current). A grid whose code, households and geometry did
                          not change keeps its row; otherwise the old version is closed and a
                          new one inserted
``grids_current``         view: the live layer
``code_ledger``           every code ever issued: ``issued_in_run``, ``retired_in_run``,
                          ``replaced_by``
``addresses``             each run's points with their ``grid_code`` (``addresses_current``)
``liaison``               each run's 联户 groups (``liaison_current``)
``violations``            each run's problems
========================  ===================================================================

A publish replaces the villages/communities of the run and leaves all others alone, so runs of
different villages can be published at the same time (each village is locked for the length of
the transaction; a second publish of the same village waits, then is checked against the first).
The database refuses a retired code (trigger), a code that does not start with its village's
code (CHECK) and two current grids with one code (unique index).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.errors import DatabaseError, InputError, OptionError, Problem, require
from geodata.postgis import DbSource, connect, db_error, mask_url
from geodata.schema import GRID_COLUMNS, PUBLISHED_ADDRESS_COLUMNS

if TYPE_CHECKING:
    import sqlalchemy

    from gridmap.result import GridResult

log = logging.getLogger("gridmap")

LAYOUT_VERSION = "2"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish_run` did."""

    run_id: int
    schema: str
    villages: int
    grids_new: int
    grids_closed: int
    grids_unchanged: int
    codes_issued: int
    codes_retired: int
    addresses: int
    seconds: float

    def summary(self) -> str:
        """One line for the console."""
        return (
            f"Published as run {self.run_id} in schema {self.schema}: {self.villages} villages/communities, "
            f"{self.grids_new} new grid versions, {self.grids_unchanged} unchanged, {self.grids_closed} closed; "
            f"codes issued {self.codes_issued}, retired {self.codes_retired}; {self.addresses:,} addresses "
            f"({self.seconds:.1f} s)."
        )


def _check_schema(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        msg = (
            f"--schema: '{schema}' is not a plain schema name. Fix: use letters, digits and underscores, "
            "starting with a letter (e.g. gridmap)."
        )
        raise OptionError(msg)
    return schema


def layout_sql(schema: str, srid: int) -> str:
    """Return the DDL of the layout for `schema` with geometry columns of `srid` (see ``publish.sql``)."""
    text = resources.files("gridmap").joinpath("publish.sql").read_text(encoding="utf-8")
    return text.replace("@schema@", f'"{_check_schema(schema)}"').replace("@srid@", str(int(srid)))


def _srid(result: GridResult) -> int:
    crs = result.grids.crs
    epsg = crs.to_epsg() if crs is not None else None
    if epsg is None:
        msg = (
            f"the run's CRS ({crs.name if crs is not None else 'none'}) has no EPSG code, so PostGIS cannot type "
            "its columns."
        )
        raise InputError(Problem("run", msg, "make the run again with --output-crs EPSG:4490 (or another EPSG code)."))
    return int(epsg)


def _prepare(conn: sqlalchemy.Connection, schema: str, srid: int) -> None:
    """Create the layout if it is missing, inside the publish's own transaction; check its SRID.

    A failed publish thus leaves no schema, table or index behind. Only a publish that creates the
    layout takes the layout lock (held to its commit); later ones find it and go on in parallel.
    """
    import sqlalchemy as sa

    if not conn.execute(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")).scalar():
        raise DatabaseError("the database has no PostGIS. Fix: run CREATE EXTENSION postgis; in it (as its owner).")

    def exists() -> bool:
        q = "SELECT to_regclass(format('%I.meta', CAST(:s AS text))) IS NOT NULL"
        return bool(conn.execute(sa.text(q), {"s": schema}).scalar())

    have = exists()
    if not have:
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"gridmap-layout:{schema}"}
        )
        have = exists()  # another publish may have created it while this one waited
    if have:
        meta: dict[str, str] = dict(conn.execute(sa.text(f'SELECT key, value FROM "{schema}".meta')).all())
        if meta.get("srid") and int(meta["srid"]) != srid:
            msg = (
                f"schema {schema} holds grids in EPSG:{meta['srid']}, this run is in EPSG:{srid}. "
                f"Fix: publish into another --schema, or make the run with --output-crs EPSG:{meta['srid']}."
            )
            raise DatabaseError(msg)
        if meta.get("layout_version") == LAYOUT_VERSION:
            return
    with conn.connection.cursor() as cur:  # type: ignore[attr-defined]  # DB-API cursor: no parameter parsing, so plpgsql's % stays as written
        cur.execute(layout_sql(schema, srid))


def _stage(conn: sqlalchemy.Connection, gdf: gpd.GeoDataFrame | None, schema: str, name: str) -> str | None:
    """Copy a frame into a staging table inside the transaction (COPY, via geopandas); return its name."""
    if gdf is None or len(gdf) == 0:
        return None
    frame = gdf.copy()
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    for col in frame.columns:
        if col != "geometry" and frame[col].dtype == object:
            frame[col] = frame[col].astype("string")
    frame.to_postgis(name, conn, schema=schema, if_exists="fail", index=False)
    return f'"{schema}"."{name}"'


def _jsonb_rest(conn, alias: str, columns, known: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """Return SQL building a jsonb object of the user's other columns (names bound as parameters), and its parameters.

    Columns are listed explicitly: ``to_jsonb(row)`` would also turn each geometry into GeoJSON,
    which is ten times slower for a million points.
    """
    rest = [c for c in columns if c not in (*known, "geometry", "address_id")]
    if not rest:
        return "NULL", {}
    quote = conn.dialect.identifier_preparer.quote
    params = {f"k{i}": str(c) for i, c in enumerate(rest)}
    parts = []
    for start in range(0, len(rest), 40):  # jsonb_build_object takes at most 100 arguments
        pairs = ", ".join(
            f"CAST(:k{i} AS text), {alias}.{quote(str(rest[i]))}" for i in range(start, min(start + 40, len(rest)))
        )
        parts.append(f"jsonb_build_object({pairs})")
    return f"jsonb_strip_nulls({' || '.join(parts)})", params


def _run_digest(result: GridResult) -> str:
    """Identity of a run: when and from what it was made, and the codes it gave (not its write timings)."""
    m = result.manifest
    ident = {k: m.get(k) for k in ("name", "created", "inputs", "rules", "crs", "counts")}
    ident["codes"] = sorted(result.grids["grid_code"].astype(str))
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def publish_run(result: GridResult, url: str, *, schema: str = "gridmap") -> PublishResult:
    """Write a run into the database in one transaction (all or nothing).

    Parameters
    ----------
    result
        A run (:func:`gridmap.make_grids`, or a run folder read back with :func:`gridmap.read_run`).
    url
        ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` (password also from PGPASSWORD,
        ~/.pgpass or a service file). The database needs PostGIS.
    schema
        Schema holding the layout; created on first use.

    Returns
    -------
    published
        The run's id and what changed.

    Raises
    ------
    InputError
        Bad URL, failed connection, a run without an EPSG CRS.
    OptionError
        A `schema` that is not a plain name.
    DatabaseError
        The database refused the run (a retired code, a code outside its village, the run already
        published, another SRID); nothing was written.
    """
    psycopg = require("psycopg", extra="postgis", purpose="Publishing to PostgreSQL")
    sa = require("sqlalchemy", extra="postgis", purpose="Publishing to PostgreSQL")
    require("geoalchemy2", extra="postgis", purpose="Publishing to PostgreSQL (geopandas' to_postgis)")

    t0 = time.perf_counter()
    _check_schema(schema)
    srid = _srid(result)
    grids = result.grids
    if grids is None or len(grids) == 0:
        raise InputError(Problem("run", "has no grids.", "publish the folder of a finished `gridmap partition`."))
    villages = sorted(set(grids["village_code"].astype(str)) | set(_boundary_codes(result)))
    engine = connect(url)
    q = f'"{schema}"'
    try:
        with engine.begin() as conn:  # one transaction: the layout, the run and all its rows, or nothing
            _prepare(conn, schema, srid)
            for v in villages:  # same order everywhere, so two publishes cannot deadlock
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"gridmap:{schema}:{v}"}
                )
            digest = _run_digest(result)
            dup = conn.execute(sa.text(f"SELECT run_id FROM {q}.runs WHERE run_digest = :d"), {"d": digest}).scalar()
            if dup is not None:
                raise DatabaseError(
                    f"this run was already published as run {dup} in schema {schema}. "
                    "Fix: nothing to do; make a new run to publish changes."
                )
            run_id = int(
                conn.execute(
                    sa.text(
                        f"INSERT INTO {q}.runs (name, run_digest, client_user, created, gridmap_version, villages, "
                        "grids, srid, manifest) "
                        "VALUES (:name, :digest, :who, CAST(:created AS timestamptz), :version, :villages, :grids, "
                        ":srid, CAST(:manifest AS jsonb)) "
                        "RETURNING run_id"
                    ),
                    {
                        "name": str(result.manifest.get("name", "run")),
                        "digest": digest,
                        "who": _os_user(),
                        "created": result.manifest.get("created"),
                        "version": result.manifest.get("gridmap_version"),
                        "villages": villages,
                        "grids": len(grids),
                        "srid": srid,
                        "manifest": json.dumps(_safe_manifest(result.manifest), ensure_ascii=False, default=str),
                    },
                ).scalar_one()
            )
            tag = f"_stage_{uuid.uuid4().hex[:12]}"
            g = grids[[c for c in GRID_COLUMNS if c in grids.columns] + [grids.geometry.name]]
            s_grids = _stage(conn, g, schema, f"{tag}_grids")
            assert s_grids is not None  # a run always has grids
            counts = _publish_grids(conn, q, s_grids, run_id, villages, [c for c in GRID_COLUMNS if c in grids.columns])
            counts["codes_retired"] = _retire_codes(conn, q, run_id, villages, result)
            n_addr = _publish_addresses(conn, schema, run_id, result.addresses)
            _publish_liaison(conn, q, schema, tag, run_id, result.liaison)
            _publish_violations(conn, q, schema, tag, run_id, result.violations)
            for (name,) in conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename LIKE :t"),
                {"s": schema, "t": f"{tag}%"},
            ).all():
                conn.exec_driver_sql(f'DROP TABLE {q}."{name}"')
    except (InputError, DatabaseError):
        raise
    except sa.exc.IntegrityError as exc:
        raise _refused(exc, url) from exc
    except (sa.exc.SQLAlchemyError, psycopg.Error) as exc:  # psycopg's own errors come from the DDL's raw cursor
        raise db_error(
            exc,
            url,
            what="publishing failed (nothing was written)",
            fix="check that the user may create a schema and tables in this database, and retry.",
        ) from exc
    finally:
        engine.dispose()
    out = PublishResult(
        run_id=run_id,
        schema=schema,
        villages=len(villages),
        addresses=n_addr,
        seconds=time.perf_counter() - t0,
        **counts,
    )
    log.info("%s (%s)", out.summary(), mask_url(url))
    return out


def _boundary_codes(result: GridResult) -> list[str]:
    b = result.boundaries
    return [str(c) for c in b["code"]] if b is not None and "code" in b.columns else []


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers)
        return None


def _safe_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest with every database URL in it masked (inputs read from a database)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, str) and "://" in value:
            return re.sub(r"postgres(?:ql)?(?:\+\w+)?://\S*", lambda m: mask_url(m[0]), value)
        return value

    return clean(json.loads(json.dumps(manifest, ensure_ascii=False, default=str)))


def _refused(exc: BaseException, url: str) -> DatabaseError:
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(orig).splitlines()[0]).strip()
    hint = getattr(diag, "message_hint", None)
    constraint = getattr(diag, "constraint_name", None)
    where = f" (constraint {constraint})" if constraint else ""
    fix = hint or "check the run's codes; nothing was written."
    return DatabaseError(
        f"{mask_url(url)}: the database refused the run{where}: {text}. Nothing was written. Fix: {fix}."
    )


def _publish_grids(conn, q: str, stage: str, run_id: int, villages: list[str], cols: list[str]) -> dict[str, int]:
    import sqlalchemy as sa

    same = (
        "s.grid_code = g.grid_code AND s.households IS NOT DISTINCT FROM g.households "
        "AND (ST_Equals(ST_Multi(s.geometry), g.geom) OR ST_Area(ST_SymDifference(ST_Multi(s.geometry), g.geom)) "
        "<= 1e-9 * ST_Area(g.geom))"
    )
    closed = conn.execute(
        sa.text(
            f"UPDATE {q}.grids g SET valid_to_run = :run WHERE g.valid_to_run IS NULL AND g.village_code = ANY(:v) "
            f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE {same})"
        ),
        {"run": run_id, "v": villages},
    ).rowcount
    casts = {
        "households": "round(CAST(s.households AS double precision))",
        "units": "CAST(s.units AS integer)",
        "min_households": "CAST(s.min_households AS integer)",
        "max_households": "CAST(s.max_households AS integer)",
        "kept": "CAST(CAST(s.kept AS text) IN ('1', 'true', 'True') AS boolean)",
        "population": "CAST(s.population AS double precision)",
        "area_m2": "CAST(s.area_m2 AS double precision)",
        "compactness": "CAST(s.compactness AS double precision)",
        "reason": "CAST(s.reason AS jsonb)",
    }
    select = ", ".join(casts.get(c, f"CAST(s.{c} AS text)") for c in cols)
    new = conn.execute(
        sa.text(
            f"INSERT INTO {q}.grids ({', '.join(cols)}, valid_from_run, geom) "
            f"SELECT {select}, :run, ST_Multi(s.geometry) FROM {stage} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {q}.grids g WHERE g.valid_to_run IS NULL AND g.grid_code = s.grid_code)"
        ),
        {"run": run_id},
    ).rowcount
    issued = conn.execute(
        sa.text(f"SELECT count(*) FROM {q}.code_ledger WHERE issued_in_run = :run"), {"run": run_id}
    ).scalar()
    total = conn.execute(sa.text(f"SELECT count(*) FROM {stage}")).scalar()
    return {
        "grids_new": int(new),
        "grids_closed": int(closed),
        "grids_unchanged": int(total - new),
        "codes_issued": int(issued),
    }


def _retire_codes(conn, q: str, run_id: int, villages: list[str], result: GridResult) -> int:
    """Retire the ledger codes of the run's villages that no current grid uses."""
    import sqlalchemy as sa

    changes = result.code_changes if result.code_changes is not None else pd.DataFrame()
    old, new = [], []
    if len(changes) and {"old_code", "new_code", "reason"} <= set(changes.columns):
        ret = changes[changes["reason"].astype(str).str.startswith("retired")]
        old = ret["old_code"].astype(str).tolist()
        new = [str(v) if isinstance(v, str) and v and v != "nan" else None for v in ret["new_code"]]
    # only codes the ledger knows as issued, of the run's own villages, are retired (never a code the run's
    # history merely names: a tampered history would retire numbers the ledger never issued)
    return int(
        conn.execute(
            sa.text(
                f"UPDATE {q}.code_ledger l SET retired_in_run = :run, replaced_by = r.new_code "
                f"FROM (SELECT l2.grid_code, c.new_code FROM {q}.code_ledger l2 "
                "      LEFT JOIN unnest(CAST(:old AS text[]), CAST(:new AS text[])) AS c(old_code, new_code) ON "
                "c.old_code = l2.grid_code "
                "      WHERE l2.retired_in_run IS NULL AND l2.village_code = ANY(:v)) r "
                f"WHERE l.grid_code = r.grid_code "
                f"AND NOT EXISTS (SELECT 1 FROM {q}.grids g WHERE g.valid_to_run IS NULL AND g.grid_code = l.grid_code)"
            ),
            {"run": run_id, "old": old, "new": new, "v": villages},
        ).rowcount
    )


def _publish_addresses(conn, schema: str, run_id: int, addresses: gpd.GeoDataFrame | None) -> int:
    """COPY the run's addresses straight into the addresses table; the user's other columns go into ``attributes``."""
    if addresses is None or len(addresses) == 0:
        return 0
    a = addresses
    geom = a.geometry.name
    frame = pd.DataFrame(
        {"run_id": run_id, "address_id": a["address_id"] if "address_id" in a else np.arange(len(a))}, index=a.index
    )
    for c in PUBLISHED_ADDRESS_COLUMNS:
        if c in ("households", "population"):
            frame[c] = pd.to_numeric(a[c], errors="coerce") if c in a else np.nan
        else:
            frame[c] = a[c].astype("string") if c in a else pd.Series(pd.NA, index=a.index, dtype="string")
    rest = [c for c in a.columns if c not in (*PUBLISHED_ADDRESS_COLUMNS, geom, "address_id")]
    if rest:
        text = a[rest].to_json(orient="records", lines=True, force_ascii=False, default_handler=str)
        frame["attributes"] = text.rstrip("\n").split("\n")  # JSON escapes newlines inside values
    else:
        frame["attributes"] = None
    rows = gpd.GeoDataFrame(frame, geometry=a.geometry.values, crs=a.crs).rename_geometry("geom")
    rows.to_postgis("addresses", conn, schema=schema, if_exists="append", index=False)
    return len(rows)


def _publish_liaison(conn, q: str, schema: str, tag: str, run_id: int, liaison: gpd.GeoDataFrame | None) -> None:
    import sqlalchemy as sa

    if liaison is None or len(liaison) == 0 or "liaison_code" not in liaison.columns:
        return
    stage = _stage(conn, liaison, schema, f"{tag}_liaison")
    attrs, params = _jsonb_rest(conn, "s", liaison.columns, ("liaison_code", "grid_code", liaison.geometry.name))
    conn.execute(
        sa.text(
            f"INSERT INTO {q}.liaison (run_id, liaison_code, grid_code, attributes, geom) "
            f"SELECT :run, CAST(s.liaison_code AS text), CAST(s.grid_code AS text), "
            f"{attrs}, ST_Multi(s.geometry) FROM {stage} s"
        ),
        {"run": run_id, **params},
    )


def _publish_violations(conn, q: str, schema: str, tag: str, run_id: int, violations: gpd.GeoDataFrame | None) -> None:
    import sqlalchemy as sa

    if violations is None or len(violations) == 0:
        return
    v = violations.copy()
    cols = ["kind", "flag", "ref", "message", "message_en", "reason"]
    for col in cols:
        if col not in v.columns:
            v[col] = None
    stage = _stage(conn, v[[*cols, v.geometry.name]], schema, f"{tag}_violations")
    conn.execute(
        sa.text(
            f"INSERT INTO {q}.violations (run_id, {', '.join(cols)}, geom) "
            f"SELECT :run, s.kind, s.flag, s.ref, s.message, s.message_en, CAST(s.reason AS jsonb), s.geometry "
            f"FROM {stage} s"
        ),
        {"run": run_id},
    )


def ledger_codes(source: DbSource) -> list[str]:
    """Every code the database's ledger has issued, for the schema of a ``grids_current`` layer."""
    from geodata.postgis import read_db_table

    schema = source.schema
    ledger = read_db_table(source.url, table=f"{schema}.code_ledger")
    if ledger is None:
        log.warning(
            "%s: no %s.code_ledger beside the previous grids; only their own codes count as used.", source, schema
        )
        return []
    return sorted(str(c) for c in ledger["grid_code"])
