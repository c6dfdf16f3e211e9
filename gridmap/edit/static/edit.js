// gridmap editor page: every text from the run is set with textContent, never as HTML.
// Cells are drawn on a canvas of their own (CellCanvas below); an edit answer carries only the cells
// that changed grid and the village's grid figures, so only those cells are repainted (no reload).
"use strict";
(function () {
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const state = {
    village: null, grids: new Map(), order: [], outlines: new Map(), labels: new Map(),
    painted: new Map(), cellGrid: new Map(), cellPoint: new Map(), gridCells: new Map(),
    selected: new Set(), brush: null, mode: null, stroke: null, pending: null, preview: null,
    problems: new Set(), dirty: false, saved: null,
  };
  const renderer = L.canvas({ padding: 0.3, tolerance: 0 });
  const map = L.map("map", { boxZoom: false, keyboard: false, renderer }).setView([31.2, 121.5], 13);
  map.createPane("cells").style.zIndex = 390;  // under the grid outlines (overlayPane, 400)
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19, attribution: "© OpenStreetMap",
  }).addTo(map);
  map.attributionControl.setPrefix(false);
  const outlineLayer = L.layerGroup().addTo(map);
  const villageLayer = L.layerGroup().addTo(map);
  const labelLayer = L.layerGroup().addTo(map);

  // ---- the cells' canvas ---------------------------------------------------------------------
  // Thousands of household cells as Leaflet paths cost, on every zoom, a projection of every vertex
  // into new objects, a clip, and one fill and one stroke per cell. Here each vertex is projected
  // once (zoom-0 pixels in one Float64Array); a redraw scales them, skips cells out of view and
  // vertices closer than a pixel, and fills all cells of one colour as one path.
  const CellCanvas = L.Renderer.extend({
    options: { padding: 0.3, pane: "cells" },
    initialize(options) {
      L.Renderer.prototype.initialize.call(this, options);
      this.setCells([]);
    },
    _initContainer() {
      this._container = document.createElement("canvas");
      this._container.className = "gm-cells";
      this._ctx = this._container.getContext("2d");
    },
    _destroyContainer() {
      L.DomUtil.remove(this._container);
      delete this._ctx;
      delete this._container;
    },
    _update() {  // on moveend: the canvas covers the view and its padding, in layer pixels
      if (this._map._animatingZoom && this._bounds) return;
      L.Renderer.prototype._update.call(this);
      const b = this._bounds, c = this._container, size = b.getSize(), r = window.devicePixelRatio || 1;
      L.DomUtil.setPosition(c, b.min);
      c.width = r * size.x; c.height = r * size.y;
      c.style.width = size.x + "px"; c.style.height = size.y + "px";
      this._ctx.setTransform(r, 0, 0, r, -r * b.min.x, -r * b.min.y);
      this.fire("update");
    },
    _updatePaths() { this.dirty = null; this.draw(null); },
    setCells(features) {  // GeoJSON features of (Multi)Polygons with properties.unit_id
      const rings = (g) => (g.type === "Polygon" ? g.coordinates : g.type === "MultiPolygon" ? g.coordinates.flat() : []);
      let nv = 0, nr = 0;
      features.forEach((f) => rings(f.geometry).forEach((r) => { nr += 1; nv += r.length; }));
      const n = features.length, crs = L.CRS.EPSG3857;
      this.xy = new Float64Array(2 * nv);       // vertices, zoom-0 pixels
      this.ring = new Int32Array(nr + 1);       // first vertex of each ring
      this.first = new Int32Array(n + 1);       // first ring of each cell
      this.box = new Float64Array(4 * n);       // x0 y0 x1 y1 of each cell
      this.ids = features.map((f) => f.properties.unit_id);
      this.index = new Map(this.ids.map((id, i) => [id, i]));
      let v = 0, k = 0;
      features.forEach((f, i) => {
        this.first[i] = k;
        let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
        for (const r of rings(f.geometry)) {
          this.ring[k++] = v;
          for (const [lng, lat] of r) {
            const p = crs.latLngToPoint(L.latLng(lat, lng), 0);
            this.xy[2 * v] = p.x; this.xy[2 * v + 1] = p.y; v += 1;
            x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y); x1 = Math.max(x1, p.x); y1 = Math.max(y1, p.y);
          }
        }
        this.box.set([x0, y0, x1, y1], 4 * i);
      });
      this.first[n] = k; this.ring[k] = v;
      this.dirty = null;
      if (this._map) this.draw(null);
    },
    frame() {  // zoom-0 pixels → layer pixels: x * s - o.x
      return { s: 2 ** this._zoom, o: this._map.getPixelOrigin() };
    },
    trace(path, i, s, ox, oy) {
      const xy = this.xy, ring = this.ring;
      for (let r = this.first[i]; r < this.first[i + 1]; r++) {
        const a = ring[r], e = ring[r + 1];
        let px = xy[2 * a] * s - ox, py = xy[2 * a + 1] * s - oy;
        path.moveTo(px, py);
        for (let w = a + 1; w < e; w++) {  // a GeoJSON ring ends on its first vertex: no closePath (slow)
          const x = xy[2 * w] * s - ox, y = xy[2 * w + 1] * s - oy;
          if (w < e - 1 && Math.abs(x - px) + Math.abs(y - py) < 0.7) continue;
          path.lineTo(x, y); px = x; py = y;
        }
      }
    },
    draw(clip) {  // repaint the cells inside `clip` ([x0, y0, x1, y1], layer pixels), or the whole canvas
      const ctx = this._ctx;
      if (!ctx || !this._bounds) return;
      const b = this._bounds, { s, o } = this.frame();
      const x0 = Math.max(b.min.x, clip ? clip[0] : -Infinity), y0 = Math.max(b.min.y, clip ? clip[1] : -Infinity);
      const x1 = Math.min(b.max.x, clip ? clip[2] : Infinity), y1 = Math.min(b.max.y, clip ? clip[3] : Infinity);
      if (x0 >= x1 || y0 >= y1) return;
      const wx0 = (x0 + o.x) / s, wy0 = (y0 + o.y) / s, wx1 = (x1 + o.x) / s, wy1 = (y1 + o.y) / s;
      const box = this.box, fill = this.options.fill, paths = new Map();
      for (let i = 0; i < this.ids.length; i++) {
        if (box[4 * i] > wx1 || box[4 * i + 2] < wx0 || box[4 * i + 1] > wy1 || box[4 * i + 3] < wy0) continue;
        const colour = fill(this.ids[i]);
        let path = paths.get(colour);
        if (!path) paths.set(colour, (path = new Path2D()));
        this.trace(path, i, s, o.x, o.y);
      }
      ctx.save();
      ctx.beginPath(); ctx.rect(x0, y0, x1 - x0, y1 - y0); ctx.clip();
      ctx.clearRect(x0, y0, x1 - x0, y1 - y0);
      ctx.globalAlpha = 0.55;
      paths.forEach((path, colour) => { ctx.fillStyle = colour; ctx.fill(path, "evenodd"); });
      ctx.globalAlpha = 0.8; ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 0.4;
      paths.forEach((path) => ctx.stroke(path));
      ctx.restore();
    },
    repaint(ids) {  // repaint cells `ids` (the box around them) at the next frame
      const box = this.box;
      let d = this.dirty;
      ids.forEach((id) => {
        const i = this.index.get(id);
        if (i === undefined) return;
        if (!d) d = this.dirty = [Infinity, Infinity, -Infinity, -Infinity];
        d[0] = Math.min(d[0], box[4 * i]); d[1] = Math.min(d[1], box[4 * i + 1]);
        d[2] = Math.max(d[2], box[4 * i + 2]); d[3] = Math.max(d[3], box[4 * i + 3]);
      });
      if (!d || this.pending) return;
      this.pending = requestAnimationFrame(() => {
        this.pending = null;
        const w = this.dirty;
        this.dirty = null;  // during a zoom the redraw at its end draws everything
        if (!w || !this._map || this._map._animatingZoom) return;
        const { s, o } = this.frame();
        this.draw([w[0] * s - o.x - 1, w[1] * s - o.y - 1, w[2] * s - o.x + 1, w[3] * s - o.y + 1]);
      });
    },
    cellAt(latlng) {  // the cell under a map point, or null
      const p = L.CRS.EPSG3857.latLngToPoint(latlng, 0), box = this.box, xy = this.xy, ring = this.ring;
      for (let i = 0; i < this.ids.length; i++) {
        if (p.x < box[4 * i] || p.x > box[4 * i + 2] || p.y < box[4 * i + 1] || p.y > box[4 * i + 3]) continue;
        let hit = false;
        for (let r = this.first[i]; r < this.first[i + 1]; r++) {
          for (let a = ring[r], e = ring[r + 1], v = a, w = e - 1; v < e; w = v++) {
            const xv = xy[2 * v], yv = xy[2 * v + 1], xw = xy[2 * w], yw = xy[2 * w + 1];
            if ((yv > p.y) !== (yw > p.y) && p.x < ((xw - xv) * (p.y - yv)) / (yw - yv) + xv) hit = !hit;
          }
        }
        if (hit) return this.ids[i];
      }
      return null;
    },
  });

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value == null ? "" : String(value);
    if (cls) el.className = cls;
    return el;
  }
  function say(msg, isError) {
    $("message").textContent = msg;
    $("message").className = isError ? "error" : "";
  }
  async function api(method, path, body) {
    const opts = { method, headers: { "X-Gridmap-Token": TOKEN } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const sep = path.includes("?") ? "&" : "?";
    const res = await fetch(TOKEN ? path + sep + "token=" + encodeURIComponent(TOKEN) : path, opts);
    const data = await res.json();
    if (!res.ok) {
      const err = new Error(data.error || res.statusText);
      err.data = data;
      err.status = res.status;
      throw err;
    }
    return data;
  }
  const seq = (p) => (p.code || p.grid_code).slice(-3);

  // ---- drawing -------------------------------------------------------------------------------
  function cellFill(id) {  // a stroke's colour until the answer, else the preview's, else the grid's
    const painted = state.painted.get(id);
    if (painted) return painted;
    if (state.preview && state.preview.part.has(id)) return PREVIEW[state.preview.part.get(id) % PREVIEW.length];
    const g = state.grids.get(state.cellGrid.get(id));
    return g ? g.color : "#999999";
  }
  const PREVIEW = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#1f78b4"];
  function outlineStyle(key) {
    const p = state.grids.get(key) || {};
    const sel = state.selected.has(key);
    const bad = state.problems.has(key);
    return {
      fill: false, interactive: false, renderer,
      color: sel ? "#000" : bad ? "#d00" : "#222", weight: sel ? 4 : bad ? 3 : 2,
      dashArray: bad ? "6 4" : p.locked ? "2 4" : null,
    };
  }
  const cells = new CellCanvas({ fill: cellFill }).addTo(map);
  function paintCells(ids) {
    cells.repaint(ids);
  }
  function unpaint(ids) {  // a stroke's colours go back to the grids'
    ids.forEach((id) => state.painted.delete(id));
    cells.repaint(ids);
  }
  function setOutline(feature) {
    const key = feature.properties.grid_code;
    const old = state.outlines.get(key);
    if (old) outlineLayer.removeLayer(old);
    const layer = L.geoJSON(feature, { style: () => outlineStyle(key), interactive: false });
    layer.gmLook = JSON.stringify(outlineStyle(key), (k, v) => (k === "renderer" ? undefined : v));
    state.outlines.set(key, layer);
    outlineLayer.addLayer(layer);
  }
  function restyleOutlines() {  // only outlines whose look changed: each restyle redraws its area of the canvas
    state.outlines.forEach((layer, key) => {
      const style = outlineStyle(key);
      const look = JSON.stringify(style, (k, v) => (k === "renderer" ? undefined : v));
      if (layer.gmLook !== look) { layer.gmLook = look; layer.setStyle(style); }
    });
  }
  function setLabel(p) {
    const look = `${seq(p)} ${p.households} ${p.label_point}`;
    const old = state.labels.get(p.grid_code);
    if (old && old.gmLook === look) return;
    const el = document.createElement("div");
    el.appendChild(text("b", seq(p)));
    el.appendChild(text("span", ` ${p.households}户`));
    const icon = L.divIcon({ html: el, className: "grid-label", iconSize: null });
    if (old) { old.gmLook = look; old.setLatLng(p.label_point); old.setIcon(icon); return; }
    const m = L.marker(p.label_point, { icon, interactive: false, keyboard: false });
    m.gmLook = look;
    state.labels.set(p.grid_code, m);
    labelLayer.addLayer(m);
  }

  // ---- panel ---------------------------------------------------------------------------------
  function renderList() {
    const ul = $("grid-list");
    const active = ul.getAttribute("aria-activedescendant");
    ul.replaceChildren();
    state.order.forEach((key, i) => {
      const p = state.grids.get(key);
      const li = document.createElement("li");
      li.id = "grid-opt-" + i;
      li.dataset.code = key;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", state.selected.has(key) ? "true" : "false");
      li.classList.toggle("selected", state.selected.has(key));
      li.classList.toggle("brush", state.brush === key);
      li.classList.toggle("problem", state.problems.has(key));
      const sw = text("span", "", "swatch");
      sw.style.background = p.color;
      li.appendChild(sw);
      li.appendChild(text("span", i < 9 ? `${i + 1}` : "", "key"));
      li.appendChild(text("span", p.code, "code"));
      li.appendChild(text("span", `${p.households} 户`, "households"));
      li.appendChild(text("span", p.status_text, "status"));
      if (p.locked) li.appendChild(text("span", "锁 locked", "lock"));
      li.title = `人口 population ${Math.round(p.population || 0)} · 单元 units ${p.units} · ` +
        `紧凑度 compactness ${(p.compactness || 0).toFixed(2)}` + (p.note ? ` · ${p.note}` : "");
      li.addEventListener("click", (e) => pickGrid(key, e.shiftKey, e.timeStamp));
      ul.appendChild(li);
    });
    if (active && $(active)) ul.setAttribute("aria-activedescendant", active);
  }
  function renderChart() {
    const svg = $("chart");
    svg.replaceChildren();
    const grids = state.order.map((k) => state.grids.get(k));
    if (!grids.length) return;
    const NS = "http://www.w3.org/2000/svg";
    const W = 340, H = 130, pad = 18;
    const band = grids.find((p) => p.rule === "household_band" && p.grid_type === "base");
    const base = grids.filter((p) => p.grid_type === "base");
    const target = base.length ? base.reduce((s, p) => s + p.households, 0) / base.length : 0;
    const top = Math.max(1, ...grids.map((p) => p.households), band ? band.max_households * 1.1 : 0);
    const y = (v) => H - pad - (v / top) * (H - 2 * pad);
    const bw = (W - 10) / grids.length;
    const el = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); svg.appendChild(e); return e; };
    grids.forEach((p, i) => {
      const r = el("rect", { x: 5 + i * bw + 1, y: y(p.households), width: Math.max(1, bw - 2), height: H - pad - y(p.households), fill: p.color, "data-code": p.grid_code, class: "bar" });
      r.appendChild(document.createElementNS(NS, "title")).textContent = `${p.code}: ${p.households} 户`;
      if (state.selected.has(p.grid_code)) r.setAttribute("stroke", "#000");
      el("text", { x: 5 + i * bw + bw / 2, y: H - 4, "text-anchor": "middle", class: "tick" }).textContent = seq(p);
    });
    if (band) {
      for (const [v, cls, name] of [[band.min_households, "band", "下限 min"], [band.max_households, "band", "上限 max"]]) {
        el("line", { x1: 0, x2: W, y1: y(v), y2: y(v), class: cls });
        el("text", { x: W - 2, y: y(v) - 2, "text-anchor": "end", class: "tick" }).textContent = `${name} ${v}`;
      }
    }
    el("line", { x1: 0, x2: W, y1: y(target), y2: y(target), class: "target" });
    el("text", { x: 2, y: y(target) - 2, class: "tick" }).textContent = `目标 target ${Math.round(target)}`;
  }
  function renderProblems(list) {
    state.problems = new Set(list.map((p) => p.grid_code));
    const ul = $("problems");
    ul.replaceChildren();
    if (!list.length) ul.appendChild(text("li", "无 none"));
    list.forEach((p) => {
      const g = state.grids.get(p.grid_code);
      const li = text("li", `${g ? g.code : p.grid_code}：${p.text}`);
      li.dataset.kind = p.kind;
      li.dataset.code = p.grid_code;
      li.addEventListener("click", () => pickGrid(p.grid_code, false));
      ul.appendChild(li);
    });
  }
  function renderBrush() {
    const p = state.brush && state.grids.get(state.brush);
    $("brush").textContent = p ? `${p.code} · ${p.households} 户` : "—";
    $("brush-swatch").style.background = p ? p.color : "transparent";
  }
  function renderSplitCounts() {
    const sel = $("k");
    sel.replaceChildren();
    const one = state.selected.size === 1 ? state.grids.get([...state.selected][0]) : null;
    (one ? one.split_counts : []).forEach((k) => { const o = text("option", k); o.value = k; sel.appendChild(o); });
    $("split").disabled = !sel.options.length;
    $("fix").disabled = !(one && one.rule === "household_band" && (one.status === "under_min" || one.status === "over_max"));
  }
  function renderAll() {
    renderList(); renderChart(); renderBrush(); renderSplitCounts(); restyleOutlines();
  }
  function setHistory(data) {
    $("undo").disabled = !data.can_undo;
    $("redo").disabled = !data.can_redo;
  }
  function setGrids(list) {
    const before = new Map([...state.grids].map(([k, p]) => [k, p.color]));
    state.grids = new Map(list.map((p) => [p.grid_code, p]));
    state.order = list.map((p) => p.grid_code).sort((a, b) => state.grids.get(a).code.localeCompare(state.grids.get(b).code));
    [...state.labels.keys()].filter((k) => !state.grids.has(k)).forEach((k) => { labelLayer.removeLayer(state.labels.get(k)); state.labels.delete(k); });
    list.forEach(setLabel);
    // cells of grids whose colour changed (a recoloured neighbour) are restyled too
    const recolour = list.filter((p) => before.has(p.grid_code) && before.get(p.grid_code) !== p.color);
    recolour.forEach((p) => paintCells(state.gridCells.get(p.grid_code) || []));
    state.selected = new Set([...state.selected].filter((k) => state.grids.has(k)));
    if (state.brush && !state.grids.has(state.brush)) state.brush = null;
  }
  function moveCells(ids, keys) {
    ids.forEach((id, i) => {
      const from = state.cellGrid.get(id), to = keys[i];
      if (state.gridCells.has(from)) state.gridCells.get(from).delete(id);
      if (!state.gridCells.has(to)) state.gridCells.set(to, new Set());
      state.gridCells.get(to).add(id);
      state.cellGrid.set(id, to);
    });
  }

  // ---- choosing grids ------------------------------------------------------------------------
  function pickGrid(key, add) {
    if (!state.grids.has(key)) return;
    if (add) { if (state.selected.has(key)) state.selected.delete(key); else state.selected.add(key); }
    else { state.selected = new Set([key]); state.brush = key; }
    const i = state.order.indexOf(key);
    $("grid-list").setAttribute("aria-activedescendant", "grid-opt-" + i);
    cancelPreview();
    renderAll();
  }
  function setMode(mode) {
    state.mode = state.mode === mode ? null : mode;
    for (const id of ["paint", "box", "lasso"]) $(id).setAttribute("aria-pressed", String(state.mode === id));
    document.body.classList.toggle("painting", state.mode !== null);
    if (state.mode) map.dragging.disable(); else map.dragging.enable();
  }

  // ---- edits ---------------------------------------------------------------------------------
  function measure(t0, op) {
    requestAnimationFrame(() => performance.measure("gridmap:edit", { start: t0, end: performance.now(), detail: { op } }));
  }
  function applyAnswer(data) {
    if (data.village !== state.village) return;
    moveCells(data.cells[0], data.cells[1]);
    setGrids(data.grids);
    data.removed.forEach((k) => { const o = state.outlines.get(k); if (o) outlineLayer.removeLayer(o); state.outlines.delete(k); state.gridCells.delete(k); });
    data.changed.features.forEach(setOutline);
    paintCells(data.cells[0]);
    renderProblems(data.problems);
    renderAll();
  }
  async function edit(op, body, t0) {
    const start = t0 == null ? performance.now() : t0;
    document.body.dataset.busy = "1";
    try {
      const data = await api("POST", "/api/" + op, body);
      applyAnswer(data);
      setHistory(data);
      state.dirty = true;
      say(data.message + (data.warnings.length ? " " + data.warnings.join(" ") : ""));
      measure(start, op);
      return data;
    } catch (err) {
      if (err.status === 409 && err.data && err.data.field === "confirm") {
        state.pending = { op, body };
        const ul = $("warning-list");
        ul.replaceChildren();
        err.data.warnings.forEach((w) => ul.appendChild(text("li", w)));
        $("warnings").hidden = false;
        $("confirm-move").focus();
      } else {
        say(err.message, true);
      }
      return null;
    } finally {
      document.body.dataset.busy = "0";
      if (body && body.units) unpaint(body.units);  // the stroke's colours give way to the answer's
    }
  }
  function assign(ids, t0) {
    if (!state.brush) return say("先选画笔网格 Pick a grid as the brush first (click it or press its number).", true);
    const units = [...new Set(ids)].filter((id) => state.cellGrid.get(id) !== state.brush);
    unpaint(ids.filter((id) => state.cellGrid.get(id) === state.brush));
    if (!units.length) return null;
    return edit("move", { units, to: state.brush }, t0);
  }
  function cancelPending() {
    $("warnings").hidden = true;
    state.pending = null;
  }
  $("confirm-move").addEventListener("click", (e) => {
    const p = state.pending;
    cancelPending();
    if (p) edit(p.op, Object.assign({}, p.body, { confirm: true }), e.timeStamp);
  });
  $("cancel-move").addEventListener("click", () => { cancelPending(); say(""); });

  // paint: press on a cell and drag; each cell is coloured at once, one move is sent on release
  function stroke(id) {
    if (id == null || state.stroke.has(id)) return;
    state.stroke.add(id);
    state.painted.set(id, state.grids.get(state.brush).color);
    cells.repaint([id]);
  }
  map.on("click", (e) => {
    const id = state.mode ? null : cells.cellAt(e.latlng);
    if (id != null) pickGrid(state.cellGrid.get(id), e.originalEvent.shiftKey);
  });
  document.addEventListener("mouseup", (e) => {
    if (!state.stroke) return;
    const ids = [...state.stroke];
    state.stroke = null;
    assign(ids, e.timeStamp);
  });

  // box and lasso: cells whose inner point falls inside join the brush grid
  let dragStart = null, dragShape = null, lassoPts = [];
  function inside(pt, ring) {
    let hit = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const a = ring[i], b = ring[j];
      if ((a.lat > pt.lat) !== (b.lat > pt.lat) && pt.lng < ((b.lng - a.lng) * (pt.lat - a.lat)) / (b.lat - a.lat) + a.lng) hit = !hit;
    }
    return hit;
  }
  map.on("mousedown", (e) => {
    if (state.mode === "paint") {
      const id = cells.cellAt(e.latlng);
      if (id == null) return;
      if (!state.brush) { pickGrid(state.cellGrid.get(id), false); return; }
      state.stroke = new Set();
      stroke(id);
      return;
    }
    if (state.mode !== "box" && state.mode !== "lasso") return;
    dragStart = e.latlng;
    lassoPts = [e.latlng];
    dragShape = state.mode === "box"
      ? L.rectangle([e.latlng, e.latlng], { color: "#d00", weight: 1, fill: false, interactive: false }).addTo(map)
      : L.polyline([e.latlng], { color: "#d00", weight: 1, interactive: false }).addTo(map);
  });
  map.on("mousemove", (e) => {
    if (state.stroke) stroke(cells.cellAt(e.latlng));
    if (!dragStart) return;
    if (state.mode === "box") dragShape.setBounds(L.latLngBounds(dragStart, e.latlng));
    else { lassoPts.push(e.latlng); dragShape.setLatLngs(lassoPts); }
  });
  map.on("mouseup", (e) => {
    if (!dragStart) return;
    const bounds = L.latLngBounds(dragStart, e.latlng);
    const ring = lassoPts.concat([e.latlng]);
    const lasso = state.mode === "lasso";
    dragStart = null;
    map.removeLayer(dragShape);
    const ids = [];
    state.cellPoint.forEach((pt, id) => { if (lasso ? ring.length > 2 && inside(pt, ring) : bounds.contains(pt)) ids.push(id); });
    if (ids.length) assign(ids, e.originalEvent.timeStamp);
  });
  // gridmap:zoom — from the zoom's start to the redrawn frame (Leaflet's 0.25 s zoom animation included);
  // gridmap:redraw — from the end of the movement to the frame the canvas was redrawn in
  let zoomT0 = null, stopT0 = null;
  map.on("zoomstart movestart", () => { if (zoomT0 == null) zoomT0 = performance.now(); });
  map.on("zoomend", () => { stopT0 = performance.now(); });
  map.on("moveend", () => {
    const t0 = zoomT0, t1 = stopT0 == null ? performance.now() : stopT0;
    zoomT0 = stopT0 = null;
    requestAnimationFrame(() => {
      const end = performance.now();
      performance.measure("gridmap:redraw", { start: t1, end });
      if (t0 != null) performance.measure("gridmap:zoom", { start: t0, end });
    });
  });

  // ---- buttons -------------------------------------------------------------------------------
  $("paint").addEventListener("click", () => setMode("paint"));
  $("box").addEventListener("click", () => setMode("box"));
  $("lasso").addEventListener("click", () => setMode("lasso"));
  $("undo").addEventListener("click", (e) => edit("undo", {}, e.timeStamp));
  $("redo").addEventListener("click", (e) => edit("redo", {}, e.timeStamp));
  $("merge").addEventListener("click", (e) => {
    if (state.selected.size < 2) return say("合并需选至少两个相邻网格（Shift+点选）Select two or more neighbouring grids (Shift+click).", true);
    edit("merge", { grids: [...state.selected] }, e.timeStamp);
  });
  function cancelPreview() {
    if (!state.preview) return;
    const ids = [...state.preview.part.keys()];
    state.preview = null;
    paintCells(ids);
    $("split-accept").hidden = true;
  }
  // split and fix: the proposed parts are shown on the map first; Accept applies the same request
  async function preview(op, body, title) {
    try {
      const data = await api("POST", `/api/${op}_preview`, body);
      cancelPreview();
      const part = new Map();
      data.parts.forEach((ids, i) => ids.forEach((id) => part.set(id, i)));
      state.preview = { op, body, part };
      paintCells([...part.keys()]);
      $("split-accept").hidden = false;
      say(`${title}：${data.households.join(" / ")} 户 households — 确认 Accept / Esc`);
    } catch (err) { say(err.message, true); }
  }
  $("split").addEventListener("click", () => {
    preview("split", { grid: [...state.selected][0], k: parseInt($("k").value, 10) }, "拆分预览 split preview");
  });
  $("fix").addEventListener("click", () => preview("fix", { grid: [...state.selected][0] }, "修正预览 fix preview"));
  $("split-accept").addEventListener("click", async (e) => {
    const p = state.preview;
    if (!p) return;
    cancelPreview();
    const data = await edit(p.op, p.body, e.timeStamp);
    if (data) pickGrid(p.body.grid, false);
  });
  for (const [id, locked] of [["lock", true], ["unlock", false]]) {
    $(id).addEventListener("click", (e) => {
      if (!state.selected.size) return say("先选择网格 Select grids first.", true);
      edit("lock", { grids: [...state.selected], locked }, e.timeStamp);
    });
  }
  $("regenerate").addEventListener("click", (e) => edit("regenerate", { village: state.village }, e.timeStamp));
  $("village").addEventListener("change", (e) => setVillage(e.target.value, true));
  function fullPath(out) {
    if (!out) return "";
    return out.startsWith("/") || /^[A-Za-z]:[\\/]/.test(out) ? out : state.startDir.replace(/[\\/]$/, "") + "/" + out;
  }
  $("out").addEventListener("input", () => { $("out-full").textContent = fullPath($("out").value.trim()); $("overwrite").hidden = true; });
  async function save(overwrite) {
    const out = $("out").value.trim();
    if (!out) return say("请填写保存路径 Give a folder to save to.", true);
    $("overwrite").hidden = true;
    try {
      const data = await api("POST", "/api/save", { out, overwrite });
      state.dirty = false;
      $("out-full").textContent = data.out;
      say(data.message);
    } catch (err) {
      say(err.message, true);
      const r = err.data && err.data.reason;
      if (r && r.kind === "save_exists" && r.own) $("overwrite").hidden = false;
    }
  }
  $("save").addEventListener("click", () => save(false));
  $("overwrite").addEventListener("click", () => save(true));
  window.addEventListener("beforeunload", (e) => {
    if (!state.dirty) return;
    e.preventDefault();
    e.returnValue = "";
  });

  // ---- keyboard ------------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && !typing && (e.key === "z" || e.key === "Z")) {
      e.preventDefault();
      edit(e.shiftKey ? "redo" : "undo", {}, e.timeStamp);
    } else if (mod && !typing && e.key === "y") {
      e.preventDefault();
      edit("redo", {}, e.timeStamp);
    } else if (e.key === "Escape") {
      if (state.stroke) { const ids = [...state.stroke]; state.stroke = null; unpaint(ids); }
      else if (!$("warnings").hidden) cancelPending();
      else if (state.preview) cancelPreview();
      else if (state.mode) setMode(state.mode);
      say("");
    } else if (!typing && !mod && /^[1-9]$/.test(e.key)) {
      const key = state.order[parseInt(e.key, 10) - 1];
      if (key) pickGrid(key, false);
    } else if (!typing && !mod && (e.key === "p" || e.key === "P")) {
      setMode("paint");
    }
  });
  $("grid-list").addEventListener("keydown", (e) => {
    if (!["ArrowDown", "ArrowUp", "Enter", " "].includes(e.key) || !state.order.length) return;
    e.preventDefault();
    const ul = $("grid-list");
    const cur = ul.getAttribute("aria-activedescendant");
    let i = cur ? parseInt(cur.replace("grid-opt-", ""), 10) : -1;
    if (e.key === "ArrowDown") i = Math.min(state.order.length - 1, i + 1);
    else if (e.key === "ArrowUp") i = Math.max(0, i - 1);
    else return pickGrid(state.order[Math.max(0, i)], e.shiftKey || e.key === " ");
    ul.setAttribute("aria-activedescendant", "grid-opt-" + i);
    ul.querySelectorAll("li").forEach((li, j) => li.classList.toggle("active", j === i));
  });

  // ---- loading -------------------------------------------------------------------------------
  async function setVillage(code, zoom) {
    document.body.dataset.ready = "0";
    state.village = code;
    $("village").value = code;
    cancelPreview();
    state.selected.clear();
    state.brush = null;
    const q = "?village=" + encodeURIComponent(code);
    const [grids, units, probs, outline] = await Promise.all([
      api("GET", "/api/grids" + q), api("GET", "/api/units" + q), api("GET", "/api/problems" + q), api("GET", "/api/outline" + q),
    ]);
    outlineLayer.clearLayers(); labelLayer.clearLayers(); villageLayer.clearLayers();
    state.painted.clear(); state.cellGrid.clear(); state.cellPoint.clear(); state.gridCells.clear();
    state.outlines.clear(); state.labels.clear(); state.grids.clear();
    setGrids(grids.features.map((f) => f.properties));
    units.features.forEach((f) => {
      const p = f.properties;
      state.cellGrid.set(p.unit_id, p.grid_code);
      state.cellPoint.set(p.unit_id, L.latLng(p.lat, p.lng));
      if (!state.gridCells.has(p.grid_code)) state.gridCells.set(p.grid_code, new Set());
      state.gridCells.get(p.grid_code).add(p.unit_id);
    });
    cells.setCells(units.features);
    grids.features.forEach(setOutline);
    L.geoJSON(outline, { style: { fill: false, color: "#1a237e", weight: 4, opacity: 0.9 }, interactive: false, renderer }).addTo(villageLayer);
    renderProblems(probs.problems);
    renderAll();
    if (zoom && grids.features.length) map.fitBounds(L.geoJSON(grids).getBounds(), { animate: false });
    document.body.dataset.ready = "1";
  }

  async function start() {
    try {
      const info = await api("GET", "/api/villages");
      state.startDir = info.start_dir;
      $("out").placeholder = "edited";
      $("out-full").textContent = fullPath("edited");
      setHistory(info);
      info.villages.forEach((v) => {
        const opt = text("option", `${v.name} ${v.code} (${v.grids})`);
        opt.value = v.code;
        $("village").appendChild(opt);
      });
      if (info.pending) {
        // a log made for another version of the run can only be discarded
        $("resume-text").textContent = info.journal_refused || info.journal_text;
        $("resume-yes").hidden = Boolean(info.journal_refused);
        $("resume").hidden = false;
      }
      if (info.villages.length) await setVillage(info.villages[0].code, true);
      document.body.dataset.ready = "1";
    } catch (err) {
      say(err.message, true);
    }
  }
  $("resume-yes").addEventListener("click", async () => {
    $("resume").hidden = true;
    try {
      const data = await api("POST", "/api/resume", {});
      setHistory(data);
      state.dirty = data.resumed > 0;
      await setVillage(state.village, false);
      say(`已恢复 ${data.resumed} 项调整 ${data.resumed} edits restored.`);
    } catch (err) { say(err.message, true); }
  });
  $("resume-no").addEventListener("click", async () => {
    $("resume").hidden = true;
    await api("POST", "/api/discard", {});
  });
  window.gridmapEditor = { map, state, cellPixel: (id) => { const p = map.latLngToContainerPoint(state.cellPoint.get(id)); return [p.x, p.y]; } };
  start();
})();
