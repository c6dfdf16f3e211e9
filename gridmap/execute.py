"""Run the per-village work in this process, in worker processes, or on a Dask cluster.

Every village/community is gridded independently (:func:`grid_village` is a pure function of its
:class:`VillageTask`), so the work parallelises without changing results: the same tasks give the
same grids whichever way they run. Dask (``dask.distributed``) is used for clusters because it
ships plain Python functions and GeoDataFrames to workers as they are, starts with one command
per machine, and needs no JVM or data-frame rewrite (Spark/Sedona would need both for a job that
is a map over independent communities).

With a ``resume_dir`` each finished village is saved there at once (atomically); a later call
with the same fingerprint loads those and computes only the rest.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from geodata.errors import require
from partition.grids import Village, VillageGrids, partition_village
from partition.incremental import partition_incremental

Progress = Callable[[str, int, int], None]


@dataclass
class VillageTask:
    """One village/community to grid: its inputs, and the rows of its addresses in the run."""

    index: np.ndarray
    village: Village
    previous: gpd.GeoDataFrame | None = None
    keep_valid: bool = False
    tolerance: float = 0.1


def grid_village(task: VillageTask) -> VillageGrids:
    """Grid one village/community (pure: the same task always gives the same result)."""
    if task.keep_valid and task.previous is not None:
        return partition_incremental(task.village, task.previous, tolerance=task.tolerance)
    prev = None
    if task.previous is not None and len(task.previous):
        base = (
            task.previous["grid_type"].eq("base") if "grid_type" in task.previous else np.ones(len(task.previous), bool)
        )
        prev = task.previous.geometry.values[np.asarray(base, bool)]
    vg = partition_village(task.village, previous=prev)
    vg.grids["kept_code"] = None
    return vg


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _Store:
    """Per-village results saved under a folder, valid only for one run fingerprint."""

    def __init__(self, folder: str | Path | None, fingerprint: str) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder is None:
            return
        stamp = self.folder / "fingerprint.txt"
        if self.folder.exists() and (not stamp.exists() or stamp.read_text() != fingerprint):
            shutil.rmtree(self.folder)  # left by a run of other inputs: not ours to resume
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)

    def _path(self, code: str) -> Path:
        assert self.folder is not None  # only called when resuming into a folder
        return self.folder / f"{code}.pkl"

    def load(self, code: str) -> VillageGrids | None:
        if self.folder is None or not self._path(code).exists():
            return None
        with open(self._path(code), "rb") as f:
            return pickle.load(f)  # noqa: S301 - our own file, written by save() below

    def save(self, code: str, result: VillageGrids) -> None:
        if self.folder is None:
            return
        tmp = self._path(code).with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self._path(code))


def execute(
    tasks: Sequence[VillageTask],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    resume_dir: str | Path | None = None,
    fingerprint: str = "",
) -> list[VillageGrids]:
    """Grid every task and return the results in task order.

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
        `fingerprint` (a digest of the inputs and options).
    """
    progress = progress or (lambda stage, done, total: None)
    store = _Store(resume_dir, fingerprint)
    results: list[VillageGrids | None] = [store.load(t.village.code) for t in tasks]
    todo = [i for i, r in enumerate(results) if r is None]
    total = len(tasks)
    done = total - len(todo)
    progress("partition", done, total)

    def finished(i: int, result: VillageGrids) -> None:
        nonlocal done
        results[i] = result
        store.save(tasks[i].village.code, result)
        done += 1
        progress("partition", done, total)

    with Runner(workers=workers, scheduler=scheduler) as runner:
        # largest villages first, so one big community does not finish last on an idle pool
        order = sorted(todo, key=lambda i: -len(tasks[i].village.points))
        runner.run(grid_village, [tasks[i] for i in order], lambda k, result: finished(order[k], result))
    return results  # type: ignore[return-value]


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

    def __enter__(self) -> Runner:
        if self.scheduler:
            distributed = require("dask.distributed", extra="dask", purpose="Running on Dask (--scheduler)")
            Client, LocalCluster = distributed.Client, distributed.LocalCluster
            if self.scheduler == "local":
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.scheduler)
        elif self.workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
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

    def run(self, func: Callable, items: Sequence, done: Callable[[int, Any], None]) -> None:
        """Call ``done(k, func(items[k]))`` for every item, as each finishes."""
        if self._client is not None:
            from dask.distributed import as_completed

            futures = self._client.map(func, list(items), pure=False)
            where = {f.key: k for k, f in enumerate(futures)}
            for fut in as_completed(futures):
                done(where[fut.key], fut.result())
                fut.release()
        elif self._pool is not None and len(items) > 1:
            pending = {self._pool.submit(func, item): k for k, item in enumerate(items)}
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    done(pending.pop(fut), fut.result())
        else:
            for k, item in enumerate(items):
                done(k, func(item))
