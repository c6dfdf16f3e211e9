"""The gridmap command lines the algorithms run (standard library only, so it is tested without QGIS)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence


class CommandError(RuntimeError):
    """gridmap stopped with an error; the message is gridmap's (what, where, the fix)."""


FORMATS = ("gpkg", "geojson", "shp", "kml", "xlsx", "csv")
"""``gridmap export --format`` choices (kept equal to ``gridmap.export.FORMATS`` by the tests)."""


def gridmap_executable(given: str = "") -> str:
    """Return the gridmap command: `given`, else ``$GRIDMAP_CLI``, else ``gridmap`` on the PATH.

    Raises
    ------
    FileNotFoundError
        When none is found; the message says how to point at one.
    """
    for candidate in (given, os.environ.get("GRIDMAP_CLI", ""), shutil.which("gridmap") or ""):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    msg = (
        "the gridmap command was not found. Install gridmap (pip install gridmap-engine) and give its executable "
        "(e.g. /home/me/.venv/bin/gridmap) in the GRIDMAP parameter or the GRIDMAP_CLI environment variable."
    )
    raise FileNotFoundError(msg)


def _layer(option: str, source: tuple[str, str] | None) -> list[str]:
    if not source:
        return []
    path, layer = source
    return [f"--{option}", path, *([f"--{option}-layer", layer] if layer else [])]


def partition_command(
    exe: str,
    *,
    addresses: tuple[str, str],
    boundaries: tuple[str, str],
    out: str,
    exclusive: tuple[str, str] | None = None,
    barriers: Sequence[str] = (),
    barriers_layer: str = "",
    min_households: int | None = None,
    max_households: int | None = None,
    households_col: str = "",
    name: str = "",
    overwrite: bool = False,
) -> list[str]:
    """Return the ``gridmap partition`` command for (path, layer) inputs and barrier files."""
    cmd = [exe, "partition", *_layer("addresses", addresses), *_layer("boundaries", boundaries)]
    cmd += _layer("exclusive", exclusive)
    for path in barriers:  # --barriers-layer names the layer of every --barriers file
        cmd += ["--barriers", path]
    if barriers and barriers_layer:
        cmd += ["--barriers-layer", barriers_layer]
    cmd += [*_band(min_households, max_households), "--out", out]
    if households_col:
        cmd += ["--households-col", households_col]
    if name:
        cmd += ["--name", name]
    return cmd + (["--overwrite"] if overwrite else [])


def audit_command(
    exe: str,
    *,
    grids: tuple[str, str],
    grid_code_col: str,
    addresses: tuple[str, str],
    boundaries: tuple[str, str],
    out: str,
    min_households: int | None = None,
    max_households: int | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Return the ``gridmap audit`` command of an existing grid layer."""
    cmd = [exe, "audit", *_layer("grids", grids), "--grid-code-col", grid_code_col]
    cmd += [*_layer("addresses", addresses), *_layer("boundaries", boundaries)]
    cmd += [*_band(min_households, max_households), "--out", out]
    return cmd + (["--overwrite"] if overwrite else [])


def _band(min_households: int | None, max_households: int | None) -> list[str]:
    """Return the band options that were given (gridmap's default band for the others)."""
    out = []
    if min_households is not None:
        out += ["--min-households", str(min_households)]
    if max_households is not None:
        out += ["--max-households", str(max_households)]
    return out


def export_command(exe: str, *, run: str, formats: Sequence[str], out: str, encoding: str = "UTF-8") -> list[str]:
    """Return the ``gridmap export`` command of a run folder."""
    cmd = [exe, "export", run]
    for f in formats:
        cmd += ["--format", f]
    return [*cmd, "--encoding", encoding, "--out", out]


def run(cmd: Sequence[str], *, echo: Callable[[str], None] = print) -> str:
    """Run a gridmap command with a clean Python environment (QGIS's own must not leak in); return its output.

    Raises
    ------
    CommandError
        When gridmap stops with an error: its message (what, where, the fix) is the exception's.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    echo(" ".join(cmd))
    done = subprocess.run(list(cmd), capture_output=True, text=True, env=env, check=False)
    for line in (done.stdout + done.stderr).splitlines():
        echo(line)
    if done.returncode != 0:
        raise CommandError((done.stderr or done.stdout).strip() or f"gridmap exited with code {done.returncode}")
    return done.stdout
