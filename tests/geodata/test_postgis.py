"""Reading inputs from a real PostgreSQL/PostGIS: every input kind, every credential source, clear errors."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa

from geodata import postgis
from geodata.errors import InputError
from geodata.sample import sample_path
from gridmap import LayerSpec, grid_files, make_grids, read_inputs, sample_layers
from tests import pgfixtures
from tests.pgfixtures import cli

pg_server = pgfixtures.pg_server  # fixtures: a real PostgreSQL/PostGIS server, a fresh database per test
db = pgfixtures.db

DENVER = Path(__file__).resolve().parents[1] / "data" / "denver_tracts.gpkg"


def load(url: str, path: Path, layers: list[str], schema: str = "public") -> None:
    """Copy layers of a GeoPackage into tables of the same names."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for layer in layers:
            gpd.read_file(path, layer=layer).to_postgis(layer, conn, schema=schema, index=False)
    engine.dispose()


def test_mask_url_hides_every_form_of_password():
    assert postgis.mask_url("postgresql://gis:s3cr%40t@db:5432/county") == "postgresql://gis:***@db:5432/county"
    assert (
        postgis.mask_url("postgresql://gis@db/county?password=x1&sslmode=require")
        == "postgresql://gis@db/county?password=***&sslmode=require"
    )
    assert postgis.mask_url("postgresql://db/county") == "postgresql://db/county"
    src = postgis.DbSource("postgresql://gis:hunter2@db/county", layer="public.addresses")
    for text in (str(src), repr(src), os.fspath(src), src.name, str(Path(src))):
        assert "hunter2" not in text
    assert src.suffix == "" and src.schema == "public"
    spec = LayerSpec("postgresql://gis:hunter2@db/county", "public.addresses")
    assert isinstance(spec.path, postgis.DbSource) and "hunter2" not in str(spec) + str(spec.path)


def test_the_sample_read_from_postgis_gives_the_same_grids_as_from_the_file(db):
    # addresses from a table, boundaries from a query, exclusive areas and barriers from tables
    load(db, sample_path(), ["addresses", "boundaries", "exclusive", "barriers"], schema="inputs")

    def src(**kw):
        return LayerSpec(postgis.DbSource(db, **kw), kw.get("layer"))

    from_db = make_grids(
        **read_inputs(
            src(layer="inputs.addresses"),
            src(
                sql="SELECT code, name, urban_rural, kind, geometry AS geom FROM inputs.boundaries "
                "WHERE code LIKE '3101%' AND name <> ':not_a_parameter' ORDER BY code"
            ),  # % and : taken literally
            exclusive=src(layer="inputs.exclusive"),
            barriers=[src(layer="inputs.barriers")],
        ).frames()
    )
    from_file = grid_files(**sample_layers())
    assert from_db.grids.crs.to_epsg() == 4490  # from the geometry column's SRID
    pd.testing.assert_frame_equal(
        from_db.grids[["grid_code", "households", "grid_type"]],
        from_file.grids[["grid_code", "households", "grid_type"]],
    )
    assert from_db.grids.geom_equals_exact(from_file.grids, tolerance=1e-9).all()
    inputs = from_db.manifest["inputs"]
    assert inputs["boundaries"]["path"].startswith(postgis.mask_url(db))
    password = urlsplit(db).password
    assert password and password not in str(from_db.manifest)
    assert len(inputs["addresses"]["sha256"]) == 64


def test_units_and_previous_grids_read_from_postgis(db, tmp_path, monkeypatch, capsys):
    load(db, DENVER, ["addresses", "boundaries", "units"])
    code, out, err = cli(
        [
            "-q",
            "partition",
            "--addresses",
            db,
            "--addresses-layer",
            "addresses",
            "--boundaries",
            db,
            "--boundaries-layer",
            "boundaries",
            "--units",
            db,
            "--units-sql",
            "SELECT building, geometry FROM units",
            "--out",
            str(tmp_path / "r1"),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    by_file = make_grids(
        **read_inputs(
            LayerSpec(DENVER, "addresses"), LayerSpec(DENVER, "boundaries"), units=LayerSpec(DENVER, "units")
        ).frames()
    )
    r1 = gpd.read_file(tmp_path / "r1" / "grids.gpkg", layer="grids")
    assert list(r1["grid_code"]) == list(by_file.grids["grid_code"])
    assert list(r1["units"]) == list(by_file.grids["units"])
    # previous grids from a table (any grid layer with a grid_code column) keep every code
    engine = sa.create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    r1.to_postgis("old_grids", engine, index=False)
    engine.dispose()
    code, out, err = cli(
        [
            "-q",
            "partition",
            "--addresses",
            str(DENVER),
            "--addresses-layer",
            "addresses",
            "--boundaries",
            str(DENVER),
            "--boundaries-layer",
            "boundaries",
            "--units",
            str(DENVER),
            "--units-layer",
            "units",
            "--previous",
            db,
            "--previous-layer",
            "public.old_grids",
            "--out",
            str(tmp_path / "r2"),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    r2 = gpd.read_file(tmp_path / "r2" / "grids.gpkg", layer="grids")
    assert list(r2["grid_code"]) == list(r1["grid_code"])


def test_password_from_pgpassword_pgpass_and_service_file(db, tmp_path, monkeypatch):
    load(db, sample_path(), ["boundaries"])
    u = urlsplit(db)
    bare = f"postgresql://{u.username}@{u.hostname}:{u.port}{u.path}"
    for var in ("PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))  # not the developer's own ~/.pgpass
    with pytest.raises(InputError, match="password"):
        postgis.read_db_layer(bare, layer="boundaries")

    monkeypatch.setenv("PGPASSWORD", u.password)
    assert len(postgis.read_db_layer(bare, layer="boundaries")) == 6
    monkeypatch.delenv("PGPASSWORD")

    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{u.hostname}:{u.port}:*:{u.username}:{u.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert len(postgis.read_db_layer(bare, layer="boundaries")) == 6
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))

    service = tmp_path / "pg_service.conf"
    service.write_text(
        f"[county]\nhost={u.hostname}\nport={u.port}\ndbname={u.path.lstrip('/')}\nuser={u.username}\npassword={u.password}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    assert len(postgis.read_db_layer("postgresql:///?service=county", layer="boundaries")) == 6


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad_url", "is not a valid PostgreSQL URL"),
        ("wrong_password", "password authentication failed"),
        ("no_server", "Connection refused"),
        ("missing_table", "there is no table or view public.nowhere"),
        ("wrong_geometry", "expected a single Point"),
        ("bad_query", "the query could not be read"),
        ("no_geometry", "the query returns no geometry column"),
    ],
)
def test_bad_database_inputs_give_one_clear_error_and_exit_2(db, tmp_path, monkeypatch, capsys, case, expected):
    load(db, sample_path(), ["addresses", "boundaries"])
    u = urlsplit(db)
    boundaries = ["--boundaries", db, "--boundaries-layer", "boundaries"]
    addresses = ["--addresses", db, "--addresses-layer", "addresses"]
    if case == "bad_url":
        addresses = [
            "--addresses",
            f"postgresql://{u.username}:{u.password}@{u.hostname}:port/{u.path}",
            "--addresses-layer",
            "a",
        ]
    elif case == "wrong_password":
        addresses = [
            "--addresses",
            db.replace(f":{u.password}@", ":not-the-password@"),
            "--addresses-layer",
            "addresses",
        ]
    elif case == "no_server":
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        addresses = ["--addresses", db.replace(f":{u.port}/", f":{free}/"), "--addresses-layer", "addresses"]
    elif case == "missing_table":
        addresses = ["--addresses", db, "--addresses-layer", "nowhere"]
    elif case == "wrong_geometry":
        addresses = ["--addresses", db, "--addresses-layer", "boundaries"]
    elif case == "bad_query":
        addresses = ["--addresses", db, "--addresses-sql", "SELECT * FROM addresses WHERE nonsense > 1"]
    elif case == "no_geometry":
        addresses = ["--addresses", db, "--addresses-sql", "SELECT households FROM addresses"]
    code, out, err = cli(["partition", *addresses, *boundaries, "--out", str(tmp_path / "o")], monkeypatch, capsys)
    assert code == 2, (out, err)
    assert expected in err
    assert "Fix:" in err
    assert "Traceback" not in err
    assert u.password not in err + out
    assert not (tmp_path / "o").exists()


def test_a_database_input_needs_a_layer_or_a_query(db, tmp_path, monkeypatch, capsys):
    code, _, err = cli(
        ["partition", "--addresses", db, "--boundaries", db, "--boundaries-layer", "b", "--out", str(tmp_path / "o")],
        monkeypatch,
        capsys,
    )
    assert code == 2
    assert "--addresses-layer SCHEMA.TABLE or --addresses-sql" in err
    assert urlsplit(db).password not in err
