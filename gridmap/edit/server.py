"""The editor's JSON API and page, served by Flask over one :class:`~gridmap.edit.session.EditSession`.

API (GeoJSON in WGS 84; every POST needs the session token in the ``X-Gridmap-Token`` header)
------------------------------------------------------------------------------------------
=========================  ============================================  ====================================
request                    body / query                                  answer
=========================  ============================================  ====================================
``GET /api/grids``         ``?village=CODE`` (optional)                  FeatureCollection: grid_code,
                                                                         households, status, locked, ...
``GET /api/units``         ``?village=CODE``                             FeatureCollection: unit_id, grid_code,
                                                                         households, building, compound
``GET /api/villages``      —                                             code, name, grids of each village
``GET /api/problems``      ``?village=CODE``                             ``{"village", "problems": [...]}``
``POST /api/move``         ``{"units": [ids], "to": CODE, "confirm"}``   edit answer (below)
``POST /api/merge``        ``{"grids": [A, B]}``                         edit answer
``POST /api/split``        ``{"grid": CODE, "k": 2}``                    edit answer
``POST /api/lock``         ``{"grids": [...], "locked": true}``          edit answer
``POST /api/regenerate``   ``{"village": CODE}``                         edit answer
``POST /api/undo``         ``{}``                                        edit answer
``POST /api/redo``         ``{}``                                        edit answer
``POST /api/save``         ``{"out": PATH, "overwrite": false}``         ``{"out", "grids", "edits"}``
=========================  ============================================  ====================================

An edit answer is ``{"op", "village", "changed": FeatureCollection of the changed grids' new
figures, "removed": [codes], "problems": [...], "warnings": [...], "can_undo", "can_redo"}``.
Errors are ``{"error": message, "field": name, "warnings": [...]}`` with status 400 (malformed),
401 (token), 404 (unknown grid/unit/village) or 409 (refused: locked grid, nothing to undo, output
exists, or a move that needs ``"confirm": true`` because it disconnects a grid or splits a
compound); nothing is changed on error.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import EditError, GridmapError, OptionError, OutputExistsError, UnsafeOutputError, require
from gridmap import catalog
from gridmap.edit.session import DONE, EditSession, refused, wrong_type
from partition.reasons import Reason, ReasonKind

STATIC = Path(__file__).parent / "static"
ALLOWED = {
    "move": {"units", "to", "confirm"},
    "merge": {"grids"},
    "split": {"grid", "k"},
    "lock": {"grids", "locked"},
    "regenerate": {"village"},
    "fix": {"grid"},
    "undo": set(),
    "redo": set(),
}
READS_ALSO = {"split_preview": {"grid", "k"}, "fix_preview": {"grid"}}
"""POST requests that change nothing."""


def leaflet_assets(web: str | Path | None = None) -> dict[str, Any]:
    """Where the page loads Leaflet from: the copy installed with gridmap, else the CDN.

    The one place the editor decides this. It follows the map's mechanism (:mod:`gridmap.offline`):
    the pinned, checksum-verified Leaflet that the package build puts in ``gridmap/web/`` is served
    by the editor itself under ``/vendor/leaflet/``, so no internet is needed; only a source tree
    built without those files falls back to the same pinned version on jsDelivr.

    Returns
    -------
    assets
        ``js`` and ``css`` URLs for the page, and ``dir`` (the local ``dist`` folder, or None).
    """
    from gridmap import offline

    dist = (offline.package_dir("leaflet", web=Path(web) if web else offline.WEB) / "dist").resolve()
    if (dist / "leaflet.js").exists():
        return {"js": "/vendor/leaflet/leaflet.js", "css": "/vendor/leaflet/leaflet.css", "dir": dist}
    return {
        "js": offline.cdn_url("leaflet", "dist/leaflet.js"),
        "css": offline.cdn_url("leaflet", "dist/leaflet.css"),
        "dir": None,
    }


def _features(session: EditSession, gids: list[int], figures: list[dict[str, Any]] | None = None) -> str:
    """GeoJSON FeatureCollection (WGS 84, as text) of grids `gids` with their figures (given, or worked out)."""
    if not gids:
        return json.dumps({"type": "FeatureCollection", "features": []})
    props = pd.DataFrame(figures if figures is not None else _figures(session, gids))
    geoms = gpd.GeoSeries([session.geometry(g) for g in gids], crs=session.work_crs).to_crs("EPSG:4326")
    frame = gpd.GeoDataFrame(props, geometry=geoms.values, crs="EPSG:4326")
    return frame.to_json(drop_id=True)


def _figures(session: EditSession, gids: list[int]) -> list[dict[str, Any]]:
    """Figures of grids `gids` with the code save will give each, its colour and its label point (WGS 84)."""
    out = session.figures(gids)
    codes: dict[int, str] = {}
    colors: dict[int, str] = {}
    for village in {session.g_village[g] for g in gids}:
        codes.update(session.preview_codes(village))
        colors.update(session.colors(village))
    points = shapely.point_on_surface(np.array([session.geometry(g) for g in gids], dtype=object))
    xy = shapely.get_coordinates(gpd.GeoSeries(points, crs=session.work_crs).to_crs("EPSG:4326").values)
    for row, g, (x, y) in zip(out, gids, xy, strict=True):
        row["code"] = codes.get(g, session.code[g])
        row["color"] = colors.get(g, "#999999")
        row["label_point"] = [round(float(y), 7), round(float(x), 7)]
    return out


def _village_grids(session: EditSession, village: str) -> list[dict[str, Any]]:
    """Figures of every grid of `village` (no geometry): the panel's table, chart and labels."""
    return _figures(session, session.grids_of(village)) if village else []


def _text(values: pd.Series) -> list[str | None]:
    return [None if v is None or v != v else str(v) for v in values]


def _units(session: EditSession, village: str) -> str:
    cells = session.village_cells.get(village)
    if cells is None:
        raise refused(ReasonKind.NO_SUCH_VILLAGE, field="village", status=404, village=village)
    c = session.cells.iloc[cells]
    points = shapely.get_coordinates(
        gpd.GeoSeries(shapely.point_on_surface(session.geoms[cells]), crs=session.work_crs).to_crs("EPSG:4326").values
    )
    frame = gpd.GeoDataFrame(
        {
            "unit_id": cells.astype(int),
            "grid_code": [session.code[g] for g in session.cell_grid[cells]],
            "households": session.hh[cells].round().astype(int),
            "building": _text(c["building"]),
            "compound": _text(c["compound"]),
            "label": c["label"].astype(str).to_numpy(),
            "exclusive": session.exclusive[cells],
            "lat": np.round(points[:, 1], 7),
            "lng": np.round(points[:, 0], 7),
        },
        geometry=session.cells_wgs84()[cells],
        crs="EPSG:4326",
    )
    return frame.to_json(drop_id=True)


def create_app(  # noqa: C901 - a Flask factory: its routes are nested functions
    session: EditSession,
    *,
    token: str,
    protect_reads: bool = False,
    web: str | Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    start_dir: str | Path | None = None,
):
    """Build the Flask app of the editor.

    Parameters
    ----------
    session
        The edit session every request works on (one lock serialises edits).
    token
        Secret every POST must carry in the ``X-Gridmap-Token`` header.
    protect_reads
        Also require the token (header or ``?token=``) on GET requests: set when the server listens
        on another address than the loopback one.
    web
        Folder of the map's web assets (default ``gridmap/web``; see :func:`leaflet_assets`).
    clock
        Monotonic seconds, for the wait after repeated wrong tokens (:class:`_Throttle`).
    start_dir
        Folder `gridmap edit` was started in: a relative save path is taken from there (default:
        the current folder).

    Returns
    -------
    app
        A ``flask.Flask`` application.
    """
    require("flask", extra="edit", purpose="The editor (gridmap edit)")
    from flask import Flask, Response, abort, jsonify, request, send_from_directory

    app = Flask("gridmap.edit", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY  # larger bodies get 413 before they are read
    lock = threading.Lock()
    throttle = _Throttle(clock)
    leaflet = leaflet_assets(web)
    start = Path(start_dir or Path.cwd()).resolve()

    def fail(exc: EditError):
        answer = jsonify(
            {"error": str(exc), "field": exc.field, "warnings": exc.warnings, "reason": getattr(exc, "reason", None)}
        )
        if exc.status == 429:
            answer.headers["Retry-After"] = str(max(1, round(throttle.wait(request.remote_addr or ""))))
        return answer, exc.status

    def check_token(*, reads: bool = False) -> None:
        if reads and not protect_reads:
            return
        who = request.remote_addr or ""
        wait = throttle.wait(who)
        if wait:
            raise refused(ReasonKind.TOKEN_WAIT, field="token", status=429, seconds=round(wait))
        given = request.headers.get("X-Gridmap-Token") or (request.args.get("token", "") if reads else "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            throttle.failed(who)
            raise refused(ReasonKind.TOKEN_WRONG, field="token", status=401)
        throttle.passed(who)

    @app.before_request
    def _loopback_host():
        # on loopback, reads need no token: refuse other Host names so a web page cannot reach the
        # API by pointing its own domain at 127.0.0.1 (DNS rebinding)
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if not protect_reads and host not in LOOPBACK:
            return fail(refused(ReasonKind.HOST_REFUSED, field="host", status=403, host=host))
        return None

    @app.errorhandler(EditError)
    def _edit_error(exc: EditError):
        return fail(exc)

    @app.errorhandler(500)
    def _internal(exc):
        return fail(refused(ReasonKind.INTERNAL, field="", status=500))

    @app.errorhandler(413)
    def _too_large(exc):
        return fail(refused(ReasonKind.REQUEST_TOO_LARGE, field="body", status=413, bytes=MAX_BODY))

    @app.errorhandler(404)
    def _not_found(exc):
        return fail(refused(ReasonKind.NO_SUCH_PAGE, field="path", status=404, path=request.path))

    @app.errorhandler(405)
    def _bad_method(exc):
        return fail(
            refused(ReasonKind.METHOD_NOT_ALLOWED, field="method", status=405, method=request.method, path=request.path)
        )

    @app.get("/")
    def page():
        html = (STATIC / "edit.html").read_text(encoding="utf-8")
        html = html.replace("{{LEAFLET_JS}}", leaflet["js"]).replace("{{LEAFLET_CSS}}", leaflet["css"])
        return Response(html, mimetype="text/html")

    @app.get("/static/<path:name>")
    def static_file(name: str):
        return send_from_directory(STATIC, name)

    @app.get("/vendor/leaflet/<path:name>")
    def vendor(name: str):
        if leaflet["dir"] is None:
            abort(404)
        return send_from_directory(leaflet["dir"], name)

    def village_arg() -> str:
        village = request.args.get("village", "")
        if not village:
            raise refused(ReasonKind.REQUEST_FIELD_MISSING, field="village", status=400, name="village")
        return village

    @app.get("/api/villages")
    def villages():
        check_token(reads=True)
        with lock:
            rows = [
                {"code": v, "name": session.village_name.get(v, ""), "grids": len(session.grids_of(v))}
                for v in session.villages()
            ]
            pending = session.unsaved()
            found = Reason.of(ReasonKind.JOURNAL_FOUND, path=str(session.journal), edits=pending)
            refusal = session.journal_refusal
        return jsonify(
            {
                "villages": rows,
                "can_undo": bool(session.undo_stack),
                "can_redo": bool(session.redo_stack),
                "start_dir": str(start),
                "journal": str(session.journal) if session.journal else None,
                "pending": pending,
                "journal_text": catalog.reason_text(found) if pending else None,
                "journal_refused": catalog.reason_text(refusal) if refusal else None,
                "edits": len(session.log),
            }
        )

    @app.post("/api/resume")
    def resume():
        check_token()
        with lock:
            n = session.resume()
            return jsonify({"resumed": n, "can_undo": bool(session.undo_stack), "can_redo": bool(session.redo_stack)})

    @app.post("/api/discard")
    def discard():
        check_token()
        with lock:
            session.discard_journal()
        return jsonify({"discarded": True})

    @app.post("/api/fix_preview")
    def fix_preview():
        check_token()
        data = body(READS_ALSO["fix_preview"])
        with lock:
            gid, cells, free = session.fix_area(data.get("grid"))
            parts = [p for p, _ in session.regrid_parts(cells, free)]
            return jsonify(
                {
                    "grid": session.code[gid],
                    "parts": [p.astype(int).tolist() for p in parts],
                    "households": [int(round(session.hh[p].sum())) for p in parts],
                }
            )

    @app.post("/api/split_preview")
    def split_preview():
        check_token()
        data = body(READS_ALSO["split_preview"])
        with lock:
            gid, parts = session.split_parts(data.get("grid"), data.get("k"))
            return jsonify(
                {
                    "grid": session.code[gid],
                    "parts": [p.astype(int).tolist() for p in parts],
                    "households": [int(round(session.hh[p].sum())) for p in parts],
                }
            )

    @app.get("/api/grids")
    def grids():
        check_token(reads=True)
        village = request.args.get("village")
        with lock:
            if village:
                if village not in session.village_cells:
                    raise refused(ReasonKind.NO_SUCH_VILLAGE, field="village", status=404, village=village)
                gids = session.grids_of(village)
            else:
                gids = [g for v in session.villages() for g in session.grids_of(v)]
            return Response(_features(session, gids), mimetype="application/json")

    @app.get("/api/units")
    def units():
        check_token(reads=True)
        village = village_arg()
        with lock:
            return Response(_units(session, village), mimetype="application/json")

    @app.get("/api/outline")
    def outline():
        check_token(reads=True)
        village = village_arg()
        bounds = session.run.boundaries
        if bounds is None:
            return Response(json.dumps({"type": "FeatureCollection", "features": []}), mimetype="application/json")
        mine = bounds[bounds["code"].astype(str) == village][["code", "geometry"]].to_crs("EPSG:4326")
        return Response(mine.to_json(drop_id=True), mimetype="application/json")

    @app.get("/api/problems")
    def problems():
        check_token(reads=True)
        village = village_arg()
        with lock:
            return jsonify({"village": village, "problems": session.problems(village)})

    def body(fields: set[str] | None = None) -> dict[str, Any]:
        """Return the request's JSON object; refuse the first field outside `fields` (None: any)."""
        raw = request.get_data(cache=True)
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise refused(ReasonKind.REQUEST_NOT_JSON, field="body", status=400) from exc
        if not isinstance(data, dict):
            raise refused(ReasonKind.REQUEST_NOT_JSON, field="body", status=400)
        unknown = sorted(set(data) - fields) if fields is not None else []
        if unknown:
            raise refused(
                ReasonKind.REQUEST_FIELD_UNKNOWN,
                field=unknown[0],
                status=400,
                name=unknown[0],
                expected=sorted(fields or ()) or ["—"],
            )
        return data

    def edit(op: str):
        check_token()
        data = body(ALLOWED[op])
        for flag in ("confirm", "locked"):  # JSON booleans only: the string "false" is truthy
            if flag in data and not isinstance(data[flag], bool):
                raise wrong_type(flag, "bool")
        with lock:
            result = session.apply(op, **data)
            live = [g for g in result.grids if session.alive(g)]
            gone = [session.code[g] for g in result.grids if not session.alive(g)]
            village = result.village or (session.g_village[result.grids[0]] if result.grids else "")
            grids = _village_grids(session, village)
            row = {r["grid_code"]: r for r in grids}
            live = [g for g in live if session.code[g] in row]
            done = Reason.of(DONE[result.op], grids=[row[session.code[g]]["code"] for g in live])
            cells = result.cells.astype(int)
            return jsonify(
                {
                    "op": op,
                    "village": village,
                    "changed": json.loads(_features(session, live, [row[session.code[g]] for g in live])),
                    "removed": gone,
                    "cells": [cells.tolist(), [session.code[g] for g in session.cell_grid[cells]]],
                    "grids": grids,
                    "problems": session.problems(village) if village else [],
                    "warnings": result.warnings,
                    "message": catalog.reason_text(done),
                    "can_undo": bool(session.undo_stack),
                    "can_redo": bool(session.redo_stack),
                    "edits": len(session.log),
                }
            )

    for op in ALLOWED:
        app.add_url_rule(f"/api/{op}", f"api_{op}", lambda op=op: edit(op), methods=["POST"])

    @app.post("/api/save")
    def save():
        check_token()
        data = body({"out", "overwrite"})
        out = data.get("out")
        if not isinstance(out, str) or not out.strip():
            raise refused(ReasonKind.SAVE_PATH_BAD, field="out", status=400)
        _check_path(out)
        overwrite = data.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise wrong_type("overwrite", "bool")
        path = Path(out).expanduser()
        path = (path if path.is_absolute() else start / path).resolve()
        shown = str(path)
        with lock:
            if session.source and path == Path(session.source).resolve():
                raise refused(ReasonKind.SAVE_OVER_RUN, field="out", path=shown)
            own = shown in session.saved
            if path.exists() and not (overwrite and own):
                raise refused(ReasonKind.SAVE_EXISTS, field="out", path=shown, own=own)
            try:
                session.save(path, overwrite=overwrite and own)
            except OutputExistsError as exc:
                raise refused(ReasonKind.SAVE_EXISTS, field="out", path=shown, own=own) from exc
            except UnsafeOutputError as exc:
                raise refused(ReasonKind.SAVE_NOT_OURS, field="out", path=shown) from exc
            except EditError:
                raise
            except (GridmapError, OSError) as exc:
                detail = getattr(exc, "strerror", None) or str(exc)
                raise refused(ReasonKind.SAVE_FAILED, field="out", status=400, path=shown, detail=detail) from exc
            n = int(np.sum([session.alive(g) for g in range(len(session.code))]))
        saved = Reason.of(ReasonKind.SAVED, path=shown, grids=n, edits=len(session.log))
        return jsonify({"out": shown, "grids": n, "edits": len(session.log), "message": catalog.reason_text(saved)})

    return app


LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_BODY = 1 << 20
"""Largest request body the API reads (1 MiB: an edit is a few hundred bytes)."""
MIN_REMOTE_TOKEN = 22
"""Shortest token accepted off loopback: 22 URL-safe characters carry 128 bits (``secrets.token_urlsafe(16)``)."""


class _Throttle:
    """Slow down guessing: after 5 wrong tokens from one address, it waits 2, 4, 8, ... (at most 300) seconds.

    While it waits every request of that address needing the token is answered 429 (with Retry-After);
    a right token afterwards clears the count.
    """

    FREE = 5

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.fails: dict[str, int] = {}
        self.until: dict[str, float] = {}
        self.lock = threading.Lock()

    def wait(self, who: str) -> float:
        with self.lock:
            return max(0.0, self.until.get(who, 0.0) - self.clock())

    def failed(self, who: str) -> None:
        with self.lock:
            n = self.fails[who] = self.fails.get(who, 0) + 1
            if n >= self.FREE:
                self.until[who] = self.clock() + min(300.0, 2.0 ** (n - self.FREE + 1))

    def passed(self, who: str) -> None:
        with self.lock:
            self.fails.pop(who, None)
            self.until.pop(who, None)


def _check_path(out: str) -> None:
    """Refuse a save path the file system cannot hold (NUL byte, a name over 255 bytes) with a 400."""
    if "\x00" in out or len(out.encode()) > 4000 or any(len(part.encode()) > 255 for part in Path(out).parts):  # noqa: PLR2004
        raise refused(ReasonKind.SAVE_PATH_BAD, field="out", status=400)


def check_token(token: str, *, host: str) -> str:
    """Return `token` if it can guard an editor on `host`: printable ASCII, and strong off loopback.

    Raises
    ------
    OptionError
        For a token with spaces, control or non-ASCII characters (an HTTP header cannot carry it), or
        shorter than 22 characters (128 bits) with 8 distinct characters when `host` is not loopback.
    """
    if not (token.isascii() and token.isprintable() and " " not in token):
        msg = "`--token` must be printable ASCII without spaces (it travels in an HTTP header)."
        raise OptionError(msg, fix="leave --token out: a strong one is generated.")
    if host not in LOOPBACK and (len(token) < MIN_REMOTE_TOKEN or len(set(token)) < 8):
        msg = (
            f"off loopback (--host {host}) the token guards every read and write, so it needs at least "
            f"{MIN_REMOTE_TOKEN} characters (128 bits) with 8 different ones."
        )
        raise OptionError(msg, fix="leave --token out: a strong one is generated and printed.")
    return token


def editor_url(host: str, port: int, token: str) -> str:
    """Return the URL `gridmap edit` prints: the token percent-encoded, so ``&``, ``#`` or ``%`` in it survive."""
    from urllib.parse import quote

    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={quote(token, safe='')}"


if TYPE_CHECKING:
    from werkzeug.serving import WSGIRequestHandler
else:  # without the [edit] extra, importing the editor is one clear error naming the install
    WSGIRequestHandler = require(
        "werkzeug.serving", extra="edit", purpose="The editor (gridmap edit)"
    ).WSGIRequestHandler


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's request log, with the token taken out of every logged URL."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        hide = re.compile(r"([?&]token=)[^&\s]*")
        self.requestline = hide.sub(r"\1***", self.requestline)
        if hasattr(self, "path"):
            self.path = hide.sub(r"\1***", self.path)
        super().log_request(code, size)


def journal_path(folder: str | Path) -> Path:
    """Return the edit log of a run: ``RUN.edit-log.jsonl`` beside the run folder (the run itself is never written)."""
    folder = Path(folder).resolve()
    return folder.parent / f"{folder.name}.edit-log.jsonl"


def serve(
    folder: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    open_browser: bool = True,
    echo=print,
) -> None:
    """Open a run folder for editing and serve the editor until interrupted (``gridmap edit``).

    On the loopback address a token is generated when none is given (it still guards every
    write, so another web page cannot post edits); on any other address the token also guards
    reads, and the printed URL carries it.
    """
    import getpass
    import secrets
    import webbrowser

    from werkzeug.serving import make_server

    if not 0 <= port <= 65535:
        raise OptionError(f"`--port` must be 0-65535, got {port}.", fix="pick a port such as 8765 (0: any free port).")
    token = check_token(token, host=host) if token is not None else secrets.token_urlsafe(16)
    session = EditSession.from_folder(folder, user=getpass.getuser())
    log = journal_path(folder)
    try:
        pending = session.open_journal(log)
    except (OSError, ValueError) as exc:
        echo(f"gridmap edit: the edit log {log} cannot be kept ({exc}); edits are only in memory until saved.")
        session.journal = None
    else:
        if pending:
            found = Reason.of(ReasonKind.JOURNAL_FOUND, path=str(log), edits=pending)
            echo(f"gridmap edit: {catalog.reason_text(session.journal_refusal or found)}")
    app = create_app(session, token=token, protect_reads=host not in LOOPBACK, start_dir=Path.cwd())
    try:
        server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    except OSError as exc:
        raise EditError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port.", field="port") from exc
    url = editor_url(host, server.server_port, token)
    echo(f"gridmap edit: {len(session.cells)} units, {len(session.code)} grids; open {url}  (Ctrl+C stops)")
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
