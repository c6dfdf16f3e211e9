"""Run some of gridmap's own writers in a fresh Python process beside this one.

Used to write a run's GeoPackage and GeoJSON while this process draws the maps and writes the other files:
GDAL's writer holds Python's GIL, so a thread would not run beside it, and a forked process would
share this one's open files and library state (fonts, PROJ's database), which is what made an
earlier forked map writer fail. The child is a new interpreter (``python -m geodata.background``)
that imports only geodata and gets the functions' names and arguments as a pickle through its
stdin pipe: nothing is read from a file, and only the functions in :data:`ALLOWED` are called.
Layers travel as the Arrow tables GDAL writes (:func:`geodata.io.arrow_layer`: a point layer's WKB
made from its coordinates), which pickle as their buffers: a GeoDataFrame's geometries pickle one
by one (0.6 s for the city's 1.14M addresses), to be made into geometries again on the other side
(as long again) and into WKB once more for GDAL.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
import threading
from typing import Any

import geopandas as gpd

from geodata.errors import OptionError, OutputError
from geodata.io import arrow_layer

ALLOWED = ("geodata.io:write_geopackage", "geodata.io:write_geojson")
"""The functions a child may run (module:name)."""


class Background:
    """Calls ``func(*args)``, one after the other, running in a child process; :meth:`wait` returns when they are done.

    Parameters
    ----------
    *calls
        ``("module:name", args)``: a function listed in :data:`ALLOWED` and its arguments (pickled
        to the child, in one pickle: a frame two calls share travels once).
    """

    def __init__(self, *calls: tuple[str, tuple[Any, ...]]) -> None:
        for func, _ in calls:
            if func not in ALLOWED:
                raise OptionError(f"{func} is not one of gridmap's background functions {ALLOWED}")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = subprocess.Popen(  # noqa: S603 - this interpreter running gridmap's own module
            [sys.executable, "-m", "geodata.background"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._sent: BaseException | None = None
        # pickling and sending take this process about a second for a city's addresses: in a thread,
        # so the caller goes on at once (the child starts its imports meanwhile)
        payload = [(func, tuple(_pack(a) for a in args)) for func, args in calls]
        self._sender = threading.Thread(target=self._send, args=(payload,), daemon=True)
        self._sender.start()

    def _send(self, payload: list[tuple[str, tuple[Any, ...]]]) -> None:
        pipe = self._proc.stdin
        assert pipe is not None
        try:
            pickle.dump(payload, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - re-raised by wait()
            self._sent = exc
        finally:
            try:
                pipe.close()
            except OSError:  # the child is gone: wait() says why
                pass
            self._proc.stdin = None  # closed: communicate() only reads the answer

    def wait(self) -> None:
        """Wait for the calls to end; raise :class:`~geodata.errors.OutputError` with the child's message on failure."""
        self._sender.join()
        out, err = self._proc.communicate()
        try:
            answer = json.loads(out.decode("utf-8") or "{}")
        except ValueError:
            answer = {}
        if self._proc.returncode == 0 and answer.get("ok"):
            return
        if self._sent is not None and not isinstance(self._sent, BrokenPipeError):
            raise self._sent  # the arguments could not be sent: this process's own error
        kind = answer.get("error", "the process ended")
        message = str(answer.get("message") or err.decode(errors="replace")).strip()[-2000:]
        raise OutputError(
            f"writing in a background process failed ({kind}): {message}",
            fix="check the output folder's disk space and permissions, or run with --workers 1.",
        )

    def cancel(self) -> None:
        """Stop the child (when the caller failed before waiting for it)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._sender.join()
        self._proc.communicate()


def _pack(value: Any) -> Any:
    if isinstance(value, gpd.GeoDataFrame):
        return arrow_layer(value) or value
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    return value


def _main() -> int:
    calls = pickle.load(sys.stdin.buffer)  # noqa: S301 - our own parent's pipe, never a file
    refused = [func for func, _ in calls if func not in ALLOWED]
    if refused:
        print(json.dumps({"error": "ValueError", "message": f"{', '.join(refused)} is not allowed"}))
        return 2
    try:
        for func, args in calls:
            module, name = func.split(":")
            getattr(importlib.import_module(module), name)(*args)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return 1
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    status = _main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # the files are written and closed: tearing the tables down only keeps the parent waiting
