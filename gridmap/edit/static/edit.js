// gridmap editor page: every text from the run is set with textContent, never as HTML.
// Cells are drawn on one canvas; an edit answer carries only the cells that changed grid and the
// village's grid figures, so only those cells are restyled (no reload of the village).
"use strict";
(function () {
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const state = {
    village: null, grids: new Map(), order: [], outlines: new Map(), labels: new Map(),
    cellLayers: new Map(), cellGrid: new Map(), cellPoint: new Map(), gridCells: new Map(),
    selected: new Set(), brush: null, mode: null, stroke: null, pending: null, preview: null,
    problems: new Set(), dirty: false, saved: null,
  };
  const renderer = L.canvas({ padding: 0.3, tolerance: 0 });
  const map = L.map("map", { boxZoom: false, keyboard: false, renderer }).setView([31.2, 121.5], 13);
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19, attribution: "© OpenStreetMap",
  }).addTo(map);
  map.attributionControl.setPrefix(false);
  const cellLayer = L.layerGroup().addTo(map);
  const outlineLayer = L.layerGroup().addTo(map);
  const villageLayer = L.layerGroup().addTo(map);
  const labelLayer = L.layerGroup().addTo(map);

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
  function cellStyle(id) {
    const g = state.grids.get(state.cellGrid.get(id));
    let fill = g ? g.color : "#999";
    if (state.preview && state.preview.part.has(id)) fill = PREVIEW[state.preview.part.get(id) % PREVIEW.length];
    return { fillColor: fill, fillOpacity: 0.55, color: "#ffffff", weight: 0.4, opacity: 0.8 };
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
  function paintCells(ids) {
    ids.forEach((id) => { const l = state.cellLayers.get(id); if (l) l.setStyle(cellStyle(id)); });
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
      if (body && body.units) paintCells(body.units);  // the optimistic colours go back
      return null;
    } finally {
      document.body.dataset.busy = "0";
    }
  }
  function assign(ids, t0) {
    if (!state.brush) return say("先选画笔网格 Pick a grid as the brush first (click it or press its number).", true);
    const units = [...new Set(ids)].filter((id) => state.cellGrid.get(id) !== state.brush);
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
  function onCell(layer, id) {
    layer.on("mousedown", (e) => {
      if (state.mode !== "paint") return;
      L.DomEvent.stop(e.originalEvent);
      if (!state.brush) { pickGrid(state.cellGrid.get(id), false); return; }
      state.stroke = new Set([id]);
      layer.setStyle({ fillColor: state.grids.get(state.brush).color });
    });
    layer.on("mouseover", () => {
      if (!state.stroke || state.stroke.has(id)) return;
      state.stroke.add(id);
      layer.setStyle({ fillColor: state.grids.get(state.brush).color });
    });
    layer.on("click", (e) => {
      if (state.mode) return;
      pickGrid(state.cellGrid.get(id), e.originalEvent.shiftKey);
    });
  }
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
    if (state.mode !== "box" && state.mode !== "lasso") return;
    dragStart = e.latlng;
    lassoPts = [e.latlng];
    dragShape = state.mode === "box"
      ? L.rectangle([e.latlng, e.latlng], { color: "#d00", weight: 1, fill: false, interactive: false }).addTo(map)
      : L.polyline([e.latlng], { color: "#d00", weight: 1, interactive: false }).addTo(map);
  });
  map.on("mousemove", (e) => {
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
      if (state.stroke) { const ids = [...state.stroke]; state.stroke = null; paintCells(ids); }
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
    cellLayer.clearLayers(); outlineLayer.clearLayers(); labelLayer.clearLayers(); villageLayer.clearLayers();
    state.cellLayers.clear(); state.cellGrid.clear(); state.cellPoint.clear(); state.gridCells.clear();
    state.outlines.clear(); state.labels.clear(); state.grids.clear();
    setGrids(grids.features.map((f) => f.properties));
    units.features.forEach((f) => {
      const p = f.properties;
      state.cellGrid.set(p.unit_id, p.grid_code);
      state.cellPoint.set(p.unit_id, L.latLng(p.lat, p.lng));
      if (!state.gridCells.has(p.grid_code)) state.gridCells.set(p.grid_code, new Set());
      state.gridCells.get(p.grid_code).add(p.unit_id);
    });
    L.geoJSON(units, {
      renderer, style: (f) => cellStyle(f.properties.unit_id),
      onEachFeature: (f, layer) => { state.cellLayers.set(f.properties.unit_id, layer); onCell(layer, f.properties.unit_id); },
    }).addTo(cellLayer);
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
