"""Start and stop a throwaway PostgreSQL/PostGIS cluster in a temporary folder (tests and CI).

Standard library only, so ``.ci/run`` can call it before the virtual environment exists::

    eval "$(python3 tests/pgcluster.py start)"   # exports GRIDMAP_TEST_DB and GRIDMAP_TEST_PGDIR
    python3 tests/pgcluster.py stop "$GRIDMAP_TEST_PGDIR"

The cluster listens on 127.0.0.1 on a free port, requires a password (scram-sha-256, so wrong
passwords are really refused), and holds a database ``gridmap_test`` with the PostGIS extension.
initdb refuses to run as root, so as root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USER = "gridmap"
DATABASE = "gridmap_test"


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start() -> tuple[str, Path]:
    """Create, start and prepare a cluster; return its URL (with password) and its folder."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb); apt-get install postgresql postgis.")
    base = Path(tempfile.mkdtemp(prefix="gridmap-pg-"))
    password = secrets.token_hex(12)
    (base / "pw").write_text(password)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(base / "pw", "postgres")
    port = _free_port()
    data = base / "data"
    run = subprocess.run
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    run(
        _as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=scram-sha-256",
                f"--pwfile={base / 'pw'}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        **quiet,
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    run(
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l", str(base / "log"), "start"]),
        **quiet,
    )
    env = {**os.environ, "PGPASSWORD": password}
    psql = [
        str(bin_dir / "psql") if (bin_dir / "psql").exists() else "psql",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        USER,
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
    ]
    run([*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE}"], env=env, **quiet)
    run([*psql, "-d", DATABASE, "-c", "CREATE EXTENSION postgis"], env=env, **quiet)
    return f"postgresql://{USER}:{password}@127.0.0.1:{port}/{DATABASE}", base


def stop(base: str | Path) -> None:
    """Stop the cluster started in `base` and delete its folder."""
    base = Path(base)
    bin_dir = pg_bin()
    if bin_dir is not None and (base / "data").exists():
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "-w", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        time.sleep(0.2)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        url, folder = start()
        print(f"export GRIDMAP_TEST_DB='{url}' GRIDMAP_TEST_PGDIR='{folder}'")
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        stop(sys.argv[2])
    else:
        sys.exit("usage: pgcluster.py start | stop FOLDER")
