"""Per-village work run in processes, on a real Dask LocalCluster, and resumed after a crash: same result."""

from __future__ import annotations

import shapely

from geodata.sample import sample_path
from gridmap import LayerSpec
from gridmap import execute as gexec
from partition.rules import RuleSet
from tests.helpers import run_files


def config(**kw) -> dict:
    p = sample_path()
    return dict(
        addresses=LayerSpec(p, "addresses"),
        boundaries=LayerSpec(p, "boundaries"),
        exclusive=LayerSpec(p, "exclusive"),
        barriers=(LayerSpec(p, "barriers"),),
        **kw,
    )


def assert_same(a, b):
    assert list(a.grids["grid_code"]) == list(b.grids["grid_code"])
    assert shapely.equals_exact(a.grids.geometry.values, b.grids.geometry.values, tolerance=0).all()
    assert a.grids.drop(columns="geometry").equals(b.grids.drop(columns="geometry"))
    assert list(a.addresses["grid_code"]) == list(b.addresses["grid_code"])


def test_worker_processes_give_the_in_process_result():
    assert_same(run_files(**config()), run_files(**config(workers=2)))


def test_dask_local_cluster_gives_the_in_process_result():
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True)
    try:
        on_dask = run_files(**config(scheduler=cluster.scheduler_address))
    finally:
        cluster.close()
    assert_same(run_files(**config()), on_dask)


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    parts = tmp_path / "parts"

    class Killed(Exception):
        pass

    def die_after_three(stage, done, total):
        if stage == "partition" and done == 3:
            raise Killed

    try:
        run_files(**config(), progress=die_after_three, resume_dir=parts)
    except Killed:
        pass
    assert len(list(parts.glob("*.pkl"))) == 3
    calls = []
    real = gexec.grid_village
    monkeypatch.setattr(gexec, "grid_village", lambda task: calls.append(task.village.code) or real(task))
    resumed = run_files(**config(), resume_dir=parts)
    assert len(calls) == 3, "only the three unfinished villages are computed again"
    assert_same(run_files(**config()), resumed)


def test_saved_villages_of_other_inputs_are_not_reused(tmp_path):
    parts = tmp_path / "parts"
    run_files(**config(), resume_dir=parts)
    narrow = config(rules=RuleSet().with_band(200, 320))
    assert_same(run_files(**narrow), run_files(**narrow, resume_dir=parts))
