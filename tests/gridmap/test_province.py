"""Province-scale runs: village tasks read only their own addresses and give the single-process results."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

import gridmap
from geodata import validate as gval
from geodata.errors import InputError, OptionError
from geodata.sample import sample_path
from geodata.windows import PointFile
from gridmap import province
from gridmap.cli import main
from gridmap.result import read_run
from tests.test_bad_inputs import _cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The sample township as a Hilbert-sorted GeoParquet (row groups of 40) and as a GeoPackage."""
    folder = tmp_path_factory.mktemp("province")
    p = sample_path()
    addr = gpd.read_file(p, layer="addresses")
    addr = addr.iloc[np.argsort(addr.hilbert_distance().to_numpy(), kind="stable")].reset_index(drop=True)
    addr.to_parquet(folder / "addresses.parquet", write_covering_bbox=True, row_group_size=40)
    addr.to_file(folder / "addresses.gpkg", layer="addresses")
    for layer in ("boundaries", "exclusive", "barriers"):
        gpd.read_file(p, layer=layer).to_file(folder / f"{layer}.gpkg", layer=layer)
    return folder, addr


@pytest.fixture(scope="module")
def whole(files):
    """The same inputs gridded by make_grids in one process."""
    folder, addr = files
    return gridmap.make_grids(
        addr,
        gpd.read_file(folder / "boundaries.gpkg"),
        exclusive=gpd.read_file(folder / "exclusive.gpkg"),
        barriers=gpd.read_file(folder / "barriers.gpkg"),
        options=gridmap.Options(liaison=(10, 15)),
    )


def _run(folder, out, addresses="addresses.parquet", *, workers=1, **kw):
    return gridmap.grid_province(
        folder / addresses,
        folder / "boundaries.gpkg",
        out,
        exclusive=folder / "exclusive.gpkg",
        barriers=[folder / "barriers.gpkg"],
        options=gridmap.Options(liaison=(10, 15), workers=workers),
        **kw,
    )


@pytest.mark.parametrize("addresses", ["addresses.parquet", "addresses.gpkg"])
def test_same_grids_codes_and_addresses_as_one_process(files, whole, tmp_path, addresses):
    folder, _ = files
    res = _run(folder, tmp_path / "run", addresses=addresses, workers=2, maps=False)
    grids = res.dataset("grids").sort_values("grid_code").reset_index(drop=True)
    ref = whole.grids.sort_values("grid_code").reset_index(drop=True)
    assert list(grids["grid_code"]) == list(ref["grid_code"])
    assert (grids["households"].to_numpy() == ref["households"].to_numpy()).all()
    assert list(grids["status"].astype(str)) == list(ref["status"].astype(str))
    assert grids.geometry.geom_equals_exact(ref.geometry, 1e-9).all()
    got = res.dataset("addresses").set_index("address_id").sort_index()
    exp = whole.addresses.set_index("address_id").sort_index()
    assert list(got.index) == list(exp.index)  # every address once, named by its row in the file
    assert (got["grid_code"].astype(object).fillna("-") == exp["grid_code"].fillna("-")).all()
    assert (got["liaison_code"].astype(object).fillna("-") == exp["liaison_code"].fillna("-")).all()
    # the assembled GeoPackage holds the same grids, in the boundaries' CRS
    gpkg = gpd.read_file(tmp_path / "run" / "grids.gpkg", layer="grids")
    assert list(gpkg["grid_code"]) == list(ref["grid_code"]) and gpkg.crs == ref.crs
    assert res.manifest["counts"]["households"] == pytest.approx(float(whole.addresses["households"].sum()))
    # every village's cells are kept too: the same cells under the same grids as in one process
    cells, ref_cells = res.dataset("cells"), whole.cells
    assert cells.crs == ref_cells.crs
    per = cells.groupby(cells["grid_code"].astype(str))["households"].agg(["size", "sum"]).sort_index()
    ref_per = ref_cells.groupby("grid_code")["households"].agg(["size", "sum"]).sort_index()
    pd.testing.assert_frame_equal(per, ref_per, check_dtype=False, check_index_type=False)
    assert np.isclose(cells.area.sum(), ref_cells.area.sum())
    # ... and in the assembled GeoPackage, where read_run (and the editor) find them
    kept = read_run(tmp_path / "run").cells
    assert kept is not None and len(kept) == len(ref_cells) and kept.crs == ref_cells.crs
    assert kept.groupby("grid_code")["households"].sum().sort_index().tolist() == ref_per["sum"].tolist()


def test_a_task_never_sees_points_of_another_village(files, whole, tmp_path, monkeypatch):
    folder, addr = files
    seen: dict[str, pd.Index] = {}
    real = province._grid

    def spy(plan, job, mine, sides, barriers):
        seen[job.code] = mine.index
        return real(plan, job, mine, sides, barriers)

    monkeypatch.setattr(province, "_grid", spy)
    scanned: list[int] = []
    read_window = PointFile.read_window

    def counting(self, bounds):
        gdf = read_window(self, bounds)
        scanned.append(gdf.attrs["scanned"])
        return gdf

    monkeypatch.setattr(PointFile, "read_window", counting)
    _run(folder, tmp_path / "run", workers=1, maps=False)
    owner = whole.addresses.set_index("address_id")["village_code"]
    for code, rows in seen.items():
        assert (owner.loc[rows] == code).all(), f"{code} was given addresses of another village"
        assert set(rows) == set(owner.index[owner.eq(code)]), f"{code} did not get all of its addresses"
    # sorted row groups: each task decodes a part of the file, not all of it
    assert max(scanned) < len(addr)
    assert sum(scanned) < 3 * len(addr)


def test_problems_of_every_task_are_gathered_and_nothing_is_written(files, tmp_path):
    folder, addr = files
    bad = addr.copy()
    bnd = gpd.read_file(folder / "boundaries.gpkg").to_crs(addr.crs)
    code = gval.assign_villages(bad, bnd, file="x")[0]
    rows = [int(np.flatnonzero(code.eq(c).to_numpy())[0]) for c in sorted(code.dropna().unique())[:2]]
    bad["households"] = bad["households"].astype(float)
    bad.loc[rows, "households"] = 2.5
    bad.to_parquet(tmp_path / "bad.parquet", write_covering_bbox=True, row_group_size=40)
    (tmp_path / "bad.parquet").replace(folder / "bad.parquet")
    with pytest.raises(InputError) as err:
        _run(folder, tmp_path / "run", addresses="bad.parquet", workers=2, maps=False)
    text = str(err.value)
    for r in rows:
        assert f"feature {r}" in text and "2.5" in text
    assert not (tmp_path / "run").exists()


def test_outside_addresses_are_kept_and_reported(files, tmp_path):
    folder, addr = files
    far = addr.iloc[[0]].copy()
    far["geometry"] = gpd.points_from_xy([far.geometry.x.iloc[0] + 0.5], [far.geometry.y.iloc[0]], crs=addr.crs)
    pd.concat([addr, far], ignore_index=True).to_parquet(folder / "stray.parquet", write_covering_bbox=True)
    res = _run(folder, tmp_path / "run", addresses="stray.parquet", workers=1, maps=False)
    assert res.manifest["counts"]["address_outside_boundaries"] == 1
    viol = gpd.read_file(tmp_path / "run" / "grids.gpkg", layer="violations").set_index("ref")
    stray_row = viol.loc[f"address_id {len(addr)}"]
    assert stray_row["kind"] == "address_outside_boundaries"
    assert stray_row["message"].startswith("地址不在") and "outside every" in stray_row["message_en"]
    assert any("1 个地址位于所有村/社区边界之外" in w and "1 addresses lie outside" in w for w in res.warnings)
    stray = res.dataset("addresses", county="none")
    assert list(stray["address_id"]) == [len(addr)] and stray["grid_code"].isna().all()


def test_cli_on_a_local_dask_cluster_writes_index_maps_and_memory(files, tmp_path, port_8787_taken):
    folder, _ = files
    out = tmp_path / "prov"
    res = CliRunner().invoke(
        main,
        [
            "province",
            "--addresses",
            str(folder / "addresses.parquet"),
            "--boundaries",
            str(folder / "boundaries.gpkg"),
            "--scheduler",
            "local",
            "--workers",
            "2",
            "--map-level",
            "township",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["made_by"] == "gridmap" and manifest["mode"] == "province"
    assert len(manifest["memory_mib"]["worker_peaks"]) >= 1
    townships = sorted({c[:9] for c in gpd.read_file(folder / "boundaries.gpkg")["code"]})
    index = (out / "index.html").read_text()
    for t in townships:
        assert (out / "maps" / f"{t}.html").exists() and f'href="maps/{t}.html"' in index
        assert (out / "reports" / f"{t}.html").exists()
    roster = pd.read_csv(out / "roster.csv", dtype=str)
    assert len(roster) == len(files[1])
    # the dataset reads back as one table with pyarrow's own partition discovery
    grids = gpd.read_parquet(out / "dataset" / "grids")
    assert len(grids) == manifest["counts"]["grids"]


def test_province_refuses_a_csv_address_file(tmp_path):
    (tmp_path / "a.csv").write_text("lon,lat\n1,2\n")
    with pytest.raises(InputError, match="GeoParquet or GeoPackage"):
        gridmap.grid_province(tmp_path / "a.csv", sample_path(), tmp_path / "run")


def test_cli_bad_address_file_is_one_clear_error_and_no_folder(tmp_path):
    (tmp_path / "hh.csv").write_text("lon,lat,households\n120.1,30.2,3\n", encoding="utf-8")
    out = tmp_path / "run"
    code, text = _cli(
        ["province", "--addresses", str(tmp_path / "hh.csv"), "--boundaries", str(sample_path()), "--out", str(out)]
    )
    assert code == 2
    assert "GeoParquet or GeoPackage" in text and "ogr2ogr" in text
    assert "Traceback" not in text
    assert not out.exists()


@pytest.mark.parametrize("keep_valid", [False, True])
def test_previous_grids_give_the_codes_make_grids_gives(files, whole, tmp_path, keep_valid):
    # a year later one community has grown by half: a province run regenerates exactly as make_grids does
    folder, addr = files
    bnd = gpd.read_file(folder / "boundaries.gpkg")
    whole.save(tmp_path / "before", maps=False)
    grown = addr.copy()
    inside = grown.within(bnd.to_crs(addr.crs).loc[bnd["code"].eq("310115005039")].geometry.iloc[0])
    grown.loc[inside, "households"] = np.ceil(grown.loc[inside, "households"] * 1.5).astype(int)
    grown.to_parquet(folder / "grown.parquet", write_covering_bbox=True, row_group_size=40)
    options = gridmap.Options(liaison=(10, 15), keep_valid=keep_valid)
    ref = gridmap.make_grids(
        grown,
        bnd,
        exclusive=gpd.read_file(folder / "exclusive.gpkg"),
        barriers=gpd.read_file(folder / "barriers.gpkg"),
        previous=whole.grids,
        history=whole.history,
        options=options,
    )
    assert len(ref.code_changes), "the grown community should change some codes"
    res = gridmap.grid_province(
        folder / "grown.parquet",
        folder / "boundaries.gpkg",
        tmp_path / "after",
        exclusive=folder / "exclusive.gpkg",
        barriers=[folder / "barriers.gpkg"],
        previous=tmp_path / "before" / "grids.gpkg",
        options=options,
        maps=False,
    )
    grids = res.dataset("grids").sort_values("grid_code").reset_index(drop=True)
    exp = ref.grids.sort_values("grid_code").reset_index(drop=True)
    assert list(grids["grid_code"]) == list(exp["grid_code"])
    assert list(grids["households"].astype(int)) == list(exp["households"].astype(int))
    assert list(grids["kept"].astype(bool)) == list(exp["kept"].astype(bool))
    # the same areas (kept grids come from the previous run's file here, from memory there: a polygon may come
    # back as a one-part multipolygon)
    a, b = grids.to_crs(32651).geometry.values, exp.to_crs(32651).geometry.values
    assert (shapely.area(shapely.symmetric_difference(a, b)) < 1e-3).all()
    history = gpd.read_file(tmp_path / "after" / "grids.gpkg", layer="code_history")["grid_code"]
    assert sorted(history.astype(str)) == sorted(ref.history)
    changes = pd.read_csv(tmp_path / "after" / "code_changes.csv", dtype=str).fillna("")
    expected = ref.code_changes.astype(str).replace({"None": "", "nan": ""})
    key = ["old_code", "new_code"]
    assert changes.sort_values(key)[key].values.tolist() == expected.sort_values(key)[key].values.tolist()


def test_keep_valid_without_previous_is_refused_before_any_work(files, tmp_path):
    folder, _ = files
    with pytest.raises(OptionError, match="keep_valid"):
        gridmap.grid_province(
            folder / "addresses.parquet",
            folder / "boundaries.gpkg",
            tmp_path / "run",
            options=gridmap.Options(keep_valid=True),
        )
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- a Dask cluster of separate processes, over TLS


def _certificates(folder, roles=("scheduler", "worker", "client")):
    """A CA of its own and a certificate + key per role signed by it (PEM files in `folder`)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)

    def signed(name, key, issuer, issuer_key, *, ca):
        cert = x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        cert = cert.issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
        cert = cert.not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        cert = cert.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        return cert.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"gridmap test CA {folder.name}")])
    ca = signed(f"gridmap test CA {folder.name}", ca_key, ca_name, ca_key, ca=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role in roles:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = signed(role, key, ca.subject, ca_key, ca=False).public_bytes(serialization.Encoding.PEM)
        (folder / f"{role}.pem").write_bytes(pem)
        fmt = serialization.PrivateFormat.PKCS8
        (folder / f"{role}.key").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        )
    return folder


def _tls(certs, role):
    pem = {"--tls-ca-file": "ca.pem", "--tls-cert": f"{role}.pem", "--tls-key": f"{role}.key"}
    return [a for flag, name in pem.items() for a in (flag, str(certs / name))]


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker`s as separate OS processes, TLS with certificates of a test CA.

    Yields the scheduler's address, the certificates and the worker processes. Ports are chosen by
    the scheduler (``--port 0``) and read from its scheduler file.
    """
    import subprocess
    import sys
    import time

    from dask.distributed import Client, Security

    folder = tmp_path_factory.mktemp("cluster")
    certs = _certificates(folder / "certs")
    dask = [sys.executable, "-m", "dask"]
    logs = [open(folder / f"{name}.log", "wb") for name in ("scheduler", "worker1", "worker2")]  # noqa: SIM115
    procs = []
    try:
        scheduler = [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--protocol", "tls", "--no-dashboard"]
        scheduler += ["--scheduler-file", str(folder / "scheduler.json"), *_tls(certs, "scheduler")]
        procs.append(subprocess.Popen(scheduler, stdout=logs[0], stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        while not (folder / "scheduler.json").exists():
            assert procs[0].poll() is None and time.monotonic() < deadline, (folder / "scheduler.log").read_text()
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written whole before the scheduler listens; let it finish
        address = json.loads((folder / "scheduler.json").read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        for log in logs[1:]:
            worker = [*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
            procs.append(subprocess.Popen([*worker, *_tls(certs, "worker")], stdout=log, stderr=subprocess.STDOUT))
        security = Security(
            tls_ca_file=str(certs / "ca.pem"),
            tls_client_cert=str(certs / "client.pem"),
            tls_client_key=str(certs / "client.key"),
            require_encryption=True,
        )
        with Client(address, security=security, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, certs, procs[1:]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


def _cli_process(args, env):
    """Run `gridmap ARGS` as its own process (a client of the cluster, as a user runs it)."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "from gridmap.cli import run; run()", *args]
    return subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)


def _client_env(certs):
    return {
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(certs / "ca.pem"),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(certs / "client.pem"),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(certs / "client.key"),
    }


def _province_args(folder, out, scheduler):
    layers = {"addresses": "addresses.parquet", "boundaries": "boundaries.gpkg"}
    layers |= {"exclusive": "exclusive.gpkg", "barriers": "barriers.gpkg"}
    args = [a for flag, name in layers.items() for a in (f"--{flag}", str(folder / name))]
    return ["province", *args, "--liaison", "10-15", "--scheduler", scheduler, "--no-maps", "--out", str(out)]


def test_a_tls_cluster_of_separate_processes_gives_the_one_process_grids(files, whole, tls_cluster, tmp_path):
    import psutil

    folder, _ = files
    address, certs, workers = tls_cluster
    out = tmp_path / "run"
    done = _cli_process(_province_args(folder, out, address), _client_env(certs))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not a tls:// address" not in done.stderr
    grids = province.read_dataset(out, "grids").sort_values("grid_code").reset_index(drop=True)
    ref = whole.grids.sort_values("grid_code").reset_index(drop=True)
    assert list(grids["grid_code"]) == list(ref["grid_code"])
    assert (grids["households"].to_numpy() == ref["households"].to_numpy()).all()
    assert list(grids["status"].astype(str)) == list(ref["status"].astype(str))
    assert grids.geometry.geom_equals_exact(ref.geometry, 1e-9).all()
    got = province.read_dataset(out, "addresses").set_index("address_id").sort_index()
    exp = whole.addresses.set_index("address_id").sort_index()
    assert (got["grid_code"].astype(object).fillna("-") == exp["grid_code"].fillna("-")).all()
    # the villages were gridded by the two `dask worker` processes, not by the client
    ran = {int(pid) for pid in json.loads((out / "manifest.json").read_text())["memory_mib"]["worker_peaks"]}
    worker_pids = {c.pid for w in workers for c in psutil.Process(w.pid).children(recursive=True)}
    assert ran and ran <= worker_pids
    assert len(ran) == 2, "both workers took villages"


@pytest.mark.parametrize("case", ["other CA", "no certificates", "nothing listening"])
def test_a_cluster_that_cannot_be_used_is_one_clear_error(files, tls_cluster, tmp_path, case):
    import socket

    folder, _ = files
    address, certs, _ = tls_cluster
    env = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
    if case == "other CA":
        env |= _client_env(_certificates(tmp_path / "other"))
    elif case == "nothing listening":
        env |= _client_env(certs)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            address = f"tls://127.0.0.1:{s.getsockname()[1]}"  # free once closed: nothing listens there
    done = _cli_process(_province_args(folder, tmp_path / "run", address), env)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in done.stderr, done.stderr
    assert address in lines[0] and "Fix:" in lines[0]
    assert {"other CA": "certificate", "no certificates": "CA_FILE", "nothing listening": "Timed out"}[case] in lines[0]
    assert not (tmp_path / "run").exists()
