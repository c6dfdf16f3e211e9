"""The package layout holds: no import cycle, data flows geodata → partition → gridmap, front doors export names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("geodata", "partition", "gridmap")
LAYER = {"geodata": 0, "partition": 1, "gridmap": 2}


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    p = ROOT / Path(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _imports(tree: ast.AST) -> list[str]:
    """Every gridmap/partition/geodata module a file imports, at any depth, except under ``if TYPE_CHECKING``."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")]
            found.extend(subs or [node.module])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [m for m in found if m.split(".")[0] in PACKAGES and _is_module(m)]


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "sample" in path.parts:  # the sample's generator script
                continue
            me = _module_of(path)
            graph.add_node(me)
            for other in _imports(ast.parse(path.read_text(encoding="utf-8"))):
                if other != me and not me.startswith(other + "."):  # a module may use its own package
                    graph.add_edge(me, other)
    return graph


def test_no_import_cycle_in_any_package():
    # lazy (function-level) imports count: only typing-only imports are exempt
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == []


def test_data_flows_geodata_to_partition_to_gridmap():
    upstream = [
        (a, b) for a, b in import_graph().edges if LAYER[b.split(".")[0]] > LAYER[a.split(".")[0]]
    ]  # e.g. partition importing gridmap
    assert upstream == []


def test_the_checker_sees_a_cycle(tmp_path):
    # the check above can fail: two modules importing each other inside functions form a cycle
    a = ast.parse("def f():\n    from gridmap import result\n")
    assert _imports(a) == ["gridmap.result"]
    typing_only = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gridmap import result\n")
    assert _imports(typing_only) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_front_doors_export_what_they_list(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} has no __all__"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_make_grids_takes_the_inputs_and_one_options_object():
    import inspect

    import gridmap

    params = inspect.signature(gridmap.make_grids).parameters
    assert len(params) <= 10
    assert "options" in params and not {"rules", "liaison", "households_col", "workers"} & set(params)


def test_a_missing_optional_package_names_the_extra_that_installs_it(monkeypatch, tmp_path):
    import sys

    from geodata.errors import DependencyError
    from geodata.postgis import connect
    from gridmap.edit.server import create_app

    monkeypatch.setitem(sys.modules, "flask", None)  # import flask now raises ImportError
    with pytest.raises(DependencyError, match=r"flask.*pip install 'gridmap-engine\[edit\]'"):
        create_app(None, token="x" * 32)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(DependencyError, match=r"sqlalchemy.*pip install 'gridmap-engine\[postgis\]'"):
        connect("postgresql://gis@localhost/county")


def _required_modules() -> list[tuple[str, str, str]]:
    """Every ``require("module", extra="x", ...)`` call in the packages: (file, module, extra)."""
    found = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args:
                    extra = next(k.value for k in node.keywords if k.arg == "extra")
                    found.append((path.name, node.args[0].value, extra.value))  # type: ignore[attr-defined]
    return found


def test_every_optional_module_the_code_requires_is_listed_in_its_extra():
    # A module missing from its extra passes every local run (the developer's venv has it) and fails on a
    # fresh install: geoalchemy2, which geopandas' to_postgis imports, once was dropped from [postgis].
    import re
    import tomllib
    from importlib.metadata import packages_distributions, requires

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    listed = {
        extra: {re.split(r"[\[<>=~! ]", req, maxsplit=1)[0].lower().replace("_", "-") for req in reqs}
        for extra, reqs in extras.items()
    }
    dists = packages_distributions()
    required = _required_modules()
    assert {m for _, m, _ in required} >= {"flask", "psycopg", "sqlalchemy", "geoalchemy2", "cryptography"}

    def installs(extra: str) -> set[str]:  # the extra's packages and what they install in turn (flask → werkzeug)
        names = set(listed[extra])
        for dist in listed[extra] - {"gridmap-engine"}:
            names |= {re.split(r"[\[<>=~!; ]", r, maxsplit=1)[0].lower() for r in requires(dist) or []}
        return names

    for file, module, extra in required:
        names = {d.lower().replace("_", "-") for d in dists.get(module.split(".")[0], [module])}
        assert names & installs(extra), f"{file} requires {module}, which [{extra}] does not install"
