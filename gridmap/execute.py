"""Run the per-village work in this process, in worker processes, or on a Dask cluster.

Every village/community is gridded independently (:func:`grid_village` is a pure function of its
:class:`VillageTask`), so the work parallelises without changing results: the same tasks give the
same grids whichever way they run. Dask (``dask.distributed``) is used for clusters because it
ships plain Python functions and GeoDataFrames to workers as they are, starts with one command
per machine, and needs no JVM or data-frame rewrite (Spark/Sedona would need both for a job that
is a map over independent communities).

With a ``resume_dir`` each finished village is saved there at once (as data files: Arrow IPC
and JSON, never pickles); a later call with the same fingerprint loads those and computes
only the rest. The folder is private to the user and refused when anyone else could write to it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import re
import shutil
import stat
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geodata.bulk import gc_frozen, gc_paused
from geodata.errors import ClusterError, UnsafeOutputError, require
from partition.grids import Village, VillageGrids, cell_table, partition_village
from partition.incremental import partition_incremental

Progress = Callable[[str, int, int], None]
log = logging.getLogger("gridmap")


@dataclass
class VillageTask:
    """One village/community to grid: its inputs, and the rows of its addresses in the run."""

    index: np.ndarray
    village: Village
    previous: gpd.GeoDataFrame | None = None
    keep_valid: bool = False
    tolerance: float = 0.1


def grid_village(task: VillageTask) -> VillageGrids:
    """Grid one village/community (pure: the same task always gives the same result).

    The cyclic garbage collector is paused while the village is partitioned, as for the bulk reads:
    what it makes is freed by reference counts, and a full collection walking every object of the
    process fell in about half the runs of the bench's large input (40 of 440 ms).
    """
    if task.keep_valid and task.previous is not None:
        return partition_incremental(task.village, task.previous, tolerance=task.tolerance)
    prev = None
    if task.previous is not None and len(task.previous):
        base = (
            task.previous["grid_type"].eq("base") if "grid_type" in task.previous else np.ones(len(task.previous), bool)
        )
        prev = task.previous.geometry.values[np.asarray(base, bool)]
    with gc_paused():
        vg = partition_village(task.village, previous=prev)
    vg.grids["kept_code"] = None
    return vg


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


RESUME_STAMP = "gridmap-resume.json"
"""The file that marks a resume folder as gridmap's and names the run fingerprint it belongs to."""


def _key(code: str) -> str:
    """File name stem of a village's saved result: its code when plain ASCII, else a digest of it."""
    return code if re.fullmatch(r"[0-9A-Za-z_-]{1,64}", code) else hashlib.sha256(code.encode()).hexdigest()[:32]


def _check_private(folder: Path) -> None:
    """Refuse a resume folder that another user could have written into (a planted result is a poisoned run)."""
    st = os.lstat(folder)
    why = ""
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        why = "it is not a plain folder (a symbolic link or a file)"
    elif hasattr(os, "getuid") and st.st_uid != os.getuid():
        why = f"it belongs to another user (uid {st.st_uid})"
    elif hasattr(os, "getuid") and st.st_mode & 0o077:
        why = f"others may read or write it (mode {stat.S_IMODE(st.st_mode):o})"
    if why:
        msg = (
            f"the resume folder {folder} is not private to you: {why}, so its saved villages cannot be "
            "trusted. Fix: remove it after checking what it holds, or choose another --out."
        )
        raise UnsafeOutputError(msg)


def _ours(folder: Path) -> list[Path]:
    """Return what in `folder` gridmap did not write (empty: the folder may be cleared)."""
    mine = re.compile(
        r"^(?:[0-9A-Za-z_-]{1,64}\.(?:(?:grids|points|cells)\.(?:arrow|parquet)|json|tmp)|fingerprint\.txt|.+\.pkl)$"
    )
    return sorted(p for p in folder.iterdir() if p.name != RESUME_STAMP and not (p.is_file() and mine.match(p.name)))


def clear_resume_dir(folder: str | Path) -> None:
    """Remove a resume folder gridmap made (:func:`execute` with `resume_dir`); leave anything else alone.

    Raises
    ------
    UnsafeOutputError
        When the folder is not private to this user, or holds files gridmap did not write.
    """
    folder = Path(folder)
    if not os.path.lexists(folder):
        return
    _check_private(folder)
    foreign = _ours(folder)
    if foreign:
        shown = ", ".join(p.name for p in foreign[:5]) + (" …" if len(foreign) > 5 else "")
        msg = (
            f"the resume folder {folder} holds files gridmap did not write ({shown}). "
            "Fix: move them elsewhere, or choose another --out."
        )
        raise UnsafeOutputError(msg)
    shutil.rmtree(folder)


class _Store:
    """Per-village results saved under a private folder, valid only for one run fingerprint.

    Each village is four files: its grids (geometry as WKB, ``CODE.grids.arrow``), the grid of
    each of its points (``CODE.points.arrow``) and its cells (``CODE.cells.arrow``) as Arrow IPC
    files, and its notes with the three files' SHA-256 as JSON (``CODE.json``, written last: a
    village without it is not finished). Nothing is
    ever unpickled or executed from the folder, the folder is created private to the user (0700)
    and is refused when anyone else could write into it.
    """

    def __init__(self, folder: str | Path | None, fingerprint: str | None) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder is None:
            return
        if os.path.lexists(self.folder):
            _check_private(self.folder)
            if fingerprint is None or _read_json(self.folder / RESUME_STAMP).get("fingerprint") != fingerprint:
                clear_resume_dir(self.folder)  # left by a run of other inputs: not ours to resume
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_private(self.folder)
        if fingerprint is not None:
            self.stamp(fingerprint)

    @staticmethod
    def stamped(folder: str | Path | None) -> bool:
        """Whether `folder` holds a stamp, i.e. villages that a run with its fingerprint may reuse."""
        return folder is not None and str(folder) != "" and os.path.lexists(Path(folder) / RESUME_STAMP)

    def stamp(self, fingerprint: str) -> None:
        """Mark the folder as holding villages of the run with `fingerprint` (a later run of it resumes them)."""
        if self.folder is not None:
            _write_json(self.folder / RESUME_STAMP, {"made_by": "gridmap", "fingerprint": fingerprint})

    def load(self, code: str) -> VillageTables | None:
        if self.folder is None:
            return None
        *data, meta_path = _paths(self.folder, code)
        meta = _read_json(meta_path)
        try:
            blobs = [p.read_bytes() for p in data]
            if meta.get("code") != code or meta.get("sha256") != [hashlib.sha256(b).hexdigest() for b in blobs]:
                return None  # not finished, changed, or saved by a gridmap that did not keep cells: grid it again
            tables = _Saved((blobs[0], blobs[1], blobs[2]), [str(n) for n in meta.get("notes", [])]).tables()
            if tables.points.column_names != ["row", "grid"] or "geometry" not in tables.cells.column_names:
                return None
            return tables
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            return None  # unreadable: compute again

    def save(self, code: str, tables: VillageTables) -> None:
        if self.folder is not None:
            _save_village(self.folder, code, tables)


@dataclass
class VillageTables:
    """One village's result as Arrow tables, as its resume files hold it.

    ``grids`` (geometry as WKB), ``points`` (``row`` and ``grid`` of each of its addresses, in the
    task's order) and ``cells`` (:data:`geodata.schema.VILLAGE_CELL_COLUMNS`, geometry as WKB).
    A run that keeps a resume folder collects its villages in this form and turns them into frames
    once, all together (:func:`join_results`): a frame made per village cost the parent 2.7 ms each.
    """

    grids: pa.Table
    points: pa.Table
    cells: pa.Table
    notes: list[str]


def village_tables(result: VillageGrids) -> VillageTables:
    """Return `result` as :class:`VillageTables`."""
    cells = result.cells if result.cells is not None else cell_table([])
    return VillageTables(
        grids=pa.table(result.grids.to_arrow(geometry_encoding="WKB", index=False)),
        points=pa.table({"row": result.point_grid.index.to_numpy(), "grid": result.point_grid.to_numpy()}),
        cells=pa.Table.from_pandas(
            cells.assign(geometry=shapely.to_wkb(cells["geometry"].to_numpy(object))), preserve_index=False
        ),
        notes=list(result.notes),
    )


@dataclass(frozen=True)
class _GridAndSave:
    """:func:`grid_village`, then the village saved into the resume folder by the process that gridded it.

    A local worker process saves its own villages and sends back the saved files' bytes, which the
    parent opens as they are (Arrow IPC needs no parsing). Saving in the parent cost it 24 ms per
    village (17 s of the 712-community city); sending each village's frames through the pipe
    (pickled by the worker, unpickled by the parent) took 1.2 s of the city's two-worker run, and
    reading the saved files back and hashing them again 0.7 s, on cores the workers needed.
    """

    folder: Path | None
    send: bool
    """Return the saved village's tables (in this process), else its files' bytes (from a worker)."""

    def __call__(self, task: VillageTask) -> VillageGrids | VillageTables | _Saved:
        result = grid_village(task)
        if self.folder is None:
            return result
        tables = village_tables(result)
        blobs = _save_village(self.folder, task.village.code, tables)
        return tables if self.send else _Saved(blobs, tables.notes)


@dataclass(frozen=True)
class _Saved:
    """A saved village: the bytes of its three Arrow IPC files (as a worker process sends them), and its notes."""

    blobs: tuple[pa.Buffer | bytes, pa.Buffer | bytes, pa.Buffer | bytes]
    notes: list[str]

    def tables(self) -> VillageTables:
        grids, points, cells = (pa.ipc.open_file(pa.BufferReader(b)).read_all() for b in self.blobs)
        return VillageTables(grids=grids, points=points, cells=cells, notes=self.notes)


def _save_village(folder: Path, code: str, tables: VillageTables) -> tuple[pa.Buffer, pa.Buffer, pa.Buffer]:
    """Save one village's result in a resume folder (its JSON, naming the data files' SHA-256, last).

    The tables are Arrow IPC files, made in memory and hashed there: half the time of Parquet
    files read back for their digest (4 against 8 ms a village, 3 s of the city's CPU).

    Returns
    -------
    blobs
        The bytes of its grids, points and cells files, as written.
    """
    *data, meta_path = _paths(folder, code)
    digests = []
    blobs = []
    for path, table in zip(data, (tables.grids, tables.points, tables.cells), strict=True):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        blob = sink.getvalue()
        path.write_bytes(blob)
        digests.append(hashlib.sha256(blob).hexdigest())
        blobs.append(blob)
    _write_json(meta_path, {"code": code, "notes": tables.notes, "sha256": digests})
    return blobs[0], blobs[1], blobs[2]


def _paths(folder: Path, code: str) -> tuple[Path, Path, Path, Path]:
    k = _key(code)
    return tuple(folder / f"{k}.{part}" for part in ("grids.arrow", "points.arrow", "cells.arrow", "json"))  # type: ignore[return-value]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def execute(
    tasks: Sequence[VillageTask],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    resume_dir: str | Path | None = None,
    fingerprint: str | Callable[[], str] = "",
) -> list[VillageGrids | VillageTables]:
    """Grid every task and return the results in task order (:func:`join_results` joins them).

    With a `resume_dir`, every result is a :class:`VillageTables` (as saved there), else a
    :class:`~partition.grids.VillageGrids`.

    Parameters
    ----------
    tasks
        One task per village/community.
    workers
        Worker processes on this machine (1: in this process).
    scheduler
        ``"local"`` for a Dask LocalCluster with `workers` workers, or a Dask scheduler address
        (``tcp://host:8786``); None to run without Dask.
    progress
        Callback ``progress("partition", done, total)``.
    resume_dir, fingerprint
        Save each finished village under `resume_dir` and reuse saved ones of the same
        `fingerprint` (a digest of the inputs and options), or of what it returns when a function:
        it is then asked first only when `resume_dir` holds villages to compare; for a fresh
        folder it is taken while the villages run (on a core the worker processes leave to this
        one; the city's 0.3 s) and stamped on the folder then.
    """
    progress = progress or (lambda stage, done, total: None)
    # saved villages are compared before any is reused; a fresh folder is stamped while the villages run
    digest = fingerprint if isinstance(fingerprint, str) else (fingerprint() if _Store.stamped(resume_dir) else None)
    store = _Store(resume_dir, digest)
    results: list[VillageGrids | VillageTables | None] = [store.load(t.village.code) for t in tasks]
    todo = [i for i, r in enumerate(results) if r is None]
    total = len(tasks)
    done = total - len(todo)
    progress("partition", done, total)

    # processes on this machine save their own villages; a Dask cluster's workers may sit on other machines
    func = grid_village if scheduler else _GridAndSave(store.folder, send=workers <= 1)

    def finished(i: int, result: VillageGrids | VillageTables | _Saved) -> None:
        nonlocal done
        code = tasks[i].village.code
        if isinstance(result, VillageGrids) and store.folder is not None:  # gridded on Dask
            result = village_tables(result)
            store.save(code, result)
        elif isinstance(result, _Saved):  # saved by a worker process
            result = result.tables()
        results[i] = result
        done += 1
        progress("partition", done, total)

    def stamp() -> None:
        if digest is None and store.folder is not None and callable(fingerprint):
            store.stamp(fingerprint())

    # largest villages first, so one big community does not finish last on an idle pool
    order = sorted(todo, key=lambda i: -len(tasks[i].village.points))
    batches = _batches([len(tasks[i].village.points) for i in order], workers=workers)

    def batch_finished(b: int, batch_results: list[Any]) -> None:
        for k, result in zip(batches[b], batch_results, strict=True):
            finished(order[k], result)

    with Runner(workers=workers, scheduler=scheduler) as runner:
        items = [[tasks[order[k]] for k in batch] for batch in batches]
        runner.run(_Batch(func), items, batch_finished, meanwhile=stamp)
    return results  # type: ignore[return-value]


BATCHES_PER_WORKER = 100
"""About how many calls each worker gets: small villages go together, so a worker does not wait
between two of them for its result to cross to this process and the next task to come (0.5-5 ms
each, 0.3 s of each worker in the city's 712 communities)."""


def _batches(sizes: Sequence[int], *, workers: int) -> list[list[int]]:
    """Cut positions ``0..len(sizes)-1``, in order, into runs of about ``sum(sizes) / (workers * BATCHES_PER_WORKER)``.

    A run ends once it holds that many addresses, so a village at least that large goes alone.
    """
    if workers <= 1:
        return [[k] for k in range(len(sizes))]
    target = sum(sizes) / (workers * BATCHES_PER_WORKER)
    batches: list[list[int]] = []
    held = target
    for k, n in enumerate(sizes):
        if held >= target:
            batches.append([])
            held = 0
        batches[-1].append(k)
        held += n
    return batches


@dataclass(frozen=True)
class _Batch:
    """Call `func` on each item of a list, in a worker; return the results as a list."""

    func: Callable[[Any], Any]

    def __call__(self, items: Sequence[Any]) -> list[Any]:
        return [self.func(item) for item in items]


@dataclass
class JoinedGrids:
    """Every village's result of a run, joined in task order (:func:`join_results`)."""

    grids: pd.DataFrame
    """Every village's grids, one after the other (geometry as shapely objects)."""
    sizes: np.ndarray
    """Number of grids of each village."""
    cells: pd.DataFrame
    """Every cell (:data:`geodata.schema.VILLAGE_CELL_COLUMNS`, ``geometry``), ``grid`` the row of `grids`."""
    point_grid: list[np.ndarray]
    """The grid of each address of each village (village-local numbers, -1: none)."""

    def address_grid(self, n: int, tasks: Sequence[VillageTask]) -> np.ndarray:
        """Row of `grids` for each of the run's `n` addresses (-1: no grid)."""
        addr_grid = np.full(n, -1)
        offsets = np.cumsum(self.sizes) - self.sizes
        for task, pg, off in zip(tasks, self.point_grid, offsets, strict=True):
            addr_grid[task.index] = np.where(pg >= 0, pg + off, -1)
        return addr_grid


def join_results(results: Sequence[VillageGrids | VillageTables]) -> JoinedGrids:
    """Join the villages' results as :func:`execute` returned them, in their order.

    Results kept as :class:`VillageTables` (a run with a resume folder) become frames once, all
    together; the grids and cells are those the villages' own frames would have given.
    """
    if any(isinstance(r, VillageTables) for r in results):
        tables = [r if isinstance(r, VillageTables) else village_tables(r) for r in results]
        sizes = np.array([t.grids.num_rows for t in tables], np.int64)
        grids = gpd.GeoDataFrame.from_arrow(pa.concat_tables([t.grids for t in tables], promote_options="permissive"))
        cells = pa.concat_tables([t.cells for t in tables], promote_options="permissive").to_pandas()
        cells["geometry"] = shapely.from_wkb(cells["geometry"].to_numpy(object))
        point_grid = [t.points.column("grid").to_numpy() for t in tables]
        n_cells = [t.cells.num_rows for t in tables]
    else:
        frames: list[VillageGrids] = list(results)  # type: ignore[arg-type]
        sizes = np.array([len(r.grids) for r in frames], np.int64)
        grids = pd.concat([r.grids for r in frames], ignore_index=True) if frames else pd.DataFrame()
        parts = [r.cells if r.cells is not None else cell_table([]) for r in frames]
        cells = pd.concat(parts, ignore_index=True) if parts else cell_table([])
        point_grid = [r.point_grid.to_numpy() for r in frames]
        n_cells = [len(p) for p in parts]
    for col in ("reason", "kept_code"):  # text some villages leave empty: one dtype however the villages were joined
        if col in grids:
            grids[col] = grids[col].astype("str")
    offsets = np.cumsum(sizes) - sizes
    cells["grid"] = cells["grid"].to_numpy(np.int64) + np.repeat(offsets, n_cells)
    return JoinedGrids(grids=grids, sizes=sizes, cells=cells, point_grid=point_grid)


def local_cluster(workers: int) -> Any:
    """Start a Dask LocalCluster that only this process can use.

    The scheduler and workers listen on loopback over TLS with temporary certificates made for this
    cluster (distributed's ``Security.temporary()``): another local process that finds the port can
    neither connect nor submit functions. The scheduler's HTTP server (it always starts one) gets a
    free loopback port and no routes, so no dashboard or JSON API is served and port 8787 is
    never taken.
    """
    import dask
    from dask.distributed import LocalCluster, Security

    require("cryptography", extra="dask", purpose="TLS between this process and its local Dask cluster")
    security = Security.temporary()
    with dask.config.set({"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls://",
            security=security,
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
        )


TLS_SETTINGS = {
    "ca-file": "DASK_DISTRIBUTED__COMM__TLS__CA_FILE",
    "client.cert": "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT",
    "client.key": "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY",
}
"""The client's TLS settings in Dask's configuration (``distributed.comm.tls.*``) and their environment variables."""


def connect(address: str) -> Any:
    """Connect to the Dask scheduler at `address`, or say in one line why not.

    A ``tls://`` scheduler needs this client's certificates in Dask's configuration (a YAML file or
    the :data:`TLS_SETTINGS` environment variables): the CA that signed the scheduler's and
    workers' certificates, and a client certificate (and key) signed by it. Any other address is
    used as it is, with a warning: whoever reaches such a scheduler can run code on its workers and
    in this process.

    Raises
    ------
    ClusterError
        The TLS settings are missing or name no file, the scheduler does not answer within Dask's
        connect timeout (``distributed.comm.timeouts.connect``, 30 s by default), or the two
        sides' certificates do not match.
    """
    import dask
    from dask.distributed import Client

    where = f"the Dask scheduler {address}"
    if address.startswith("tls://"):
        files = {env: dask.config.get(f"distributed.comm.tls.{key}", None) for key, env in TLS_SETTINGS.items()}
        unset = [env for env in list(TLS_SETTINGS.values())[:2] if not files[env]]
        if unset:
            raise ClusterError(
                f"{where} speaks TLS, but no certificate is set for this client ({', '.join(unset)} unset).",
                fix="set them to the CA that signed the cluster's certificates and to a client certificate "
                "(and its key) signed by that CA (README: A Dask cluster of several machines).",
            )
        for env, path in files.items():
            if path and not os.path.isfile(path):
                raise ClusterError(f"{env} names {path}, which is not a file.", fix="point it at the PEM file.")
    else:
        log.warning(
            "Dask scheduler %s is not a tls:// address: anyone who can reach it can run code on its "
            "workers and in this process. Use TLS certificates (see README, Security).",
            address,
        )
    try:
        return Client(address)
    except OSError as exc:  # distributed's comm errors, timeouts and refused TLS handshakes are OSErrors
        if "certificate" in str(exc).lower():
            fix = (
                "give this client the CA that signed the scheduler's certificate and a client certificate "
                "signed by the CA the scheduler trusts (its --tls-ca-file)."
            )
        else:
            fix = (
                "check the address and port, that `dask scheduler` runs there and can be reached from here, and "
                "that a TLS scheduler is addressed as tls://."
            )
        raise ClusterError(f"cannot connect to {where}: {str(exc).rstrip('.')}.", fix=fix) from exc


class Beside:
    """Compute ``func()`` in a forked process while this one goes on; :meth:`result` waits for it.

    For a run of several workers, whose second core is idle while this process prepares their
    tasks. The child inherits `func` and its data (nothing is pickled on the way there) and sends
    back only what `func` returned. :meth:`result` gives None when the child could not give it (an
    error, a crash, a system without fork) or when `func` is None: the caller then does the work
    itself, and meets any error there. A child whose result is never asked for is stopped when
    this object is freed.
    """

    def __init__(self, func: Callable[[], Any] | None) -> None:
        self._proc: Any = None
        if func is None or "fork" not in mp.get_all_start_methods():
            return
        context = mp.get_context("fork")
        self._recv, send = context.Pipe(duplex=False)
        self._proc = context.Process(target=_run_beside, args=(func, send), daemon=True)
        with gc_frozen():  # as for the workers: the child's collections would copy every page of this process
            self._proc.start()
        send.close()
        self._stop = weakref.finalize(self, _stop_beside, self._proc, self._recv)

    def result(self) -> Any | None:
        """Wait for the child and return what ``func()`` returned there (None if it could not)."""
        if self._proc is None:
            return None
        try:
            got = self._recv.recv()
        except (EOFError, OSError):  # the child ended without sending
            got = None
        self._stop()
        self._proc = None
        return got


def _run_beside(func: Callable[[], Any], send: Any) -> None:
    """In the forked child: send ``func()``, or None when it failed."""
    try:
        value = func()
    except BaseException:  # noqa: BLE001 - any failure: the parent does the work itself and meets the error there
        value = None
    send.send(value)
    send.close()


def _stop_beside(proc: Any, recv: Any) -> None:
    if proc.is_alive():
        proc.kill()
    proc.join()
    recv.close()


_SHARED: tuple[Callable, Sequence] | None = None
"""The function and items of the running :meth:`Runner.run`, as forked workers inherit them."""


def _call_shared(k: int) -> Any:
    """Call the running function on item `k` (in a forked worker)."""
    assert _SHARED is not None, "a worker forked before its items were set"
    func, items = _SHARED
    return func(items[k])


class Runner:
    """Run a function over items in this process, in worker processes, or on a Dask cluster.

    Use as a context manager, so a cluster started for several stages starts once::

        with Runner(workers=2, scheduler="local") as runner:
            runner.run(func, items, done)  # done(k, result) as each item finishes, in any order

    Parameters
    ----------
    workers
        Worker processes on this machine (1: in this process).
    scheduler
        ``"local"`` for a Dask LocalCluster with `workers` workers, or a Dask scheduler address
        (``tcp://host:8786``); None to run without Dask.
    """

    def __init__(self, *, workers: int = 1, scheduler: str | None = None) -> None:
        self.workers = workers
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None
        self._pool: ProcessPoolExecutor | None = None
        self._forks = self._started = False

    def __enter__(self) -> Runner:
        if self.scheduler:
            distributed = require("dask.distributed", extra="dask", purpose="Running on Dask (--scheduler)")
            if self.scheduler == "local":
                self._cluster = local_cluster(self.workers)
                self._client = distributed.Client(self._cluster)
            else:
                self._client = connect(self.scheduler)
        elif self.workers > 1:
            # fork where the system has it: the workers then see the items in memory (see `run`)
            context = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
            self._forks = context is not None
            self._started = False
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._client = self._cluster = self._pool = None

    def restart(self) -> None:
        """Start fresh local worker processes, so a stage's memory does not sit on an earlier stage's heap.

        Workers of a remote Dask cluster are left as they are (they belong to the cluster).
        """
        if self._cluster is not None or self._pool is not None:
            self.__exit__()
            self.__enter__()

    def run(
        self,
        func: Callable,
        items: Sequence,
        done: Callable[[int, Any], None],
        *,
        meanwhile: Callable[[], None] = lambda: None,
    ) -> None:
        """Call ``done(k, func(items[k]))`` for every item, as each finishes.

        ``meanwhile()`` is called once, while the items run: after they are handed to the
        worker processes or the cluster, before the first ``done`` (in this process: first).
        """
        if self._client is not None:
            from dask.distributed import as_completed

            futures = self._client.map(func, list(items), pure=False)
            meanwhile()
            where = {f.key: k for k, f in enumerate(futures)}
            for fut in as_completed(futures):
                done(where[fut.key], fut.result())
                fut.release()
        elif self._pool is not None and len(items) > 1:
            global _SHARED
            if self._forks:
                # forked workers inherit `_SHARED`, so only item numbers cross the pipe: pickling the
                # city's 712 communities to send them took the parent 3 s of a core the workers needed
                if self._started:
                    self.restart()  # workers forked for an earlier run() hold that run's items
                _SHARED = (func, items)
                calls = [(_call_shared, k) for k in range(len(items))]
            else:
                calls = [(func, item) for item in items]
            self._started = True
            try:
                # the workers fork at the first submit: frozen, this process's objects are left out of
                # their garbage collections (which would otherwise walk, and copy, every page of them)
                with gc_frozen():
                    pending = {self._pool.submit(f, arg): k for k, (f, arg) in enumerate(calls)}
                meanwhile()
                # one waiter on every future for the whole run: a wait() per result re-armed all 712 of
                # the city's futures each time, a second of this process's core
                for fut in futures_completed(pending):
                    done(pending.pop(fut), fut.result())
            finally:
                _SHARED = None
        else:
            meanwhile()
            for k, item in enumerate(items):
                done(k, func(item))
