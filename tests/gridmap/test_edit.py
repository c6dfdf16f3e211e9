"""The editor's session and JSON API on the sample township: every endpoint, errors, undo/redo, save."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from geodata import io as gio
from gridmap import LayerSpec, catalog, read_run
from gridmap.cli import main
from gridmap.edit.server import create_app
from gridmap.edit.session import EditSession, replay
from partition.coding import check_codes
from partition.measures import coverage_ratio, overlap_area
from partition.reasons import Reason, ReasonKind, decode
from partition.rules import Flag
from partition.tessellation import point_owner
from tests.helpers import assert_cells_make_grids, run_files

TOKEN = "secret-token"
VILLAGE = "310115005001"  # 梅园一村: six household-band grids, one over max (a 743-household building)


@pytest.fixture
def session(run_folder) -> EditSession:
    return EditSession.from_folder(run_folder)


@pytest.fixture
def client(session):
    app = create_app(session, token=TOKEN)
    return app.test_client()


def post(client, op: str, body: dict | None = None, *, token: str = TOKEN):
    return client.post(f"/api/{op}", data=json.dumps(body or {}), headers={"X-Gridmap-Token": token})


def border_move(session: EditSession, village: str = VILLAGE) -> tuple[int, str, str]:
    """A unit with households on the border of two grids whose move needs no confirmation.

    Its grid keeps most of its households, so the grid keeps its code.
    """
    for c in session.village_cells[village]:
        a = session.cell_grid[c]
        if session.hh[c] <= 0 or len(session.members(a)) < 3 or session.hh[c] >= session.g_hh[a] / 2:
            continue
        for j in session.adj[c].indices:
            b = session.cell_grid[j]
            if b != a and session.village[j] == village and not session._move_warnings(np.array([c]), np.array([a]), b):
                return int(c), session.code[a], session.code[b]
    raise AssertionError("no plain border move in the sample")


def figures(resp) -> dict[str, dict]:
    return {f["properties"]["grid_code"]: f["properties"] for f in resp.get_json()["changed"]["features"]}


def test_grids_units_villages_problems_answer_geojson(client, session, run_folder):
    grids = client.get("/api/grids").get_json()
    run = read_run(run_folder)
    assert len(grids["features"]) == len(run.grids)
    props = {f["properties"]["grid_code"]: f["properties"] for f in grids["features"]}
    expected = run.grids.set_index("grid_code")["households"]
    assert {k: v["households"] for k, v in props.items()} == expected.to_dict()
    assert {"status", "locked", "compactness"} <= set(next(iter(props.values())))
    lon, lat = np.array(grids["features"][0]["geometry"]["coordinates"][0][0]).T[:2]
    assert 121 < lon.mean() < 122 and 31 < lat.mean() < 32  # WGS 84
    units = client.get(f"/api/units?village={VILLAGE}").get_json()["features"]
    assert {"unit_id", "grid_code", "households", "building"} <= set(units[0]["properties"])
    per_grid = pd.DataFrame([u["properties"] for u in units]).groupby("grid_code")["households"].sum()
    assert per_grid.to_dict() == expected[expected.index.str.startswith(VILLAGE)].to_dict()
    villages = client.get("/api/villages").get_json()["villages"]
    assert [v["code"] for v in villages] == sorted(run.boundaries["code"])
    problems = client.get(f"/api/problems?village={VILLAGE}").get_json()["problems"]
    assert {"kind": "out_of_band", "grid_code": f"{VILLAGE}001"}.items() <= problems[0].items()
    assert (
        client.get(f"/api/grids?village={VILLAGE}").get_json()["features"][0]["properties"]["village_code"] == VILLAGE
    )


def test_move_updates_counts_then_undo_and_redo_restore_them(client, session):
    unit, a, b = border_move(session)
    hh = int(session.hh[unit])
    before = {
        f["properties"]["grid_code"]: f["properties"]["households"]
        for f in client.get("/api/grids").get_json()["features"]
    }
    resp = post(client, "move", {"units": [unit], "to": b})
    assert resp.status_code == 200, resp.get_json()
    fig = figures(resp)
    assert fig[a]["households"] == before[a] - hh and fig[b]["households"] == before[b] + hh
    assert resp.get_json()["can_undo"] and not resp.get_json()["can_redo"]
    assert isinstance(resp.get_json()["problems"], list)
    units = {
        u["properties"]["unit_id"]: u["properties"]["grid_code"]
        for u in client.get(f"/api/units?village={VILLAGE}").get_json()["features"]
    }
    assert units[unit] == b
    fig = figures(post(client, "undo"))
    assert (fig[a]["households"], fig[b]["households"]) == (before[a], before[b])
    fig = figures(post(client, "redo"))
    assert fig[a]["households"] == before[a] - hh
    assert post(client, "redo").status_code == 409
    # counts kept incrementally equal counts recomputed from scratch
    recount = np.bincount(session.cell_grid, weights=session.hh, minlength=len(session.code))
    np.testing.assert_allclose(session.g_hh, recount)


def test_move_that_disconnects_a_grid_is_refused_until_confirmed(client, session):
    # a unit moved into a grid it does not touch would leave that grid in pieces
    cells = session.village_cells[VILLAGE]
    for c in cells[session.hh[cells] > 0]:
        a = session.cell_grid[c]
        touching = set(session.cell_grid[session.adj[c].indices])
        far = [g for g in session.grids_of(VILLAGE) if g not in touching and g != a and session.g_type[g] == "base"]
        if far and len(session.members(a)) > 2:
            break
    before = client.get("/api/grids").get_json()
    resp = post(client, "move", {"units": [int(c)], "to": session.code[far[0]]})
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["field"] == "confirm" and any("pieces" in w for w in body["warnings"])
    assert client.get("/api/grids").get_json() == before
    resp = post(client, "move", {"units": [int(c)], "to": session.code[far[0]], "confirm": True})
    assert resp.status_code == 200 and resp.get_json()["warnings"]
    assert any(p["kind"] == "non_contiguous" for p in resp.get_json()["problems"])


@pytest.mark.parametrize(
    ("op", "body", "status", "field"),
    [
        ("move", {"units": [0], "to": "310115005001002", "extra": 1}, 400, "extra"),
        ("move", {"units": "1", "to": "310115005001002"}, 400, "units"),
        ("move", {"units": [10**7], "to": "310115005001002"}, 404, "units"),
        ("move", {"units": [0], "to": "999999999999999"}, 404, "to"),
        ("merge", {"grids": ["310115005001002"]}, 400, "grids"),
        ("merge", {"grids": ["310115005001002", "310115005035001"]}, 400, "grids"),
        ("split", {"grid": "310115005001002", "k": 1}, 400, "k"),
        ("split", {"grid": "310115005035800", "k": 2}, 409, "grid"),
        ("lock", {"grids": ["310115005001002"], "locked": "yes"}, 400, "locked"),
        ("regenerate", {"village": "nowhere"}, 404, "village"),
        ("undo", {}, 409, "op"),
        ("save", {"out": ""}, 400, "out"),
    ],
)
def test_bad_requests_name_the_field_and_change_nothing(client, op, body, status, field):
    before = client.get("/api/grids").get_json()
    resp = post(client, op, body)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["field"] == field
    assert_worded_for_people(resp.get_json())
    assert client.get("/api/grids").get_json() == before


def assert_worded_for_people(answer: dict) -> None:
    """An error a person may see: Chinese first, English beside, no API quoting; the reason kept as data."""
    zh, _, en = answer["error"].partition(" / ")
    assert re.search(r"[\u4e00-\u9fff]", zh) and en, answer
    assert "`" not in answer["error"] and "--" not in answer["error"], answer
    assert answer["reason"]["kind"] in set(ReasonKind), answer


@pytest.mark.parametrize(
    ("send", "status", "field", "kind"),
    [
        (
            lambda c: post(c, "move", {"units": [0], "to": "310115005001002", "tiles": 1}),
            400,
            "tiles",
            "request_field_unknown",
        ),
        (
            lambda c: post(c, "lock", {"grids": ["310115005001002"], "locked": "false"}),
            400,
            "locked",
            "request_field_type",
        ),
        (lambda c: post(c, "split", {"grid": 310115005001002}), 400, "grid", "request_field_type"),
        (
            lambda c: c.post("/api/move", data="[1, 2]", headers={"X-Gridmap-Token": TOKEN}),
            400,
            "body",
            "request_not_json",
        ),
        (
            lambda c: c.post("/api/move", data="{" * 5000, headers={"X-Gridmap-Token": TOKEN}),
            400,
            "body",
            "request_not_json",
        ),
        (
            lambda c: c.post("/api/move", data=b"x" * (2 << 20), headers={"X-Gridmap-Token": TOKEN}),
            413,
            "body",
            "request_too_large",
        ),
        (lambda c: c.get("/api/nothing"), 404, "path", "no_such_page"),
        (lambda c: c.get("/api/move"), 405, "method", "method_not_allowed"),
        (lambda c: c.get("/api/units"), 400, "village", "request_field_missing"),
        (lambda c: c.get("/api/grids?village=nowhere"), 404, "village", "no_such_village"),
    ],
)
def test_malformed_requests_are_worded_through_the_catalog(client, send, status, field, kind):
    resp = send(client)
    answer = resp.get_json()
    assert resp.status_code == status and answer["field"] == field and answer["reason"]["kind"] == kind, answer
    assert_worded_for_people(answer)
    if kind.startswith("request_field"):  # the field's name is data in the reason, not quoted into prose
        assert answer["reason"]["name"] == field and field in answer["error"]


def test_writes_need_the_token_and_bodies_must_be_json(client, session):
    unit, _, b = border_move(session)
    assert post(client, "move", {"units": [unit], "to": b}, token="wrong").status_code == 401
    resp = client.post("/api/move", data="{not json", headers={"X-Gridmap-Token": TOKEN})
    assert resp.status_code == 400 and resp.get_json()["field"] == "body"
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/move").status_code == 405
    assert not session.undo_stack


def test_reads_need_the_token_off_loopback(session):
    c = create_app(session, token=TOKEN, protect_reads=True).test_client()
    assert c.get("/api/grids").status_code == 401
    assert c.get(f"/api/grids?token={TOKEN}").status_code == 200


def test_merge_split_lock_regenerate(client, session):
    a, b = f"{VILLAGE}002", f"{VILLAGE}003"
    hh = session.g_hh[session.by_code[a]] + session.g_hh[session.by_code[b]]
    resp = post(client, "merge", {"grids": [a, b]})
    assert resp.status_code == 200 and resp.get_json()["removed"] == [b]
    assert figures(resp)[a]["households"] == hh
    allowed = figures(resp)[a]["split_counts"]
    assert allowed == list(range(int(np.ceil(hh / 500)), int(hh // 300) + 1))  # the band 300-500 decides
    # a count the band does not allow is refused, in Chinese first, naming the counts it allows
    refused = post(client, "split", {"grid": a, "k": allowed[-1] + 1})
    assert refused.status_code == 409 and refused.get_json()["error"].startswith(f"网格 {a} 有")
    shown = f"{allowed[0]}–{allowed[-1]}" if len(allowed) > 1 else str(allowed[0])
    assert f"可拆为 {shown} 个网格" in refused.get_json()["error"]
    k = allowed[-1]
    resp = post(client, "split", {"grid": a, "k": k})
    assert resp.status_code == 200
    parts = figures(resp)
    assert len(parts) == k and sum(p["households"] for p in parts.values()) == hh
    assert all(shapely.get_num_geometries(session.geometry(session.by_code[c])) >= 1 for c in parts)
    resp = post(client, "lock", {"grids": [a], "locked": True})
    assert figures(resp)[a]["locked"] is True
    assert post(client, "merge", {"grids": [a, next(c for c in parts if c != a)]}).status_code == 409
    locked_cells = set(session.members(session.by_code[a]).tolist())
    resp = post(client, "regenerate", {"village": VILLAGE})
    assert resp.status_code == 200
    assert set(session.members(session.by_code[a]).tolist()) == locked_cells  # a locked grid is kept
    in_band = [p for p in figures(resp).values() if p["status"] == "ok"]
    assert in_band
    for _ in range(4):
        assert post(client, "undo").status_code == 200
    assert session.by_code[b] is not None and session.alive(session.by_code[b])
    np.testing.assert_array_equal(session.cell_grid, session.cell_grid0)


def test_saved_run_passes_the_geometric_checks_and_keeps_codes(client, session, run_folder, tmp_path):
    original = read_run(run_folder)
    unit, a, b = border_move(session)
    assert post(client, "move", {"units": [unit], "to": b}).status_code == 200
    pair = ["310115005039002", "310115005039003"]
    # the merged grid inherits the code of the grid it holds most households of; the other retires
    heir, gone = sorted(pair, key=lambda c: -session.g_hh[session.by_code[c]])
    assert post(client, "merge", {"grids": pair}).status_code == 200
    assert post(client, "split", {"grid": "310115005045001", "k": 2}).status_code in (200, 409)
    out = tmp_path / "edited"
    resp = post(client, "save", {"out": str(out)})
    assert resp.status_code == 200, resp.get_json()
    assert post(client, "save", {"out": str(out)}).status_code == 409  # never replaces without overwrite
    saved = read_run(out)
    work = saved.work_crs
    g = saved.grids.to_crs(work)
    bnd = saved.boundaries.to_crs(work)
    for code, geom in zip(bnd["code"], bnd.geometry.values, strict=True):
        mine = g[g["village_code"].eq(code)].geometry.values
        assert coverage_ratio(mine, geom) < 1e-9
        assert overlap_area(mine) < 1e-6
    # each address lies in exactly the grid it is assigned to, counts add up
    addr = saved.addresses.to_crs(work)
    owner = point_owner(g.geometry.values, addr.geometry.values)
    has = addr["grid_code"].notna().to_numpy()
    assert (g["grid_code"].to_numpy()[owner[has]] == addr["grid_code"].to_numpy()[has]).all()
    per = addr.groupby("grid_code")["households"].sum()
    assert (g.set_index("grid_code")["households"] == per.reindex(g["grid_code"]).fillna(0).round().astype(int)).all()
    # codes: unique, well formed; untouched grids keep theirs; retired codes are never given again
    assert g["grid_code"].is_unique
    assert check_codes(g)["severity"].ne("error").all()
    touched = {a, b, *pair, "310115005045001"}
    untouched = set(original.grids["grid_code"]) - touched
    assert untouched <= set(g["grid_code"])
    assert a in set(g["grid_code"]) and heir in set(g["grid_code"]) and gone not in set(g["grid_code"])
    assert set(original.history) <= set(saved.history)
    retired = set(saved.manifest["retired_codes"])
    assert gone in retired and not retired & set(g["grid_code"])
    assert set(g["grid_code"]) <= set(saved.history)
    changes = saved.code_changes
    assert gone in set(changes.loc[changes["reason"].str.startswith("retired"), "old_code"])
    # status re-validated on edited grids
    merged = g[g["grid_code"].eq(heir)].iloc[0]
    assert merged["households"] > merged["max_households"] and merged["status"] == "over_max"
    # the edits table replays to the same result
    edits = gio.read_table(out / "grids.gpkg", layer="edits")
    assert list(edits["op"])[:2] == ["move", "merge"]
    again = replay(EditSession.from_folder(run_folder), edits)
    np.testing.assert_array_equal(again.cell_grid, session.cell_grid)
    for name in ("map.html", "report.html", "roster.csv", "grids.geojson", "manifest.json"):
        assert (out / name).exists()
    # a second session on the saved run sees the saved grids
    reopened = EditSession.from_folder(out)
    assert sorted(reopened.code) == sorted(g["grid_code"])


def test_demo_run_move_merge_save_opens_in_map_report_and_export(sample_run_dir, tmp_path):
    """The issue's "done when": the demo run, a building moved to the next grid, two grids merged, saved."""
    session = EditSession.from_folder(sample_run_dir)
    unit, a, b = border_move(session)
    hh_unit = session.hh[unit]
    before = {c: session.g_hh[session.by_code[c]] for c in (a, b)}
    session.apply("move", units=[unit], to=b)
    pair = ["310115005045001", "310115005045002"]
    merged_hh = sum(session.g_hh[session.by_code[c]] for c in pair)
    heir = max(pair, key=lambda c: session.g_hh[session.by_code[c]])
    session.apply("merge", grids=pair)
    out = session.save(tmp_path / "edited")
    runner = CliRunner()
    for args in (
        ["report", str(out), "--out", str(tmp_path / "r.html")],
        ["export", str(out), "--format", "csv", "--format", "shp", "--out", str(tmp_path / "export")],
        ["map", str(out)],
    ):
        res = runner.invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
    # the roster (one row per address) adds up to the right count for every grid
    roster = pd.read_csv(out / "roster.csv", dtype=str, encoding="utf-8-sig")
    code_col = next(c for c in roster.columns if c.startswith("网格编码"))
    hh_col = next(c for c in roster.columns if c.startswith("户数"))
    codes = roster[code_col].str.lstrip("\t")  # codes are kept as text for spreadsheets
    counts = roster[hh_col].astype(float).groupby(codes).sum()
    grids = read_run(out).grids.set_index("grid_code")["households"]
    diff = pd.DataFrame({"roster": counts, "grids": grids.reindex(counts.index)})
    assert (diff["roster"] == diff["grids"]).all(), diff[diff["roster"] != diff["grids"]]
    assert counts[a] == before[a] - hh_unit and counts[b] == before[b] + hh_unit
    assert counts[heir] == merged_hh and (set(pair) - {heir}).isdisjoint(counts.index)
    assert (tmp_path / "r.html").exists() and list((tmp_path / "export").iterdir())
    # the merged grid says it was edited by hand, in Chinese with English beside, and why it is flagged
    edited = read_run(out).grids.set_index("grid_code").loc[heir]
    assert decode(edited["reason"])[0] == Reason.of(ReasonKind.EDITED)
    assert edited["note"].startswith("手工调整。") and edited["note_en"].startswith("edited by hand.")
    if edited["status"] == "over_max":
        assert edited["flag"] == Flag.EDITED and f"{merged_hh:.0f} 户，超过上限 500 户" in edited["note"]


def test_edit_command_help():
    res = CliRunner().invoke(main, ["edit", "--help"])
    assert res.exit_code == 0 and "--no-browser" in res.output and "--token" in res.output


def test_a_retired_code_is_never_given_again_in_a_later_edit(client, session, tmp_path):
    pair = ["310115005039002", "310115005039003"]
    gone = min(pair, key=lambda c: session.g_hh[session.by_code[c]])
    assert post(client, "merge", {"grids": pair}).status_code == 200
    first = tmp_path / "first"
    assert post(client, "save", {"out": str(first)}).status_code == 200
    assert gone in read_run(first).manifest["retired_codes"]
    # a second session on the saved run splits the merged grid: the new grid takes a fresh number
    later = EditSession.from_folder(first)
    heir = next(c for c in later.code if c in pair)
    later.apply("split", grid=heir, k=2)
    second = later.save(tmp_path / "second")
    saved = read_run(second)
    codes = set(saved.grids["grid_code"])
    assert gone not in codes
    assert len(codes & {f"310115005039{n:03d}" for n in range(4, 10)}) == 1
    assert gone in set(saved.history)


def test_edit_command_serves_the_api(run_folder):
    import re
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gridmap.cli import run; run()",
            "edit",
            str(run_folder),
            "--no-browser",
            "--port",
            "0",
            "--token",
            "tok",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        url = re.search(r"http://\S+", line).group(0)
        assert url.endswith("?token=tok")
        base = url.split("/?")[0]
        with urllib.request.urlopen(f"{base}/api/villages", timeout=10) as resp:
            assert json.load(resp)["villages"][0]["code"] == "310115005001"
        req = urllib.request.Request(f"{base}/api/undo", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
        err.value.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


def test_problems_list_compound_split_exclusive_violated_empty_grid_and_barrier_crossing(client, session):
    assert session.has_barriers  # re-read from the paths in the run's manifest
    crossing = [p for p in session.problems("310115005035") if p["kind"] == "barrier_crossing"]
    assert crossing and crossing[0]["grid_code"].startswith("310115005035")
    # a compound kept whole: moving one of its units warns, and once confirmed it is listed
    comp = pd.DataFrame({"c": session.compound, "g": session.cell_grid, "hh": session.hh}).dropna()
    per = comp.groupby("c").agg(n=("g", "nunique"), size=("g", "size"), hh=("hh", "sum"))
    whole = per[(per["n"] == 1) & (per["size"] > 1) & (per["hh"] <= 500)].index
    for cell in np.flatnonzero(np.isin(session.compound.astype(object), list(whole))):
        others = [
            g
            for g in session.cell_grid[session.adj[cell].indices]
            if g != session.cell_grid[cell] and session.g_type[g] == "base"
        ]
        if others:
            break
    body = {"units": [int(cell)], "to": session.code[others[0]]}
    resp = post(client, "move", body)
    assert resp.status_code == 409 and any("compound" in w for w in resp.get_json()["warnings"])
    resp = post(client, "move", {**body, "confirm": True})
    kinds = {p["kind"] for p in resp.get_json()["problems"]}
    assert "compound_split" in kinds
    # an exclusive grid (专属网格) that receives a base unit is no longer its exclusive area
    ex = int(np.flatnonzero(session.exclusive)[0])
    base = next(int(j) for j in session.adj[ex].indices if not session.exclusive[j] and session.hh[j] > 0)
    body = {"units": [base], "to": session.code[session.cell_grid[ex]]}
    assert post(client, "move", body).status_code == 409
    resp = post(client, "move", {**body, "confirm": True})
    assert "exclusive_violated" in {p["kind"] for p in resp.get_json()["problems"]}
    # a grid left with only cells without households is an empty grid
    empty = np.flatnonzero((session.hh == 0) & ~session.exclusive & (session.area > 1))
    gid = next(g for g in session.cell_grid[empty] if session.g_type[g] == "base" and not session.locked[g])
    cells = session.members(gid)
    full = [int(c) for c in cells if session.hh[c] > 0]
    target = next(
        g for c in full for g in session.cell_grid[session.adj[c].indices] if g != gid and session.g_type[g] == "base"
    )
    resp = post(client, "move", {"units": full, "to": session.code[target], "confirm": True})
    assert resp.status_code == 200
    assert {"kind": "empty_grid", "grid_code": session.code[gid]}.items() <= next(
        p for p in resp.get_json()["problems"] if p["kind"] == "empty_grid"
    ).items()


def test_saving_over_the_run_being_edited_is_refused(client, run_folder):
    resp = post(client, "save", {"out": str(run_folder), "overwrite": True})
    assert resp.status_code == 409 and resp.get_json()["field"] == "out"
    assert (run_folder / "grids.gpkg").exists() and "edits" not in gio.layer_names(run_folder / "grids.gpkg")


def test_liaison_groups_are_made_again_in_the_saved_run(sample_run_dir, tmp_path):
    session = EditSession.from_folder(sample_run_dir)
    unit, _, b = border_move(session)
    session.apply("move", units=[unit], to=b)
    saved = read_run(session.save(tmp_path / "edited"))
    assert saved.liaison is not None and saved.manifest["liaison"] == [10, 15]
    groups = saved.liaison
    assert (groups["liaison_code"].str[:15].isin(saved.grids["grid_code"])).all()
    has = saved.addresses["grid_code"].notna()
    assert (saved.addresses.loc[has, "liaison_code"].str[:15] == saved.addresses.loc[has, "grid_code"]).all()


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/units", 400, "village"),
        ("/api/units?village=999999999999", 404, "village"),
        ("/api/problems", 400, "village"),
        ("/api/grids?village=999999999999", 404, "village"),
    ],
)
def test_bad_reads_name_the_field(client, path, status, field):
    resp = client.get(path)
    assert resp.status_code == status and resp.get_json()["field"] == field


def test_the_page_and_its_scripts_are_served(client):
    html = client.get("/").get_data(as_text=True)
    assert "/static/edit.js" in html and "{{" not in html
    with client.get("/static/edit.js") as resp:
        assert resp.status_code == 200
        js = resp.get_data(as_text=True)
    assert "innerHTML" not in js  # run text is set with textContent only


def test_loopback_server_refuses_other_host_names(client):
    assert client.get("/api/villages", headers={"Host": "evil.example:8765"}).status_code == 403
    assert client.get("/api/villages", headers={"Host": "127.0.0.1:8765"}).status_code == 200


# ---------------------------------------------------------------- API hardening (issue 22)


def test_confirm_and_locked_take_json_booleans_only(client, session):
    unit, _, b = border_move(session)
    for body in ({"units": [unit], "to": b, "confirm": "false"}, {"units": [unit], "to": b, "confirm": 1}):
        resp = post(client, "move", body)
        assert resp.status_code == 400 and resp.get_json()["field"] == "confirm"
    resp = post(client, "lock", {"grids": [b], "locked": "true"})
    assert resp.status_code == 400 and resp.get_json()["field"] == "locked"
    assert not session.undo_stack


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (json.dumps({"out": "runs/a\x00b"}), 400, "out"),
        (json.dumps({"out": "runs/" + "名" * 100}), 400, "out"),  # 300 bytes in one name
        (json.dumps({"out": "runs/" + "a" * 300}), 400, "out"),
        ("[" * 100_000 + "]" * 100_000, 400, "body"),  # nested past Python's recursion limit
        (json.dumps({"out": "x" * (2 << 20)}), 413, "body"),
    ],
)
def test_save_answers_a_clean_4xx_to_hostile_bodies(client, body, status, field):
    resp = client.post("/api/save", data=body, headers={"X-Gridmap-Token": TOKEN})
    assert resp.status_code == status and resp.get_json()["field"] == field


def test_repeated_wrong_tokens_are_slowed_down(session):
    now = [1000.0]
    c = create_app(session, token=TOKEN, protect_reads=True, clock=lambda: now[0]).test_client()
    for _ in range(5):
        assert c.get("/api/villages?token=guess").status_code == 401
    resp = c.get(f"/api/villages?token={TOKEN}")  # even the right token waits now
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1 and "wait" in resp.get_json()["error"]
    now[0] += 3
    assert c.get(f"/api/villages?token={TOKEN}").status_code == 200
    assert c.get("/api/villages?token=guess").status_code == 401  # the count started again


@pytest.mark.parametrize(
    ("token", "host", "ok"),
    [
        ("a", "0.0.0.0", False),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0.0.0.0", False),  # long but one character
        ("x7Kp2-Qv9_Lm4Rt8Zw1Ya3", "0.0.0.0", True),
        ("a", "127.0.0.1", True),
        ("pässwort-pässwort-pässwort", "127.0.0.1", False),
        ("tab\there", "127.0.0.1", False),
    ],
)
def test_tokens_off_loopback_must_be_strong_and_every_token_ascii(token, host, ok):
    from geodata.errors import OptionError
    from gridmap.edit.server import check_token

    if ok:
        assert check_token(token, host=host) == token
    else:
        with pytest.raises(OptionError):
            check_token(token, host=host)


def test_printed_url_carries_the_token_encoded_and_the_log_never_does(session, caplog):
    import logging
    import threading
    import urllib.parse
    import urllib.request

    from werkzeug.serving import make_server

    from gridmap.edit.server import _QuietHandler, editor_url

    token = "a&b#c%d?e=f+g/h-1234567890"
    url = editor_url("127.0.0.1", 8765, token)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"] == [token]
    server = make_server("127.0.0.1", 0, create_app(session, token=token), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            urllib.request.urlopen(editor_url("127.0.0.1", server.server_port, token).replace("/?", "/api/villages?"))
    finally:
        server.shutdown()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "token=***" in logged and urllib.parse.quote(token, safe="") not in logged and token not in logged


def test_edit_refuses_a_port_outside_0_65535(run_folder):
    runner = CliRunner()
    res = runner.invoke(main, ["edit", str(run_folder), "--port", "70000", "--no-browser"])
    assert res.exit_code != 0 and "must be 0-65535, got 70000" in str(res.exception or res.output)


DENVER = Path(__file__).resolve().parents[1] / "data" / "denver_tracts.gpkg"


@pytest.fixture(scope="module")
def denver_folder(tmp_path_factory) -> Path:
    """Twelve Denver tracts gridded with census blocks as units (``--units``), saved without maps."""
    result = run_files(
        LayerSpec(DENVER, "addresses"), LayerSpec(DENVER, "boundaries"), units=LayerSpec(DENVER, "units")
    )
    return result.save(tmp_path_factory.mktemp("denver") / "run", maps=False)


def blocks_cut(grids: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame) -> np.ndarray:
    """Blocks that do not lie within exactly one grid (share of their area, tolerance 1e-6)."""
    geoms, bgeoms = grids.geometry.values, blocks.geometry.values
    bi, gi = shapely.STRtree(geoms).query(bgeoms, predicate="intersects")
    share = shapely.area(shapely.intersection(bgeoms[bi], geoms[gi])) / shapely.area(bgeoms[bi])
    inside = share > 1 - 1e-6
    touched = share > 1e-6
    n_in = np.bincount(bi[inside], minlength=len(blocks))
    n_touched = np.bincount(bi[touched], minlength=len(blocks))
    return np.flatnonzero((n_in != 1) | (n_touched != 1))


def test_denver_edit_keeps_every_census_block_whole(denver_folder, tmp_path):
    """The issue's "done when": a move and a split on Denver blocks, saved: every block in exactly one grid."""
    session = EditSession.from_folder(denver_folder)
    run = read_run(denver_folder)
    assert session.kept_cells and len(session.cells) == len(run.cells)
    blocks = gpd.read_file(DENVER, layer="units").to_crs(run.work_crs)
    assert not len(blocks_cut(run.grids.to_crs(run.work_crs), blocks))  # the engine cuts none

    def non_contiguous() -> set[str]:
        return {
            p["grid_code"] for v in session.villages() for p in session.problems(v) if p["kind"] == "non_contiguous"
        }

    enclaves = set(run.grids.loc[run.grids["status"].eq("enclave"), "grid_code"])
    assert non_contiguous() == enclaves  # the editor sees the contiguity the run has, no more
    village = run.grids.loc[run.grids["households"].idxmax(), "village_code"]
    unit, a, b = border_move(session, village)
    session.apply("move", units=[unit], to=b)
    big = max(session.grids_of(village), key=lambda g: session.g_hh[g])
    if not session.split_counts(big):  # in band: merged with a neighbour first, the band allows a split
        near = np.unique(session.cell_grid[session.adj[session.members(big)].indices])
        other = next(int(g) for g in near if g != big and session.g_type[g] == "base")
        session.apply("merge", grids=[session.code[big], session.code[other]])
    assert 2 in session.split_counts(big)
    result = session.apply("split", grid=session.code[big], k=2)
    assert len(result.grids) == 2
    assert non_contiguous() <= enclaves
    shown = session.preview_codes(village)  # the codes the editor shows
    saved = read_run(session.save(tmp_path / "edited"))
    grids = saved.grids.to_crs(saved.work_crs)
    cut = blocks_cut(grids, blocks)
    assert not len(cut), f"{len(cut)} blocks cut by the saved grids: {blocks['building'].iloc[cut[:5]].tolist()}"
    assert_cells_make_grids(saved)
    # every grid carries exactly the code the editor showed for it
    counts = saved.grids.set_index("grid_code")["households"]
    assert set(saved.grids.loc[saved.grids["village_code"].eq(village), "grid_code"]) == set(shown.values())
    assert {code: counts[code] for code in shown.values()} == {c: round(session.g_hh[g]) for g, c in shown.items()}


def test_two_village_groups_in_one_grid_raise_the_rural_problem(client, session):
    village = "310115103269"  # rural: one grid per 村民小组

    def rural_problems(resp) -> list[str]:
        return [p["grid_code"] for p in resp.get_json()["problems"] if p["kind"] == "several_groups"]

    assert not [p for p in session.problems(village) if p["kind"] == "several_groups"]
    a = session.grids_of(village)[0]
    neighbours = np.unique(session.cell_grid[np.unique(session.adj[session.members(a)].indices)])
    b = next(int(g) for g in neighbours if g != a and session.g_village[g] == village)
    # a household unit of one group moved into the next group's grid
    unit = next(
        int(c) for c in session.members(a) if session.hh[c] > 0 and b in session.cell_grid[session.adj[c].indices]
    )
    resp = post(client, "move", {"units": [unit], "to": session.code[b], "confirm": True})
    assert resp.status_code == 200 and rural_problems(resp) == [session.code[b]]
    assert "村民小组" in figures(resp)[session.code[b]]["note"]
    assert post(client, "undo").status_code == 200
    # two groups' grids merged
    resp = post(client, "merge", {"grids": [session.code[a], session.code[b]]})
    assert resp.status_code == 200 and rural_problems(resp) == [session.code[a]]
    assert post(client, "undo").status_code == 200
    assert not [p for p in session.problems(village) if p["kind"] == "several_groups"]


def test_codes_shown_after_a_split_are_the_codes_saved(client, session, tmp_path):
    """A new grid shows its future code, and the kept code sits on the same half as in the saved run."""
    a, b = f"{VILLAGE}002", f"{VILLAGE}003"
    post(client, "merge", {"grids": [a, b]})
    resp = post(client, "split", {"grid": a, "k": 2})
    assert resp.status_code == 200
    shown = {g["grid_code"]: (g["code"], g["households"]) for g in resp.get_json()["grids"]}
    assert not [c for c, _ in shown.values() if not c.isdigit()]  # no "new-1": the future code
    assert post(client, "save", {"out": str(tmp_path / "edited")}).status_code == 200
    saved = read_run(tmp_path / "edited").grids
    saved = saved[saved["village_code"].eq(VILLAGE)]
    assert dict(zip(saved["grid_code"], saved["households"], strict=True)) == dict(shown.values())


def test_problems_and_refusals_are_worded_by_the_catalog(client, session):
    for p in session.problems(VILLAGE) + session.problems("310115005035"):
        reason = Reason(ReasonKind(p["reason"]["kind"]), {k: v for k, v in p["reason"].items() if k != "kind"})
        assert p["text"] == catalog.reason_text(reason)
    resp = post(client, "undo")
    assert resp.status_code == 409 and resp.get_json()["error"] == "没有可撤销的操作。 / nothing to undo."
    resp = post(client, "lock", {"grids": [f"{VILLAGE}002"], "locked": True})
    assert resp.get_json()["message"].startswith("已锁定")
    resp = post(client, "merge", {"grids": [f"{VILLAGE}002", f"{VILLAGE}003"]})
    assert resp.status_code == 409 and resp.get_json()["error"].startswith(f"网格 {VILLAGE}002 已锁定")
    statuses = {
        f["properties"]["status_text"] for f in client.get(f"/api/grids?village={VILLAGE}").get_json()["features"]
    }
    assert statuses <= {catalog.status_text(s) for s in ("ok", "under_min", "over_max", "enclave")}
    assert not any("`" in s or "--" in s for s in statuses)


def test_merge_takes_any_number_of_connected_grids(client, session):
    gids = session.grids_of(VILLAGE)
    hh = session.g_hh[gids].sum()
    resp = post(client, "merge", {"grids": [session.code[g] for g in gids if session.g_type[g] == "base"]})
    assert resp.status_code == 200
    assert len(session.grids_of(VILLAGE)) == 1 + sum(session.g_type[g] != "base" for g in gids)
    assert session.g_hh[session.grids_of(VILLAGE)].sum() == hh


def test_edit_log_beside_the_run_resumes_after_a_crash(run_folder, tmp_path):
    from gridmap.edit.server import journal_path

    log = journal_path(run_folder)
    assert log.parent == run_folder.resolve().parent and log.name == "run.edit-log.jsonl"
    first = EditSession.from_folder(run_folder)
    assert first.open_journal(tmp_path / "log.jsonl") == 0
    unit, a, b = border_move(first)
    first.apply("move", units=[unit], to=b)
    first.apply("merge", grids=[f"{VILLAGE}002", f"{VILLAGE}003"])
    first.apply("undo")
    # the process dies here; a new session finds the log and continues from it
    again = EditSession.from_folder(run_folder)
    assert again.open_journal(tmp_path / "log.jsonl") == len(first.log)
    assert again.resume() == len(first.log)
    np.testing.assert_array_equal(again.cell_grid, first.cell_grid)
    assert len(again.undo_stack) == len(first.undo_stack) and len(again.redo_stack) == len(first.redo_stack)
    # discarding starts afresh
    third = EditSession.from_folder(run_folder)
    third.open_journal(tmp_path / "log.jsonl")
    third.discard_journal()
    assert EditSession.from_folder(run_folder).open_journal(tmp_path / "log.jsonl") == 0


def moved_with_a_log(run_folder: Path, log: Path) -> EditSession:
    """A session on `run_folder` keeping its edit log in `log`, with one unit moved."""
    session = EditSession.from_folder(run_folder)
    session.open_journal(log)
    unit, _, b = border_move(session)
    session.apply("move", units=[unit], to=b)
    return session


def test_edit_log_names_its_run_and_refuses_another_version(run_folder, tmp_path):
    import shutil

    log = tmp_path / "log.jsonl"
    first = moved_with_a_log(run_folder, log)
    head = json.loads(log.read_text(encoding="utf-8").splitlines()[0])
    assert head["op"] == "run" and head["grids_sha256"] == first.run_sha256() != ""
    # the same folder, made again with other grids: the log no longer fits it
    other = tmp_path / "other-version"
    shutil.copytree(run_folder, other)
    again = EditSession.from_folder(other)
    again.apply("merge", grids=[f"{VILLAGE}002", f"{VILLAGE}003"])
    again.save(tmp_path / "merged")
    shutil.rmtree(other)
    shutil.copytree(tmp_path / "merged", other)
    stale = EditSession.from_folder(other)
    assert stale.open_journal(log) == 1
    client = create_app(stale, token=TOKEN).test_client()
    info = client.get("/api/villages").get_json()
    assert info["pending"] == 1 and info["journal_refused"]
    assert_worded_for_people({"error": info["journal_refused"], "reason": {"kind": "journal_other_run"}})
    resp = post(client, "resume")
    assert resp.status_code == 409 and resp.get_json()["reason"]["kind"] == "journal_other_run"
    assert not stale.undo_stack  # nothing of the other version's edits was applied
    assert post(client, "discard").status_code == 200
    assert EditSession.from_folder(other).open_journal(log) == 0


def test_edit_log_after_a_save_offers_nothing_already_saved(run_folder, tmp_path):
    log = tmp_path / "log.jsonl"
    first = moved_with_a_log(run_folder, log)
    first.save(tmp_path / "saved")
    assert EditSession.from_folder(run_folder).open_journal(log) == 0
    first.apply("merge", grids=[f"{VILLAGE}002", f"{VILLAGE}003"])  # one edit after the save
    again = EditSession.from_folder(run_folder)
    assert again.open_journal(log) == 1
    assert again.resume() == 2  # both are applied again: the session continues as it was
    np.testing.assert_array_equal(again.cell_grid, first.cell_grid)
    assert str((tmp_path / "saved").resolve()) in again.saved


def test_save_paths_are_relative_to_the_start_folder_and_only_own_saves_are_replaced(session, tmp_path):
    client = create_app(session, token=TOKEN, start_dir=tmp_path).test_client()
    resp = post(client, "save", {"out": "edited"})
    assert resp.status_code == 200 and resp.get_json()["out"] == str(tmp_path / "edited")
    again = post(client, "save", {"out": "edited"})
    assert again.status_code == 409 and again.get_json()["reason"] == {
        "kind": "save_exists",
        "path": str(tmp_path / "edited"),
        "own": True,
    }
    assert post(client, "save", {"out": "edited", "overwrite": True}).status_code == 200
    other = tmp_path / "other"
    other.mkdir()
    resp = post(client, "save", {"out": "other", "overwrite": True})  # not this editor's save: never replaced
    assert resp.status_code == 409 and resp.get_json()["reason"]["own"] is False and other.exists()


def test_fix_regrids_an_out_of_band_grid_with_its_neighbours_after_a_preview(client, session):
    b = session.by_code[f"{VILLAGE}004"]  # 496 households: painted over the maximum 500
    while session.g_hh[b] <= 520:  # noqa: PLR2004
        cell = next(
            int(j)
            for c in session.members(b)
            for j in session.adj[c].indices
            if session.cell_grid[j] != b and session.hh[j] > 0 and session.g_type[session.cell_grid[j]] == "base"
        )
        assert post(client, "move", {"units": [cell], "to": session.code[b], "confirm": True}).status_code == 200
    assert not session.partition.in_band()[b]
    out_before = int((~session.partition.in_band()[session.grids_of(VILLAGE)]).sum())
    before = session.cell_grid.copy()
    resp = post(client, "fix_preview", {"grid": session.code[b]})
    assert resp.status_code == 200
    parts = resp.get_json()["parts"]
    np.testing.assert_array_equal(session.cell_grid, before)  # a preview changes nothing
    resp = post(client, "fix", {"grid": session.code[b]})
    assert resp.status_code == 200 and resp.get_json()["message"].startswith("已修正")
    assert all(len(np.unique(session.cell_grid[p])) == 1 for p in parts)  # exactly the previewed parts
    assert int((~session.partition.in_band()[session.grids_of(VILLAGE)]).sum()) < out_before
    in_band = next(g for g in session.grids_of(VILLAGE) if session.partition.in_band()[g])
    resp = post(client, "fix_preview", {"grid": session.code[in_band]})
    assert resp.status_code == 409 and "无需修正" in resp.get_json()["error"]


def test_touching_grids_always_have_different_colours_and_keep_them_across_edits(client, session):
    def touching(village: str) -> set[tuple[int, int]]:
        i, j, _ = session.edges
        gi, gj = session.cell_grid[i], session.cell_grid[j]
        here = (gi != gj) & (session.village[i] == village)
        return set(zip(gi[here].tolist(), gj[here].tolist(), strict=True))

    for village in session.villages():
        colors = session.colors(village)
        assert all(colors[a] != colors[b] for a, b in touching(village))
    before = session.colors(VILLAGE)
    unit, a, b = border_move(session)
    post(client, "move", {"units": [unit], "to": b})
    after = session.colors(VILLAGE)
    assert all(after[x] != after[y] for x, y in touching(VILLAGE))
    assert after == before  # a small move recolours nothing


def limited_run(band: tuple[int, int], limit: float):
    """Community A of the town (30 × 10 points, 10 households each) with minors in its south-west
    corner (3 per point, 90 in all), gridded with a limit on minors per grid."""
    import gridmap
    from gridmap.config import read_rules
    from partition.values import Limit
    from tests.conftest import UTM, grid_points, square

    a = grid_points(30, 10)
    x, y = a.geometry.x - a.geometry.x.min(), a.geometry.y - a.geometry.y.min()
    a["minors"] = np.where((x < 120) & (y < 100), 3.0, 0.0)
    boundaries = gpd.GeoDataFrame(
        {"code": ["310115005001"], "name": ["社区A"], "urban_rural": ["111"]}, geometry=[square(600, 200)], crs=UTM
    )
    rules = read_rules().with_band(*band).with_measures(limits=[Limit("minors", max=limit)])
    run = gridmap.make_grids(a, boundaries, options=gridmap.Options(rules=rules))
    return run


def test_split_regenerate_and_fix_keep_the_runs_limits_as_the_pipeline_does():
    # a split of a grid over the limit (430 households, 18 minors at one end): the even cut leaves
    # them all on one side, a cut that keeps the limit exists
    session = EditSession(limited_run((150, 500), 15))
    minors = np.bincount(session.address_cell, weights=session._addresses["minors"], minlength=len(session.hh))
    big = max(
        (g for g in session.grids_of(VILLAGE) if session.split_counts(g)),
        key=lambda g: minors[session.members(g)].sum(),
    )
    assert minors[session.members(big)].sum() == 18 and session.split_counts(big) == [2]
    _, parts = session.split_parts(session.code[big], 2)
    assert [minors[p].sum() for p in parts] == [9, 9]
    # the two grids holding the minors merged (60 of them in one grid), then regenerated, or fixed
    for op in ("regenerate", "fix"):
        session = EditSession(limited_run((300, 500), 30))
        held = sorted(session.grids_of(VILLAGE), key=lambda g: -minors[session.members(g)].sum())[:2]
        session.apply("merge", grids=[session.code[g] for g in held])
        merged = next(g for g in held if session.alive(g))
        assert minors[session.members(merged)].sum() > 30
        session.apply(op, **({"village": VILLAGE} if op == "regenerate" else {"grid": session.code[merged]}))
        grids = session.to_result().grids
        assert grids["minors"].max() <= 30 and grids["households"].between(300, 500).all(), op


def test_a_move_over_a_measure_limit_is_a_problem_until_an_edit_brings_it_back():
    """The run's limit (≤ 30 minors per grid) is judged live: a move over it lists the grid, worded as
    the pipeline words it; moving the unit back clears it; a saved edit carries the flag."""
    session = EditSession(limited_run((300, 500), 30))
    client = create_app(session, token=TOKEN).test_client()
    minors = np.bincount(session.address_cell, weights=session._addresses["minors"], minlength=len(session.hh))

    def limit_problems(resp) -> dict[str, str]:
        return {p["grid_code"]: p["text"] for p in resp.get_json()["problems"] if p["kind"] == "limit_unmet"}

    assert not limit_problems(client.get(f"/api/problems?village={VILLAGE}"))  # the run meets its limit
    # a unit holding minors moved into the neighbouring grid that already holds the most
    unit, a, b = next(
        (int(c), int(session.cell_grid[c]), int(session.cell_grid[j]))
        for c in np.argsort(-minors, kind="stable")
        if minors[c] > 0
        for j in session.adj[c].indices
        if session.cell_grid[j] != session.cell_grid[c] and minors[session.members(session.cell_grid[j])].sum() >= 28
    )
    total = minors[session.members(b)].sum() + minors[unit]
    assert total > 30
    resp = post(client, "move", {"units": [unit], "to": session.code[b], "confirm": True})
    assert resp.status_code == 200
    why = Reason.of(ReasonKind.LIMIT_UNMET, measure="minors", value=float(total), limit="≤ 30")
    assert limit_problems(resp) == {session.code[b]: catalog.reason_text(why)}
    assert catalog.reason_text(why).startswith(f"本格 minors 为 {total:g}，不满足 ≤ 30")  # Chinese first
    assert "minors" in figures(resp)[session.code[b]]["note"]
    saved = session.to_result().grids.set_index("grid_code")  # the saved run lists it as the pipeline does
    assert saved.loc[session.preview_codes(VILLAGE)[b], "flag"] == Flag.LIMIT_UNMET
    resp = post(client, "move", {"units": [unit], "to": session.code[a], "confirm": True})
    assert resp.status_code == 200 and not limit_problems(resp)
    assert "minors" not in figures(resp)[session.code[b]]["note"]


def test_before_any_edit_the_editor_lists_exactly_the_grids_the_run_flags_for_a_limit():
    """The live check and the pipeline's agree, exclusive areas (held to their village's limits) included."""
    import gridmap
    from gridmap.config import read_rules
    from partition.values import Limit

    rules = read_rules().with_measures(limits=[Limit("population", max=1000), Limit("units", min=5)])
    run = gridmap.grid_files(**gridmap.sample_layers(), options=gridmap.Options(rules=rules))
    kinds = {ReasonKind.LIMIT_UNMET, ReasonKind.LIMIT_FORCED, ReasonKind.UNIT_OVER_LIMIT, ReasonKind.AREA_OVER_LIMIT}
    flagged = {
        code
        for code, why in zip(run.grids["grid_code"], run.grids["reason"], strict=True)
        if kinds & {r.kind for r in decode(why)}
    }
    exclusive = set(run.grids.loc[run.grids["grid_type"].str.startswith("exclusive"), "grid_code"])
    assert exclusive and exclusive <= flagged  # no units in a school or hospital area: under 5
    session = EditSession(run)
    shown = {p["grid_code"] for v in session.villages() for p in session.problems(v) if p["kind"] == "limit_unmet"}
    assert shown == flagged


def test_cells_rebuilt_for_a_run_without_its_cells_name_units_as_the_engine_does(sample_run):
    """A run without a cells layer: the editor's rebuilt cells name each unit as text, as reasons read it back."""
    from gridmap.edit.units import units_from_run  # noqa: PLC0415
    from partition.reasons import UnitKind, unit_ref  # noqa: PLC0415

    work = sample_run.work_crs
    cells, _ = units_from_run(sample_run.grids.to_crs(work), sample_run.addresses.to_crs(work))
    units = cells.loc[cells["households"].gt(0) & cells["building"].notna(), "label"]
    assert len(units)
    assert all(isinstance(v, str) and v.startswith("building ") for v in units)
    assert all(unit_ref(v).kind == UnitKind.BUILDING for v in units)
