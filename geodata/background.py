"""Run some of gridmap's own writers in a fresh Python process beside this one.

Used to write a run's GeoPackage and GeoJSON while this process draws the maps and writes the other files:
GDAL's writer holds Python's GIL, so a thread would not run beside it, and a forked process would
share this one's open files and library state (fonts, PROJ's database), which is what made an
earlier forked map writer fail. The child is a new interpreter (``python -m geodata.background``)
that imports only geodata and gets the functions' names and arguments as pickles through its
stdin pipe, one per call, each run as it arrives: nothing is read from a file, and only the
functions in :data:`ALLOWED` are called. :func:`prestart` starts the next child early, so its
interpreter and imports (half a second) run while this process has a core to spare.
Layers travel as the Arrow tables GDAL writes (:func:`geodata.io.arrow_layer`: a point layer's WKB
made from its coordinates), which pickle as their buffers: a GeoDataFrame's geometries pickle one
by one (0.6 s for the city's 1.14M addresses), to be made into geometries again on the other side
(as long again) and into WKB once more for GDAL.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from typing import Any

import geopandas as gpd

from geodata.errors import OptionError, OutputError
from geodata.io import arrow_layer

ALLOWED = ("geodata.io:write_geopackage", "geodata.io:write_geojson")
"""The functions a child may run (module:name)."""


_SPARE: subprocess.Popen | None = None
"""A child started by :func:`prestart`, waiting for the next :class:`Background`'s calls."""


def prestart() -> None:
    """Start the next :class:`Background`'s child now, so its interpreter start and imports are done when it is needed.

    The command line calls it once the inputs are read, when it will write in the background: the
    child's half second of imports then runs on a core the single-process start leaves idle. A
    child never used ends when this process does (its pipe closes).
    """
    global _SPARE
    if _SPARE is None or _SPARE.poll() is not None:
        _SPARE = _spawn()


def _spawn() -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(  # noqa: S603 - this interpreter running gridmap's own module
        [sys.executable, "-m", "geodata.background"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


@atexit.register
def _end_spare() -> None:
    """Let an unused spare child end at this process's exit (given no call, it exits at once)."""
    global _SPARE
    proc, _SPARE = _SPARE, None
    if proc is not None and proc.poll() is None:
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


class Background:
    """Calls ``func(*args)``, one after the other, running in a child process; :meth:`wait` returns when they are done.

    Parameters
    ----------
    *calls
        ``("module:name", args)``: a function listed in :data:`ALLOWED` and its arguments. Each call
        is packed and sent as its own pickle, in order, and the child runs it as soon as it has it:
        list first a call whose arguments pack quickly, and the child starts on it while the
        others are packed.
    """

    def __init__(self, *calls: tuple[str, tuple[Any, ...]]) -> None:
        global _SPARE
        for func, _ in calls:
            if func not in ALLOWED:
                raise OptionError(f"{func} is not one of gridmap's background functions {ALLOWED}")
        spare, _SPARE = _SPARE, None
        self._proc = spare if spare is not None and spare.poll() is None else _spawn()
        self._sent: BaseException | None = None
        # the child runs a call while the next is on its way: what it prints is read as it comes, so
        # a full pipe (GDAL's warnings) never stops it reading its next call
        self._output: dict[str, bytes] = {}
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("out", self._proc.stdout), ("err", self._proc.stderr))
        ]
        # pickling and sending take this process about a second for a city's addresses: in a thread,
        # which sends each call as soon as it is packed here
        self._queue: queue.SimpleQueue[tuple[str, tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, daemon=True)
        for thread in (*self._readers, self._sender):
            thread.start()
        try:
            for func, args in calls:
                self._queue.put((func, tuple(_pack(a) for a in args)))
        except BaseException:
            self._proc.kill()  # half the calls: stop the child rather than let it write them
            raise
        finally:
            self._queue.put(None)

    def _read(self, name: str, stream: Any) -> None:
        with stream:
            self._output[name] = stream.read()

    def _send(self) -> None:
        pipe = self._proc.stdin
        assert pipe is not None
        try:
            while (call := self._queue.get()) is not None:
                pickle.dump(call, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                pipe.flush()
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
        out, err = self._finish()
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
        self._finish()

    def _finish(self) -> tuple[bytes, bytes]:
        """Wait for the sender, the child and its output; return what it printed (stdout, stderr)."""
        self._sender.join()
        self._proc.wait()
        for reader in self._readers:
            reader.join()
        return self._output.get("out", b""), self._output.get("err", b"")


def _pack(value: Any) -> Any:
    if isinstance(value, gpd.GeoDataFrame):
        return arrow_layer(value) or value
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    return value


def _main() -> int:
    stdin = sys.stdin.buffer
    try:
        while True:
            try:
                func, args = pickle.load(stdin)  # noqa: S301 - our own parent's pipe, never a file
            except EOFError:  # every call sent (or none: a spare child never used)
                break
            if func not in ALLOWED:
                print(json.dumps({"error": "ValueError", "message": f"{func} is not allowed"}))
                return 2
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
