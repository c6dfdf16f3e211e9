// gridmap editor page: every text from the run is set with textContent, never as HTML.
"use strict";
(function () {
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const UNIT_ZOOM = 14;
  const $ = (id) => document.getElementById(id);
  const state = {
    village: null, grids: new Map(), gridLayers: new Map(),
    units: new Map(), unitLayers: new Map(), selUnits: new Set(), selGrids: new Set(), box: false, mode: null, pendingMove: null,
    lastChanged: [],
  };

  const map = L.map("map", { boxZoom: false, preferCanvas: false }).setView([31.2, 121.5], 13);
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19, attribution: "© OpenStreetMap contributors",
  }).addTo(map);
  const gridLayer = L.geoJSON(null, { style: gridStyle, onEachFeature: onGrid }).addTo(map);
  const unitLayer = L.geoJSON(null, { style: unitStyle, onEachFeature: onUnit });

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

  function gridColor(p) {
    return p.color || "#999";  // the server colours grids exactly as map.html does
  }
  function gridStyle(f) {
    const sel = state.selGrids.has(f.properties.grid_code);
    return {
      fillColor: gridColor(f.properties), color: sel ? "#000" : "#333", weight: sel ? 3 : 1,
      fillOpacity: 0.45, dashArray: f.properties.locked ? "4 3" : null,
      className: "gridmap-grid grid-" + f.properties.grid_code,
    };
  }
  function unitStyle(f) {
    const sel = state.selUnits.has(f.properties.unit_id);
    return {
      color: sel ? "#d00" : "#555", weight: sel ? 2.5 : 0.5, fillColor: sel ? "#ff0" : "#fff",
      fillOpacity: sel ? 0.6 : 0.05, className: "gridmap-unit unit-" + f.properties.unit_id,
    };
  }
  function tip(lines) {
    const div = document.createElement("div");
    lines.forEach((l) => div.appendChild(text("div", l)));
    return div;
  }
  function onGrid(f, layer) {
    const p = f.properties;
    state.gridLayers.set(p.grid_code, layer);
    layer.bindTooltip(() => tip([`网格 grid ${p.grid_code}`, `户数 households ${p.households}`]), { sticky: true });
    layer.on("click", (e) => {
      if (state.box) return;
      L.DomEvent.stopPropagation(e);
      selectGrid(p.grid_code, e.originalEvent.shiftKey);
      if (p.village_code !== state.village) setVillage(p.village_code, false);
    });
  }
  function onUnit(f, layer) {
    const p = f.properties;
    state.unitLayers.set(p.unit_id, layer);
    layer.bindTooltip(() => tip([p.label, `户数 households ${p.households}`, `网格 grid ${p.grid_code}`]), { sticky: true });
    layer.on("click", (e) => {
      if (state.box) return;
      L.DomEvent.stopPropagation(e);
      selectUnit(p.unit_id, e.originalEvent.shiftKey);
    });
  }

  function selectUnit(id, add) {
    if (!add) { state.selUnits.clear(); state.selGrids.clear(); state.lastChanged = []; }
    if (state.selUnits.has(id) && add) state.selUnits.delete(id); else state.selUnits.add(id);
    refreshSelection();
  }
  function selectGrid(code, add) {
    if (!add) { state.selGrids.clear(); state.selUnits.clear(); state.lastChanged = []; }
    if (state.selGrids.has(code) && add) state.selGrids.delete(code); else state.selGrids.add(code);
    refreshSelection();
  }
  function chosenGrids() {  // what split/lock act on: selected grids and the grids of selected units
    const codes = new Set(state.selGrids);
    state.selUnits.forEach((id) => { const u = state.units.get(id); if (u) codes.add(u.grid_code); });
    return [...codes].filter((c) => state.grids.has(c));
  }
  function focusGrids() {
    const codes = new Set(state.selGrids);
    state.lastChanged.forEach((c) => codes.add(c));
    state.selUnits.forEach((id) => { const u = state.units.get(id); if (u) codes.add(u.grid_code); });
    const target = $("move-to").value;
    if (state.selUnits.size && target) codes.add(target);
    return [...codes].filter((c) => state.grids.has(c));
  }
  function refreshSelection() {
    gridLayer.setStyle(gridStyle);
    unitLayer.setStyle(unitStyle);
    $("sel-units").textContent = String(state.selUnits.size);
    document.querySelectorAll("#grid-list li").forEach((li) => li.classList.toggle("selected", state.selGrids.has(li.dataset.code)));
    renderFigures();
  }
  function renderFigures() {
    const body = document.querySelector("#figures tbody");
    body.replaceChildren();
    let total = 0;
    focusGrids().forEach((code) => {
      const p = state.grids.get(code);
      const tr = document.createElement("tr");
      tr.dataset.code = code;
      const band = p.rule === "household_band" && p.grid_type === "base" ? ` (${p.min_households}-${p.max_households})` : "";
      tr.appendChild(text("td", code));
      tr.appendChild(text("td", p.households, "households"));
      tr.appendChild(text("td", Math.round(p.population || 0)));
      tr.appendChild(text("td", p.status + band, "status"));
      tr.appendChild(text("td", (p.compactness || 0).toFixed(2)));
      tr.appendChild(text("td", p.locked ? "🔒" : ""));
      body.appendChild(tr);
      total += p.households;
    });
    $("sel-households").textContent = String(total);
  }
  function renderGridList() {
    const ul = $("grid-list");
    ul.replaceChildren();
    const sel = $("move-to");
    const keep = sel.value;
    sel.replaceChildren();
    [...state.grids.values()].filter((p) => p.village_code === state.village)
      .sort((a, b) => a.grid_code.localeCompare(b.grid_code)).forEach((p) => {
        const li = document.createElement("li");
        li.dataset.code = p.grid_code;
        const dot = text("span", "", "status-dot");
        dot.style.background = gridColor(p);
        li.appendChild(dot);
        li.appendChild(text("span", `${p.grid_code} · ${p.households} 户 · ${p.status}${p.locked ? " · 锁 locked" : ""}`));
        li.addEventListener("click", (e) => selectGrid(p.grid_code, e.shiftKey));
        ul.appendChild(li);
        const opt = text("option", p.grid_code);
        opt.value = p.grid_code;
        sel.appendChild(opt);
      });
    if (keep && state.grids.has(keep)) sel.value = keep;
  }
  function renderProblems(list) {
    const ul = $("problems");
    ul.replaceChildren();
    if (!list.length) ul.appendChild(text("li", "无 none"));
    list.forEach((p) => {
      const li = text("li", `${p.label}: ${p.message}`);
      li.dataset.kind = p.kind;
      li.addEventListener("click", () => selectGrid(p.grid_code, false));
      ul.appendChild(li);
    });
  }
  function setHistory(data) {
    $("undo").disabled = !data.can_undo;
    $("redo").disabled = !data.can_redo;
  }

  function putGrids(fc) {
    fc.features.forEach((f) => {
      const code = f.properties.grid_code;
      const old = state.gridLayers.get(code);
      if (old) { gridLayer.removeLayer(old); state.gridLayers.delete(code); }
      state.grids.set(code, f.properties);
      gridLayer.addData(f);
    });
  }
  function removeGrids(codes) {
    codes.forEach((code) => {
      const old = state.gridLayers.get(code);
      if (old) gridLayer.removeLayer(old);
      state.gridLayers.delete(code);
      state.grids.delete(code);
      state.selGrids.delete(code);
    });
  }
  async function loadUnits() {
    const fc = await api("GET", "/api/units?village=" + encodeURIComponent(state.village));
    unitLayer.clearLayers();
    state.units.clear();
    state.unitLayers.clear();
    fc.features.forEach((f) => state.units.set(f.properties.unit_id, f.properties));
    unitLayer.addData(fc);
    showUnits();
  }
  function showUnits() {
    const on = map.getZoom() >= UNIT_ZOOM;
    if (on && !map.hasLayer(unitLayer)) unitLayer.addTo(map);
    if (!on && map.hasLayer(unitLayer)) map.removeLayer(unitLayer);
  }
  async function setVillage(code, zoom) {
    state.village = code;
    $("village").value = code;
    const [probs] = await Promise.all([api("GET", "/api/problems?village=" + encodeURIComponent(code)), loadUnits()]);
    renderProblems(probs.problems);
    renderGridList();
    refreshSelection();
    if (zoom) {
      const layers = [...state.gridLayers.entries()].filter(([c]) => state.grids.get(c).village_code === code).map(([, l]) => l);
      if (layers.length) map.fitBounds(L.featureGroup(layers).getBounds());
    }
  }

  async function edit(op, body) {
    document.body.dataset.busy = "1";
    try {
      const data = await api("POST", "/api/" + op, body);
      removeGrids(data.removed);
      putGrids(data.changed);
      renderProblems(data.problems);
      setHistory(data);
      if (data.village && data.village !== state.village) await setVillage(data.village, false);
      else await loadUnits();
      state.selUnits = new Set([...state.selUnits].filter((id) => state.units.has(id)));
      state.lastChanged = data.changed.features.map((f) => f.properties.grid_code);
      renderGridList();
      refreshSelection();
      say(`${op}: ${data.changed.features.map((f) => f.properties.grid_code).join(", ")}` +
        (data.warnings.length ? " — " + data.warnings.join(" ") : ""));
      return data;
    } catch (err) {
      if (err.status === 409 && err.data && err.data.field === "confirm") {
        state.pendingMove = body;
        $("warning-list").textContent = err.data.warnings.join(" ");
        $("warnings").hidden = false;
        say("需要确认 This move needs confirmation.", true);
      } else {
        say(err.message, true);
      }
      return null;
    } finally {
      document.body.dataset.busy = "0";
    }
  }

  $("move").addEventListener("click", () => {
    const to = $("move-to").value;
    if (!state.selUnits.size) return say("先选择单元 Select units on the map first.", true);
    edit("move", { units: [...state.selUnits], to });
  });
  $("confirm-move").addEventListener("click", () => {
    $("warnings").hidden = true;
    if (state.pendingMove) edit("move", Object.assign({}, state.pendingMove, { confirm: true }));
    state.pendingMove = null;
  });
  $("cancel-move").addEventListener("click", () => { $("warnings").hidden = true; state.pendingMove = null; say(""); });
  $("merge").addEventListener("click", () => {
    const grids = [...state.selGrids];
    if (grids.length !== 2) return say("合并需选两个网格 Select exactly two grids to merge.", true);
    edit("merge", { grids });
  });
  $("split").addEventListener("click", () => {
    const grids = chosenGrids();
    if (grids.length !== 1) return say("拆分需选一个网格 Select one grid to split.", true);
    edit("split", { grid: grids[0], k: parseInt($("k").value, 10) || 2 });
  });
  for (const [id, locked] of [["lock", true], ["unlock", false]]) {
    $(id).addEventListener("click", () => {
      const grids = chosenGrids();
      if (!grids.length) return say("先选择网格 Select grids first.", true);
      edit("lock", { grids, locked });
    });
  }
  $("regenerate").addEventListener("click", () => edit("regenerate", { village: state.village }));
  $("undo").addEventListener("click", () => edit("undo", {}));
  $("redo").addEventListener("click", () => edit("redo", {}));
  $("clear").addEventListener("click", () => { state.selUnits.clear(); state.selGrids.clear(); state.lastChanged = []; refreshSelection(); });
  $("move-to").addEventListener("change", renderFigures);
  $("village").addEventListener("change", (e) => setVillage(e.target.value, true));
  $("save").addEventListener("click", async () => {
    const out = $("out").value.trim();
    if (!out) return say("请填写保存路径 Give a folder to save to.", true);
    try {
      const data = await api("POST", "/api/save", { out });
      say(`已保存 Saved: ${data.out} (${data.grids} grids, ${data.edits} edits)`);
    } catch (err) {
      say(err.message, true);
    }
  });

  // box and lasso select: drag on the map; units whose centre falls inside join the selection
  let dragStart = null, dragShape = null, lassoPts = [];
  const modeButtons = { box: ["框选 Box select", "框选中 Box on"], lasso: ["套索 Lasso", "套索中 Lasso on"] };
  function setMode(mode) {
    state.mode = state.mode === mode ? null : mode;
    state.box = state.mode !== null;
    document.body.classList.toggle("box-active", state.box);
    for (const [id, [off, on]] of Object.entries(modeButtons)) $(id).textContent = state.mode === id ? on : off;
    if (state.box) map.dragging.disable(); else map.dragging.enable();
  }
  $("box").addEventListener("click", () => setMode("box"));
  $("lasso").addEventListener("click", () => setMode("lasso"));
  function inside(pt, ring) {  // ray casting in lat/lng (small areas: plane is fine)
    let hit = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const a = ring[i], b = ring[j];
      if ((a.lat > pt.lat) !== (b.lat > pt.lat) && pt.lng < ((b.lng - a.lng) * (pt.lat - a.lat)) / (b.lat - a.lat) + a.lng) hit = !hit;
    }
    return hit;
  }
  map.on("mousedown", (e) => {
    if (!state.mode) return;
    dragStart = e.latlng;
    lassoPts = [e.latlng];
    dragShape = state.mode === "box"
      ? L.rectangle([e.latlng, e.latlng], { color: "#d00", weight: 1, fill: false, interactive: false }).addTo(map)
      : L.polyline([e.latlng], { color: "#d00", weight: 1, interactive: false }).addTo(map);
  });
  map.on("mousemove", (e) => {
    if (!dragStart || !dragShape) return;
    if (state.mode === "box") dragShape.setBounds(L.latLngBounds(dragStart, e.latlng));
    else { lassoPts.push(e.latlng); dragShape.setLatLngs(lassoPts); }
  });
  map.on("mouseup", (e) => {
    if (!dragStart) return;
    const bounds = L.latLngBounds(dragStart, e.latlng);
    const ring = lassoPts.concat([e.latlng]);
    const lasso = state.mode === "lasso";
    dragStart = null;
    if (dragShape) { map.removeLayer(dragShape); dragShape = null; }
    state.unitLayers.forEach((layer, id) => {
      const c = layer.getBounds().getCenter();
      if (lasso ? ring.length > 2 && inside(c, ring) : bounds.contains(c)) state.selUnits.add(id);
    });
    refreshSelection();
  });
  map.on("zoomend", showUnits);

  async function start() {
    try {
      const info = await api("GET", "/api/villages");
      setHistory(info);
      const sel = $("village");
      info.villages.forEach((v) => {
        const opt = text("option", `${v.name} ${v.code} (${v.grids})`);
        opt.value = v.code;
        sel.appendChild(opt);
      });
      const fc = await api("GET", "/api/grids");
      putGrids(fc);
      if (fc.features.length) map.fitBounds(gridLayer.getBounds());
      if (info.villages.length) await setVillage(info.villages[0].code, true);
      document.body.dataset.ready = "1";
    } catch (err) {
      say(err.message, true);
    }
  }
  start();
})();
