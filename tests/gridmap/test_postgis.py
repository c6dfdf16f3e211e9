"""Publishing runs to a real PostGIS: layout and constraints, regeneration history, the ledger's refusal
of retired codes, a publish killed halfway, two publishes at once, audit/diff on database layers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from geodata.postgis import DbSource
from geodata.sample import sample_path
from gridmap import LayerSpec, make_grids, read_inputs
from gridmap.options import Options
from gridmap.publish import layout_sql
from partition.rules import RuleSet
from tests import pgfixtures
from tests.pgfixtures import cli, sql

pg_server = pgfixtures.pg_server  # fixtures: a real PostgreSQL/PostGIS server, a fresh database per test
db = pgfixtures.db
plain_db = pgfixtures.plain_db

NARROW = RuleSet.from_dict({}, min_households=200, max_households=320)
TABLES = ("runs", "grids", "code_ledger", "addresses", "liaison", "violations")


def load_sample(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA inputs")
        for layer in ("addresses", "boundaries", "exclusive", "barriers"):
            gpd.read_file(sample_path(), layer=layer).to_postgis(layer, conn, schema="inputs", index=False)
    engine.dispose()


def make_run(url: str, out: Path, *, previous: bool = False, boundaries_sql: str | None = None, **kw) -> Path:
    """A run of the sample read from the database (optionally regenerated from its grids_current)."""

    def src(**s):
        return LayerSpec(DbSource(url, **s), s.get("layer"))

    inputs = read_inputs(
        src(layer="inputs.addresses"),
        src(sql=boundaries_sql) if boundaries_sql else src(layer="inputs.boundaries"),
        exclusive=src(layer="inputs.exclusive"),
        barriers=[src(layer="inputs.barriers")],
        previous=src(layer="gridmap.grids_current") if previous else None,
    )
    make_grids(**inputs.frames(), options=Options(liaison=(10, 15), **kw)).save(out, maps=False)
    return out


def codes(run: Path) -> set[str]:
    return set(gpd.read_file(run / "grids.gpkg", layer="grids")["grid_code"])


def snapshot(url: str) -> dict[str, list]:
    return {t: sql(url, f"SELECT count(*) FROM gridmap.{t}") for t in TABLES} | {
        "ledger": sql(url, "SELECT * FROM gridmap.code_ledger ORDER BY grid_code"),
        "grid_versions": sql(url, "SELECT grid_code, valid_from_run, valid_to_run FROM gridmap.grids ORDER BY id"),
        "staging": sql(url, "SELECT tablename FROM pg_tables WHERE tablename LIKE '%stage%'"),
    }


def publish_process(run: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from gridmap.cli import run; run()", "publish", str(run), "--db", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(cond, timeout: float = 90.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def waiting_publishers(url: str) -> list[int]:
    """Backends of gridmap publishes that have written (have a transaction id) and now wait for a lock."""
    rows = sql(
        url,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'gridmap' "
        "AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL",
    )
    return [r[0] for r in rows]


def test_publish_writes_the_layout_with_typed_indexed_geometry_and_constraints(db, tmp_path, monkeypatch, capsys):
    load_sample(db)
    run = make_run(db, tmp_path / "r1")
    code, out, err = cli(["publish", str(run), "--db", db], monkeypatch, capsys)
    assert code == 0, err
    assert "Published as run 1" in out
    assert urlsplit(db).password not in out + err
    n = len(codes(run))
    assert sql(
        db, "SELECT count(*), count(*) FILTER (WHERE valid_to_run IS NULL AND valid_from_run = 1) FROM gridmap.grids"
    ) == [(n, n)]
    assert sql(db, "SELECT count(*) FROM gridmap.grids_current") == [(n,)]
    assert {
        r[0]
        for r in sql(db, "SELECT grid_code FROM gridmap.code_ledger WHERE issued_in_run = 1 AND retired_in_run IS NULL")
    } == codes(run)
    assert sql(db, "SELECT count(*), count(grid_code) FROM gridmap.addresses_current") == [(858, 858)]
    assert sql(db, "SELECT count(*) FROM gridmap.liaison_current")[0][0] > 0
    # flagged grids keep their reason as data (jsonb) beside the note in Chinese and in English
    flagged = sql(db, "SELECT reason->0->>'kind', note, note_en FROM gridmap.grids_current WHERE status <> 'ok'")
    assert flagged and all(kind and "户" in zh and "households" in en for kind, zh, en in flagged)
    name, by, villages, manifest = sql(db, "SELECT name, published_by, villages, manifest FROM gridmap.runs")[0]
    assert name == "run" and by == urlsplit(db).username and len(villages) == 6
    assert manifest["inputs"]["addresses"]["path"].endswith("layer inputs.addresses")
    assert urlsplit(db).password not in str(manifest)
    # geometry typed with the run's SRID, GiST-indexed
    cols = dict(
        (r[0], (r[1], r[2]))
        for r in sql(db, "SELECT f_table_name, srid, type FROM geometry_columns WHERE f_table_schema = 'gridmap'")
    )
    assert cols["grids"] == (4490, "MULTIPOLYGON") and cols["grids_current"] == (4490, "MULTIPOLYGON")
    assert cols["addresses"] == (4490, "POINT")
    gist = {
        r[0]
        for r in sql(
            db, "SELECT tablename FROM pg_indexes WHERE schemaname = 'gridmap' AND indexdef LIKE '%USING gist%'"
        )
    }
    assert gist == {"grids", "addresses", "liaison", "violations"}
    # the database refuses a code outside its village and a second current grid with one code
    some = sql(db, "SELECT grid_code, village_code FROM gridmap.grids_current LIMIT 1")[0]
    insert = (
        "INSERT INTO gridmap.grids (grid_code, village_code, valid_from_run, geom) "
        "SELECT %s, %s, 1, geom FROM gridmap.grids LIMIT 1"
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="grid_code_in_village"):
        sql(db, insert, ("110101001001001", some[1]))
    with pytest.raises(psycopg.errors.UniqueViolation, match="grids_current_code"):
        sql(db, insert, some)
    # the same run again is refused, and nothing is added
    before = snapshot(db)
    code, _, err = cli(["publish", str(run), "--db", db], monkeypatch, capsys)
    assert code == 2 and "already published as run 1" in err and "Traceback" not in err
    assert snapshot(db) == before


def test_regeneration_keeps_history_and_the_database_refuses_a_retired_code(db, tmp_path, monkeypatch, capsys):
    load_sample(db)
    r1 = make_run(db, tmp_path / "r1")
    assert cli(["publish", str(r1), "--db", db], monkeypatch, capsys)[0] == 0
    c1 = codes(r1)
    import shutil

    shutil.rmtree(r1)  # the earlier run folder is gone: the database alone carries the codes
    # a narrower band splits grids: codes retired, new ones issued
    r2 = make_run(db, tmp_path / "r2", previous=True, rules=NARROW)
    code, out, err = cli(["publish", str(r2), "--db", db], monkeypatch, capsys)
    assert code == 0, err
    c2 = codes(r2)
    retired = c1 - c2
    assert retired and c2 - c1
    assert {r[0] for r in sql(db, "SELECT grid_code FROM gridmap.grids_current")} == c2
    ledger = {
        r[0]: r[1:]
        for r in sql(db, "SELECT grid_code, issued_in_run, retired_in_run, replaced_by FROM gridmap.code_ledger")
    }
    assert set(ledger) == c1 | c2
    assert {c for c, (_, ret, _) in ledger.items() if ret == 2} == retired
    assert all(ledger[c][0] == 2 and ledger[c][1] is None for c in c2 - c1)
    assert all(ledger[c][2] in c2 for c in retired if ledger[c][2])  # replaced_by points at a current grid
    assert any(ledger[c][2] for c in retired)
    # history: every version of run 1 that changed is closed by run 2; unchanged grids keep their row
    versions = sql(db, "SELECT grid_code, valid_from_run, valid_to_run FROM gridmap.grids")
    closed = {c for c, f, t in versions if t == 2}
    assert retired <= closed
    assert all(f == 1 for c, f, t in versions if t == 2)
    current_from = {c: f for c, f, t in versions if t is None}
    assert {c for c, f in current_from.items() if f == 2} >= c2 - c1
    assert len(versions) == len(c1) + sum(1 for f in current_from.values() if f == 2)
    # run 3 with the default band again, from the database: no retired code comes back
    r3 = make_run(db, tmp_path / "r3", previous=True)
    assert not (codes(r3) - c2) & retired
    assert cli(["publish", str(r3), "--db", db], monkeypatch, capsys)[0] == 0

    # the database itself refuses a retired code, whoever tries
    old = sorted(retired)[0]
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="can never be issued again"):
        sql(
            db,
            "INSERT INTO gridmap.grids (grid_code, village_code, valid_from_run, geom) "
            "SELECT %s, %s, 3, geom FROM gridmap.grids LIMIT 1",
            (old, old[:12]),
        )
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="cannot be un-retired"):
        sql(db, "UPDATE gridmap.code_ledger SET retired_in_run = NULL WHERE grid_code = %s", (old,))
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
        sql(db, "DELETE FROM gridmap.code_ledger WHERE grid_code = %s", (old,))
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
        sql(db, "TRUNCATE gridmap.code_ledger CASCADE")
    # ... and a run made without --previous (numbering from 001 again) is refused whole
    before = snapshot(db)
    fresh = make_run(db, tmp_path / "fresh", name="made without --previous")
    assert codes(fresh) & retired
    code, out, err = cli(["publish", str(fresh), "--db", db], monkeypatch, capsys)
    assert code == 2, out
    assert "can never be issued again" in err and "Nothing was written" in err and "Traceback" not in err
    assert snapshot(db) == before

    # audit and diff read database layers: grids of run 1 against the current ones
    run1 = "SELECT * FROM gridmap.grids WHERE valid_from_run <= 1 AND coalesce(valid_to_run, 2147483647) > 1"
    code, out, err = cli(
        [
            "diff",
            db,
            db,
            "--old-sql",
            run1,
            "--addresses",
            db,
            "--addresses-layer",
            "inputs.addresses",
            "--out",
            str(tmp_path / "diff"),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    assert "of households change grid" in out and (tmp_path / "diff" / "report.html").exists()
    code, out, err = cli(
        [
            "audit",
            "--grids",
            db,
            "--grids-layer",
            "gridmap.grids_current",
            "--addresses",
            db,
            "--addresses-layer",
            "inputs.addresses",
            "--boundaries",
            db,
            "--boundaries-layer",
            "inputs.boundaries",
            "--out",
            str(tmp_path / "audit"),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    assert f"{len(codes(r3))} grids audited" in out


@pytest.mark.slow
def test_a_publish_killed_halfway_leaves_the_database_as_it_was(db, tmp_path, monkeypatch, capsys):
    load_sample(db)
    r1 = make_run(db, tmp_path / "r1")
    assert cli(["publish", str(r1), "--db", db], monkeypatch, capsys)[0] == 0
    r2 = make_run(db, tmp_path / "r2", previous=True, rules=NARROW)
    before = snapshot(db)
    # hold the addresses table so the publish stops mid-transaction, after its grids and ledger writes
    with psycopg.connect(db) as blocker:
        blocker.execute("LOCK TABLE gridmap.addresses IN ACCESS EXCLUSIVE MODE")
        proc = publish_process(r2, db)
        wait_until(lambda: waiting_publishers(db), what="the publish to block mid-transaction")
        pid = waiting_publishers(db)[0]
        wrote = {
            r[0]
            for r in sql(
                db,
                "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid = %s AND l.mode = 'RowExclusiveLock'",
                (pid,),
            )
        }
        assert {"grids", "code_ledger"} <= wrote  # it had written grid versions and ledger rows
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        blocker.rollback()
    wait_until(
        lambda: not sql(db, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)),
        what="the server to end the backend",
    )
    assert snapshot(db) == before
    # the database is fine: the same run publishes normally afterwards
    code, out, err = cli(["publish", str(r2), "--db", db], monkeypatch, capsys)
    assert code == 0, err
    assert sql(db, "SELECT count(*) FROM gridmap.runs") == [(2,)]


@pytest.mark.slow
def test_two_publishes_of_different_villages_run_at_the_same_time(db, tmp_path, monkeypatch, capsys):
    load_sample(db)
    all_codes = [r[0] for r in sql(db, "SELECT code FROM inputs.boundaries ORDER BY code")]
    half = len(all_codes) // 2
    runs = []
    for i, part in enumerate((all_codes[:half], all_codes[half:])):
        listed = ", ".join(f"'{c}'" for c in part)
        runs.append(
            make_run(
                db, tmp_path / f"part{i}", boundaries_sql=f"SELECT * FROM inputs.boundaries WHERE code IN ({listed})"
            )
        )
    sql(db, layout_sql("gridmap", 4490))
    with psycopg.connect(db) as blocker:
        blocker.execute("LOCK TABLE gridmap.addresses IN ACCESS EXCLUSIVE MODE")
        procs = [publish_process(r, db) for r in runs]
        # both are inside their transactions at once, grids written, neither blocks the other
        wait_until(lambda: len(waiting_publishers(db)) == 2, what="both publishes to be mid-transaction")
        blocker.rollback()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    current = {r[0] for r in sql(db, "SELECT grid_code FROM gridmap.grids_current")}
    assert current == codes(runs[0]) | codes(runs[1])
    villages = sql(db, "SELECT villages FROM gridmap.runs ORDER BY run_id")
    assert sorted(v for (vs,) in villages for v in vs) == all_codes
    assert sql(db, "SELECT count(*) FROM gridmap.code_ledger") == [(len(current),)]


def test_a_run_in_another_crs_is_refused_by_a_schema_with_other_srid(db, tmp_path, monkeypatch, capsys):
    load_sample(db)
    assert cli(["publish", str(make_run(db, tmp_path / "r1")), "--db", db], monkeypatch, capsys)[0] == 0
    other = make_run(db, tmp_path / "wgs84", output_crs="EPSG:4326")
    code, _, err = cli(["publish", str(other), "--db", db], monkeypatch, capsys)
    assert code == 2
    assert "holds grids in EPSG:4490, this run is in EPSG:4326" in err
    code, out, err = cli(["publish", str(other), "--db", db, "--schema", "gridmap_wgs84"], monkeypatch, capsys)
    assert code == 0, err


def clean_run(folder: Path) -> Path:
    """One community, 40 points, no violations, no liaison groups, in a UTM CRS."""
    import numpy as np
    import shapely

    xy = np.c_[350_010 + np.arange(40) % 8 * 20, 3_460_010 + np.arange(40) // 8 * 20]
    pts = gpd.GeoDataFrame({"households": [10] * 40}, geometry=shapely.points(xy), crs=32651)
    b = gpd.GeoDataFrame(
        {"code": ["310115005001"], "name": ["社区A"], "urban_rural": ["111"]},
        geometry=[shapely.box(350_000, 3_460_000, 350_160, 3_460_100)],
        crs=32651,
    )
    return make_grids(pts, b).save(folder, maps=False)


def test_a_database_without_postgis_is_named_as_the_problem(plain_db, tmp_path, monkeypatch, capsys):
    run = clean_run(tmp_path / "clean")
    code, out, err = cli(["publish", str(run), "--db", plain_db], monkeypatch, capsys)
    assert code == 2 and "has no PostGIS" in err and "CREATE EXTENSION postgis" in err and "Traceback" not in err
    code, out, err = cli(
        [
            "partition",
            "--addresses",
            plain_db,
            "--addresses-layer",
            "a",
            "--boundaries",
            plain_db,
            "--boundaries-layer",
            "b",
            "--out",
            str(tmp_path / "o"),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 2 and "the database has no PostGIS" in err and "Traceback" not in err
    assert urlsplit(plain_db).password not in out + err


def test_a_clean_run_publishes_and_bad_connections_give_clear_errors(db, tmp_path, monkeypatch, capsys):
    run = clean_run(tmp_path / "clean")
    u = urlsplit(db)
    wrong = db.replace(f":{u.password}@", ":not-it@")
    for args, expected in (
        (["--db", wrong], "password authentication failed"),
        (
            ["--db", f"postgresql://{u.username}:{u.password}@{u.hostname}:port{u.path}"],
            "is not a valid PostgreSQL URL",
        ),
        (["--db", db, "--schema", "grids; DROP TABLE x"], "is not a plain schema name"),
    ):
        code, out, err = cli(["publish", str(run), *args], monkeypatch, capsys)
        assert code == 2, (out, err)
        assert expected in err and "Fix:" in err and "Traceback" not in err
        assert u.password not in out + err
    code, out, err = cli(["publish", str(run), "--db", db], monkeypatch, capsys)
    assert code == 0, err
    assert sql(db, "SELECT srid, grids FROM gridmap.runs") == [(32651, 1)]
    assert sql(db, "SELECT grid_code FROM gridmap.grids_current") == [("310115005001000",)]
    assert sql(db, "SELECT count(*) FROM gridmap.violations") == [(0,)]


@pytest.mark.slow
def test_a_second_publish_of_the_same_village_waits_and_is_checked_against_the_first(db, tmp_path, monkeypatch, capsys):
    load_sample(db)
    r1 = make_run(db, tmp_path / "r1")
    assert cli(["publish", str(r1), "--db", db], monkeypatch, capsys)[0] == 0
    # two regenerations of the same villages from the same published state
    a = make_run(db, tmp_path / "a", previous=True, rules=NARROW)
    b = make_run(db, tmp_path / "b", previous=True, rules=RuleSet.from_dict({}, min_households=250, max_households=420))
    with psycopg.connect(db) as blocker:
        blocker.execute("LOCK TABLE gridmap.addresses IN ACCESS EXCLUSIVE MODE")
        first = publish_process(a, db)
        wait_until(lambda: waiting_publishers(db), what="the first publish to be mid-transaction")
        second = publish_process(b, db)
        wait_until(
            lambda: sql(
                db, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'gridmap' AND wait_event = 'advisory'"
            ),
            what="the second publish to wait for the villages' locks",
        )
        blocker.rollback()
    out_a, out_b = first.communicate(timeout=120), second.communicate(timeout=120)
    assert first.returncode == 0, out_a
    retired_by_a = codes(r1) - codes(a)
    current = {r[0] for r in sql(db, "SELECT grid_code FROM gridmap.grids_current")}
    if codes(b) & retired_by_a:  # b would bring back a code a retired: the database refuses b whole
        assert second.returncode == 2 and "can never be issued again" in out_b[1]
        assert current == codes(a)
    else:
        assert second.returncode == 0, out_b
        assert current == codes(b)
    # either way: every current code is in the ledger and none of them is retired
    ledger = dict(sql(db, "SELECT grid_code, retired_in_run FROM gridmap.code_ledger"))
    assert all(c in ledger and ledger[c] is None for c in current)


def test_a_user_without_the_right_to_create_gets_a_clear_refusal_and_nothing_changes(db, tmp_path, monkeypatch, capsys):
    import secrets

    role, password = f"reader_{secrets.token_hex(4)}", secrets.token_hex(8)
    u = urlsplit(db)
    name = u.path.lstrip("/")
    sql(db, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        sql(db, f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC')
        sql(db, f'GRANT CONNECT ON DATABASE "{name}" TO {role}')
        reader = f"postgresql://{role}:{password}@{u.hostname}:{u.port}/{name}"
        code, out, err = cli(["publish", str(clean_run(tmp_path / "clean")), "--db", reader], monkeypatch, capsys)
        assert code == 2, out
        assert "permission denied" in err and "GRANT CREATE ON DATABASE" in err and "Traceback" not in err
        assert password not in out + err
        assert sql(db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'gridmap'") == [(0,)]
    finally:
        sql(db, f"DROP OWNED BY {role}")
        sql(db, f"DROP ROLE {role}")


# ---------------------------------------------------------------- secrets: a password never leaves the URL

HARD_PASSWORD = "p/w@x:y#z%q?r s"
"""Every character that breaks a URL: / @ : # % ? and a space."""


def _forms(password: str) -> set[str]:
    from urllib.parse import quote, quote_plus

    pieces = {p for p in re.split(r"[/@:#%? ]", password) if len(p) >= 3}  # what a half-parsed URL would show
    return {password, quote(password, safe=""), quote_plus(password), *pieces}


def _leaks(text: str, password: str) -> set[str]:
    return {f for f in _forms(password) if f in text}


@pytest.fixture
def hard_role(db):
    """A role whose password holds / @ : # % ? and a space, owning the test database (where the sample is loaded)."""
    import secrets

    role = f"owner_{secrets.token_hex(4)}"
    u = urlsplit(db)
    name = u.path.lstrip("/")
    load_sample(db)
    sql(db, f"CREATE ROLE {role} LOGIN PASSWORD %s".replace("%s", "'" + HARD_PASSWORD.replace("'", "''") + "'"))
    sql(db, f'GRANT ALL ON DATABASE "{name}" TO {role}')
    sql(db, f"GRANT USAGE, CREATE ON SCHEMA inputs, public TO {role}")
    sql(db, f"GRANT SELECT ON ALL TABLES IN SCHEMA inputs TO {role}")
    try:
        yield role, u
    finally:
        sql(db, "DROP SCHEMA IF EXISTS gridmap CASCADE")
        sql(db, f"DROP OWNED BY {role}")
        sql(db, f"DROP ROLE {role}")


def test_a_password_with_url_characters_is_in_no_file_table_or_message(hard_role, tmp_path, monkeypatch, capsys):
    from urllib.parse import quote

    role, u = hard_role
    url = f"postgresql://{role}:{quote(HARD_PASSWORD, safe='')}@{u.hostname}:{u.port}{u.path}"
    run = tmp_path / "run"
    code, out, err = cli(
        [
            "partition",
            *("--addresses", url, "--addresses-layer", "inputs.addresses"),
            *("--boundaries", url, "--boundaries-layer", "inputs.boundaries"),
            *("--out", str(run)),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    code, out2, err2 = cli(["publish", str(run), "--db", url], monkeypatch, capsys)
    assert code == 0, err2
    files = "".join(p.read_bytes().decode("utf-8", "replace") for p in run.rglob("*") if p.is_file())
    assert not _leaks(files, HARD_PASSWORD)
    assert f"{role}:***@" in (run / "manifest.json").read_text(encoding="utf-8")
    tables = sql(u.geturl(), "SELECT string_agg(row_to_json(r)::text, '') FROM gridmap.runs r")[0][0]
    assert not _leaks(tables, HARD_PASSWORD) and f"{role}:***@" in tables
    assert not _leaks(out + err + out2 + err2, HARD_PASSWORD)
    # a wrong password with the same characters: the login failure shows neither
    wrong = url.replace(quote(HARD_PASSWORD, safe=""), quote(HARD_PASSWORD[::-1], safe=""))
    code, out, err = cli(["publish", str(run), "--db", wrong], monkeypatch, capsys)
    assert code == 2 and "password authentication failed" in err and "Traceback" not in err
    assert not _leaks(out + err, HARD_PASSWORD) and not _leaks(out + err, HARD_PASSWORD[::-1])


def test_an_unencoded_at_sign_in_the_password_is_refused_without_showing_it(hard_role, tmp_path, monkeypatch, capsys):
    role, u = hard_role
    url = f"postgresql://{role}:{HARD_PASSWORD}@{u.hostname}:{u.port}{u.path}"  # as a user would paste it
    args = ["partition", "--addresses", url, "--addresses-layer", "inputs.addresses", "--boundaries", url]
    code, out, err = cli(
        [*args, "--boundaries-layer", "inputs.boundaries", "--out", str(tmp_path / "o")], monkeypatch, capsys
    )
    assert code == 2, err
    assert "must be encoded" in err and "@ as %40" in err and "Traceback" not in err
    assert not _leaks(out + err, HARD_PASSWORD)


def test_an_unencoded_slash_in_the_password_works_and_is_masked(db, tmp_path, monkeypatch, capsys):
    import secrets

    role, password = f"slash_{secrets.token_hex(4)}", "se/cr:et/" + secrets.token_hex(4)
    u = urlsplit(db)
    load_sample(db)
    sql(db, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    sql(db, f'GRANT ALL ON DATABASE "{u.path.lstrip("/")}" TO {role}')
    sql(db, f"GRANT USAGE ON SCHEMA inputs TO {role}")
    sql(db, f"GRANT SELECT ON ALL TABLES IN SCHEMA inputs TO {role}")
    try:
        url = f"postgresql://{role}:{password}@{u.hostname}:{u.port}{u.path}"
        result = read_inputs(
            LayerSpec(DbSource(url, "inputs.addresses"), "inputs.addresses"),
            LayerSpec(DbSource(url, "inputs.boundaries"), "inputs.boundaries"),
        )
        made = make_grids(**result.frames())
        shown = repr(result.sources) + str(made.manifest)
        assert not _leaks(shown, password) and f"{role}:***@" in shown
        made.save(tmp_path / "run", maps=False)
        code, out, err = cli(["publish", str(tmp_path / "run"), "--db", url], monkeypatch, capsys)
        assert code == 0, err
        runs = sql(db, "SELECT string_agg(row_to_json(r)::text, '') FROM gridmap.runs r")[0][0]
        assert not _leaks(runs + out + err, password) and f"{role}:***@" in runs
    finally:
        sql(db, "DROP SCHEMA IF EXISTS gridmap CASCADE")
        sql(db, f"DROP OWNED BY {role}")
        sql(db, f"DROP ROLE {role}")


def test_an_unencoded_at_sign_that_still_parses_is_refused_as_ambiguous(monkeypatch, capsys, tmp_path):
    url = "postgresql://gis:p@ss@word@db.example.cn:5432/county"  # SQLAlchemy reads password 'p', host 'ss@word@…'
    args = ["partition", "--addresses", url, "--addresses-layer", "a", "--boundaries", url, "--boundaries-layer", "b"]
    code, out, err = cli([*args, "--out", str(tmp_path / "o")], monkeypatch, capsys)
    assert code == 2 and "more than one '@'" in err and "@ as %40" in err
    assert "ss@word" not in out + err and "p@ss" not in out + err


# ---------------------------------------------------------------- ledger integrity


def two_community_run(folder: Path) -> Path:
    """Communities 310115005001 and 310115005003 side by side, 40 points each."""
    import numpy as np
    import shapely

    xy = np.c_[350_010 + np.arange(80) % 16 * 20, 3_460_010 + np.arange(80) // 16 * 20]
    pts = gpd.GeoDataFrame({"households": [10] * 80}, geometry=shapely.points(xy), crs=32651)
    b = gpd.GeoDataFrame(
        {"code": ["310115005001", "310115005003"], "name": ["社区A", "社区B"], "urban_rural": ["111", "111"]},
        geometry=[
            shapely.box(350_000, 3_460_000, 350_160, 3_460_100),
            shapely.box(350_160, 3_460_000, 350_320, 3_460_100),
        ],
        crs=32651,
    )
    return make_grids(pts, b).save(folder, maps=False)


def test_a_run_naming_another_villages_codes_retires_none_of_them(db, tmp_path, monkeypatch, capsys):
    import pyogrio

    both = two_community_run(tmp_path / "both")
    assert cli(["publish", str(both), "--db", db], monkeypatch, capsys)[0] == 0
    ledger_b = sql(db, "SELECT * FROM gridmap.code_ledger WHERE village_code = '310115005003' ORDER BY grid_code")
    assert ledger_b and all(r[3] is None for r in ledger_b)  # issued, not retired
    # a run of community A only whose code_history (tampered, or mixed up) lists B's codes, used and unused
    only_a = clean_run(tmp_path / "a")
    poison = [r[0] for r in ledger_b] + ["310115005003007", "310115005003801"]
    pyogrio.write_dataframe(
        pd.DataFrame({"grid_code": poison}), only_a / "grids.gpkg", layer="code_history", append=True
    )
    code, out, err = cli(["publish", str(only_a), "--db", db], monkeypatch, capsys)
    assert code == 0, err
    after = sql(db, "SELECT * FROM gridmap.code_ledger WHERE village_code = '310115005003' ORDER BY grid_code")
    assert after == ledger_b, "another village's ledger changed"
    # B publishes again and may use its next numbers
    again = two_community_run(tmp_path / "both2")
    assert cli(["publish", str(again), "--db", db], monkeypatch, capsys)[0] == 0


def test_a_failed_first_publish_leaves_no_schema_table_or_index(db, tmp_path, monkeypatch, capsys):
    import pyogrio

    run = clean_run(tmp_path / "run")
    grids = gpd.read_file(run / "grids.gpkg", layer="grids")
    grids["grid_code"] = "310115005003" + grids["grid_code"].str[12:]  # not its village's prefix: the CHECK refuses
    pyogrio.write_dataframe(grids, run / "grids.gpkg", layer="grids")
    code, out, err = cli(["publish", str(run), "--db", db], monkeypatch, capsys)
    assert code == 2 and "Nothing was written" in err, err
    assert sql(db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'gridmap'") == [(0,)]
    assert sql(db, "SELECT count(*) FROM pg_class WHERE relname LIKE '%code_ledger%'") == [(0,)]
