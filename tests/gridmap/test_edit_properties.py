"""Property tests of the editor API: any body, token or query answers JSON with a 2xx or 4xx status, never 500."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridmap.edit.server import ALLOWED, create_app
from gridmap.edit.session import EditSession

TOKEN = "property-token"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
ENDPOINTS = [*ALLOWED, "save"]
FIELDS = sorted({f for fields in ALLOWED.values() for f in fields} | {"out", "overwrite"})
bodies = (
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=4).map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=100)
    | st.binary(max_size=100)
)
EXPECTED = {200, 400, 401, 404, 405, 409, 413, 429}
SOME = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(run_folder, tmp_path_factory):
    app = create_app(EditSession.from_folder(run_folder), token=TOKEN, protect_reads=True)
    return app.test_client()


def _answered(resp) -> None:
    assert resp.status_code in EXPECTED, (resp.status_code, resp.get_data()[:300])
    data = resp.get_json()
    assert isinstance(data, dict)
    if resp.status_code != 200:
        assert data["error"] and "field" in data


@SOME
@given(op=st.sampled_from(ENDPOINTS), body=bodies, tmp=st.just(None))
def test_any_post_body_gets_json_and_a_4xx_or_a_result(client, tmp_path_factory, op, body, tmp):
    if op == "save":  # a save that succeeds must write under a temporary folder, not the working folder
        try:
            data = json.loads(body)
        except (ValueError, TypeError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("out"), str):
            data["out"] = str(tmp_path_factory.mktemp("save") / "x" / data["out"].replace("\x00", "")[:50])
            body = json.dumps(data)
    _answered(client.post(f"/api/{op}", data=body, headers={"X-Gridmap-Token": TOKEN}))


@SOME
@given(
    path=st.sampled_from(["/api/grids", "/api/units", "/api/problems", "/api/villages", "/api/nope"]),
    village=st.text(max_size=20),
    token=st.sampled_from([TOKEN, ""]) | st.text(max_size=30),
)
def test_any_read_gets_json_and_a_4xx_or_a_result(client, path, village, token):
    resp = client.get(path, query_string={"village": village, "token": token})
    _answered(resp)
