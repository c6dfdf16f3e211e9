"""README's "Use it from Python" example runs as written (outputs redirected to a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_use_it_from_python_example_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    code = re.search(r"## Use it from Python.*?```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert (tmp_path / "outputs" / "town" / "grids.gpkg").exists()
    assert namespace["result"].summary()["grids"].sum() == len(namespace["result"].grids)


def test_province_example_runs(tmp_path, monkeypatch):
    import geopandas as gpd

    from geodata.sample import sample_path

    text = README.read_text(encoding="utf-8")
    code = re.search(r"## A province: `gridmap province`.*?```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    gpd.read_file(sample_path(), layer="addresses").to_file("addresses.gpkg")
    gpd.read_file(sample_path(), layer="boundaries").to_file("villages.gpkg")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert (tmp_path / "outputs" / "province" / "index.html").exists()
    assert int(namespace["grids"]["households"].sum()) == int(namespace["addr"]["households"].sum())
