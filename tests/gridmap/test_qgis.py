"""QGIS as a GIS officer uses it: grids.gpkg opens styled and labelled; the Processing provider runs gridmap.

QGIS runs headless from Debian's ``qgis`` package (``.ci/run`` installs it): its own Python loads the
layers, and ``qgis_process.bin`` (the ``/usr/bin/qgis_process`` wrapper adds an option the 3.22
binary refuses) runs the provider of ``gridmap/qgis/gridmap_processing``, with a clean environment
(a virtualenv's paths must not reach QGIS's Python), ``QT_QPA_PLATFORM=offscreen`` and a private
``XDG_RUNTIME_DIR`` and profile.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from geodata.sample import sample_path
from gridmap.maps import status_colors
from gridmap.qgis.gridmap_processing import commands
from gridmap.qgis_styles import GRID_RULES

QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")
PLUGINS = Path(__file__).resolve().parents[2] / "gridmap" / "qgis"
GRIDMAP = Path(sys.executable).with_name("gridmap")
needs_qgis = pytest.mark.skipif(
    not QGIS_PROCESS.exists(), reason="needs Debian's qgis and python3-qgis (.ci/run installs them)"
)

LOAD = """
import json, sys
from qgis.core import QgsApplication, QgsRenderContext, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
out = {}
for name in ("grids", "boundaries", "barriers", "exclusive_areas"):
    layer = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    lab = layer.labeling()
    out[name] = {
        "valid": layer.isValid(),
        "renderer": layer.renderer().type(),
        "labels": layer.labelsEnabled(),
        "label_expression": lab.settings().fieldName if lab is not None else None,
    }
grids = QgsVectorLayer(f"{sys.argv[1]}|layername=grids", "grids", "ogr")
renderer = grids.renderer().clone()
ctx = QgsRenderContext()
renderer.startRender(ctx, grids.fields())
rule_of = {}
for f in grids.getFeatures():
    rule_of[f["grid_code"]] = sorted(k for k in renderer.legendKeysForFeature(f, ctx) if k != "root")
renderer.stopRender(ctx)
out["rules"] = rule_of
print("RESULT" + json.dumps(out), flush=True)
import os
os._exit(0)  # QGIS may crash while tearing down; the result is out
"""


def qgis_env(home: Path) -> dict[str, str]:
    xdg = home / "xdg"
    xdg.mkdir(parents=True, exist_ok=True)
    xdg.chmod(0o700)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_RUNTIME_DIR": str(xdg),
        "QGIS_PLUGINPATH": str(PLUGINS),
    }


def test_layer_styles_table_holds_a_default_style_per_layer(sample_run_dir):
    with sqlite3.connect(sample_run_dir / "grids.gpkg") as con:
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles"
        ).fetchall()
    assert {r[0] for r in rows} == {"grids", "boundaries", "barriers", "exclusive_areas"}
    assert all(r[1] == "geom" and r[2] == 1 and r[3].startswith("<!DOCTYPE qgis") for r in rows)


def test_plugin_commands_are_ones_the_cli_accepts(tmp_path):
    from gridmap.cli import main
    from gridmap.export import FORMATS

    assert commands.FORMATS == FORMATS
    cmds = [
        commands.partition_command(
            "gridmap", addresses=("a.gpkg", "pts"), boundaries=("b.shp", ""), out="run", barriers=["r.gpkg", "w.gpkg"],
            barriers_layer="barriers", households_col="hh", name="n", overwrite=True,
        ),
        commands.audit_command(
            "gridmap", grids=("g.gpkg", "grids"), grid_code_col="WGBM", addresses=("a.gpkg", ""),
            boundaries=("b.gpkg", ""), out="audit", overwrite=True,
        ),
        commands.export_command("gridmap", run=str(tmp_path), formats=["shp", "kml"], out="exp", encoding="GBK"),
    ]  # fmt: skip
    parsed = []
    for cmd in cmds:  # click parses them as the command line would: an unknown option or value raises
        parent = main.make_context("gridmap", [cmd[1]])
        parsed.append(main.get_command(parent, cmd[1]).make_context(cmd[1], cmd[2:], parent=parent).params)
    assert parsed[0]["addresses_layer"] == "pts" and parsed[0]["barriers"] == ("r.gpkg", "w.gpkg")
    assert parsed[0]["boundaries_layer"] is None and parsed[0]["households_col"] == "hh" and parsed[0]["overwrite"]
    assert parsed[1]["grid_code_col"] == "WGBM" and parsed[1]["grids_layer"] == "grids"
    # a band left empty in the dialog is gridmap's own default (written once, in partition/values.py)
    assert parsed[0]["min_households"] is None and parsed[1]["max_households"] is None
    banded = commands.partition_command(
        "gridmap", addresses=("a.gpkg", ""), boundaries=("b.gpkg", ""), out="run", min_households=250
    )
    assert banded[banded.index("--min-households") + 1] == "250" and "--max-households" not in banded
    assert parsed[2]["formats"] == ("shp", "kml") and parsed[2]["encoding"] == "GBK"


def test_missing_gridmap_command_says_where_to_point(monkeypatch, tmp_path):
    monkeypatch.delenv("GRIDMAP_CLI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="GRIDMAP_CLI"):
        commands.gridmap_executable("")
    assert commands.gridmap_executable(str(GRIDMAP)) == str(GRIDMAP)


@pytest.mark.slow
@needs_qgis
def test_qgis_opens_grids_styled_by_status_and_labelled(sample_run, sample_run_dir, tmp_path):
    done = subprocess.run(
        ["/usr/bin/python3", "-c", LOAD, str(sample_run_dir / "grids.gpkg")],
        env=qgis_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert all(out[n]["valid"] for n in ("grids", "boundaries", "barriers", "exclusive_areas"))
    assert out["grids"]["renderer"] == "RuleRenderer" and out["grids"]["labels"]
    assert "grid_code" in out["grids"]["label_expression"]
    assert out["boundaries"]["labels"] and "name" in out["boundaries"]["label_expression"]
    # every grid is drawn by exactly one rule, in the web map's colour for it
    colour_of_rule = {f"r{i}": color for i, (_, _, color) in enumerate(GRID_RULES)}
    want = dict(zip(sample_run.grids["grid_code"], status_colors(sample_run.grids), strict=True))
    for code, rules in out["rules"].items():
        assert len(rules) == 1 and colour_of_rule[rules[0]] == want[code], (code, rules)


def qgis_process(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(QGIS_PROCESS), *args], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
@needs_qgis
def test_processing_provider_partitions_audits_and_exports_headless(tmp_path):
    env = qgis_env(tmp_path / "home")
    qgis_process(env, "plugins", "enable", "gridmap_processing")
    listed = qgis_process(env, "list")
    assert all(f"gridmap:{a}" in listed for a in ("partition", "audit", "export"))
    s = sample_path()
    run = tmp_path / "run"
    out = qgis_process(
        env, "run", "gridmap:partition", "--",
        f"ADDRESSES={s}|layername=addresses", f"BOUNDARIES={s}|layername=boundaries",
        f"EXCLUSIVE={s}|layername=exclusive", f"BARRIERS={s}|layername=barriers",
        "HOUSEHOLDS=households", f"GRIDMAP={GRIDMAP}", f"OUTPUT={run}",
    )  # fmt: skip
    assert f"GRIDS:\t{run}/grids.gpkg|layername=grids" in out
    assert {"grids.gpkg", "map.html", "report.html", "roster.csv", "manifest.json"} <= {p.name for p in run.iterdir()}
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["made_by"] == "gridmap" and manifest["counts"]["grids"] > 0
    with sqlite3.connect(run / "grids.gpkg") as con:
        assert con.execute("SELECT count(*) FROM layer_styles WHERE useAsDefault").fetchone()[0] == 4
    audit = tmp_path / "audit"
    qgis_process(
        env, "run", "gridmap:audit", "--", f"GRIDS={run}/grids.gpkg|layername=grids", "GRID_CODE=grid_code",
        f"ADDRESSES={s}|layername=addresses", f"BOUNDARIES={s}|layername=boundaries", f"GRIDMAP={GRIDMAP}",
        f"OUTPUT={audit}",
    )  # fmt: skip
    assert (audit / "manifest.json").exists()
    export = tmp_path / "export"
    qgis_process(
        env, "run", "gridmap:export", "--", f"RUN={run}", "FORMATS=2", f"GRIDMAP={GRIDMAP}", f"OUTPUT={export}"
    )
    assert (export / "grids_shp.zip").exists()
    # a gridmap error reaches the user as the algorithm's error, with gridmap's message
    bad = subprocess.run(
        [str(QGIS_PROCESS), "run", "gridmap:partition", "--", f"ADDRESSES={s}|layername=addresses",
         f"BOUNDARIES={s}|layername=addresses", f"GRIDMAP={GRIDMAP}", f"OUTPUT={tmp_path / 'bad'}"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and not (tmp_path / "bad").exists()
