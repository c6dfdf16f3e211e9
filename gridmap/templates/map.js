/* gridmap map page: layers, popups, labels, search and legend over a Leaflet map made by folium.
 * Every value from the data is inserted with textContent / DOM nodes, never as HTML.
 * `gridmapPage(map)` is called with folium's map object; layers added later (folium, geopandas) sit on top. */
function gridmapPage(map) {
  'use strict';
  var D = JSON.parse(document.getElementById('gridmap-data').textContent);
  var EN = D.lang === 'en';
  var UI = D.ui;
  document.documentElement.lang = EN ? 'en' : 'zh-CN';

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function pick(pair) { return EN ? pair[1] : pair[0]; }
  function both(pair) { return EN ? pair[1] + ' · ' + pair[0] : pair[0] + ' ' + pair[1]; }
  function fmtInt(x) { return (x === null || x === undefined) ? '–' : Math.round(x).toLocaleString('en-US'); }
  function fmtArea(m2) {
    if (m2 === null || m2 === undefined) return '–';
    return m2 < 10000 ? fmtInt(m2) + ' m²' : (m2 / 10000).toFixed(2) + ' 公顷 ha';
  }

  /* ---- base map: one datum per page; a notice and the inputs' context layers when no tile loads ---- */
  var bases = {}, overlays = {}, tileLoads = 0, tileErrors = 0;
  var notice = el('div', 'gm-notice');
  notice.id = 'gridmap-notice';
  notice.setAttribute('role', 'status');
  notice.style.display = 'none';
  map.getContainer().appendChild(notice);
  function showNotice(key) {
    notice.textContent = both(UI[key]);
    notice.style.display = '';
    contextOn();
  }
  var EMPTY = 'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';
  var InlineTiles = L.TileLayer.extend({  /* a local MBTiles file: its tiles travel inside the page */
    getTileUrl: function (c) { return D.inline_tiles[c.z + '/' + c.x + '/' + c.y] || EMPTY; }
  });
  D.tiles.forEach(function (t) {
    var opts = {attribution: t.attr, subdomains: t.subdomains || 'abc', maxZoom: 20, maxNativeZoom: t.maxZoom, minNativeZoom: t.minZoom};
    var local = !/^https?:\/\//.test(t.url);
    var layer = local ? new InlineTiles('', opts) : L.tileLayer(t.url, opts);
    layer.on('tileload', function () { tileLoads++; if (notice.style.display === '') notice.style.display = 'none'; });
    layer.on('tileerror', function () { tileErrors++; if (!tileLoads) showNotice('offline'); });
    if (t.overlay) overlays[t.name] = layer; else bases[t.name] = layer;
    if (t.show) layer.addTo(map);
  });

  /* ---- grids: popups and tooltips built from DOM nodes ---- */
  var ROWS = [
    ['village', function (p) { return p.vn ? p.vn + ' (' + p.v + ')' : p.v; }],
    ['type', function (p) { return pick(p.tl); }],
    ['rule', function (p) { return pick(p.rl); }],
    ['households', function (p) { return fmtInt(p.h); }],
    ['population', function (p) { return p.p === null ? null : fmtInt(p.p); }],
    ['area', function (p) { return fmtArea(p.a); }],
    ['compactness', function (p) { return p.k === null ? null : p.k.toFixed(2); }],
    ['walk_m', function (p) { return p.wm === null || p.wm === undefined ? null : fmtInt(p.wm) + ' m'; }],
    ['worker', function (p) { return p.wk || null; }],
    ['status', function (p) { return pick(p.sl); }],
    ['flag', function (p) { return p.fl ? pick(p.fl) : null; }],
    ['note', function (p) { return p.n ? pick(p.n) : null; }],
    ['note_other', function (p) { return p.n && p.n[0] !== p.n[1] ? (EN ? p.n[0] : p.n[1]) : null; }]
  ];
  function popupNode(p) {
    var box = el('div', 'gm-popup');
    box.appendChild(el('div', 'gm-popup-title', p.c));
    var tb = el('table');
    ROWS.forEach(function (r) {
      var v = r[1](p);
      if (v === null || v === undefined || v === '') return;
      var tr = el('tr');
      tr.appendChild(el('th', null, both(UI[r[0]])));
      tr.appendChild(el('td', null, v));
      tb.appendChild(tr);
    });
    box.appendChild(tb);
    return box;
  }
  function tipNode(p) {
    var box = el('div', 'gm-tip');
    box.appendChild(el('b', null, p.c));
    box.appendChild(el('div', null, both(UI.households) + ': ' + fmtInt(p.h)));
    return box;
  }
  var byCode = {};
  function gridLayer(styleFn, cls) {
    return L.geoJSON(D.grids, {
      style: function (f) { var s = styleFn(f.properties); s.className = cls; return s; },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindPopup(function () { return popupNode(p); }, {maxWidth: 420});
        layer.bindTooltip(function () { return tipNode(p); }, {sticky: true, direction: 'top'});
        layer.on('mouseover', function () { layer.setStyle({weight: 3, color: '#000'}); });
        layer.on('mouseout', function () { layer.setStyle({weight: styleFn(p).weight, color: styleFn(p).color}); });
        (byCode[p.c] = byCode[p.c] || []).push(layer);
      }
    });
  }
  /* ---- the inputs under the grids: roads and rivers (barriers), exclusive areas ---- */
  function contextLayer(kind, style) {
    return L.geoJSON({type: 'FeatureCollection', features: D.context.features.filter(function (f) { return f.properties.k === kind; })}, {
      interactive: false, style: function () { return style; }
    });
  }
  var barrierLayer = contextLayer('barrier', {color: '#3a5f8a', weight: 2, opacity: 0.8, className: 'gridmap-barrier'});
  var exclusiveLayer = contextLayer('exclusive', {color: '#b35806', weight: 1.5, dashArray: '3 3', fill: false, className: 'gridmap-exclusive'});
  var contextShown = false;
  function contextOn() {
    if (contextShown) return;
    contextShown = true;
    barrierLayer.addTo(map);
    exclusiveLayer.addTo(map);
    barrierLayer.bringToBack();
    exclusiveLayer.bringToBack();
  }

  var statusLayer = gridLayer(function (p) {
    return {fillColor: p.sc, color: '#333', weight: 1, fillOpacity: 0.45};
  }, 'gridmap-grid');
  var distinctLayer = gridLayer(function (p) {
    return {fillColor: p.dc, color: '#333', weight: 1, fillOpacity: 0.6};
  }, 'gridmap-distinct');
  var choroLayer = gridLayer(function (p) {
    return {fillColor: p.cc, color: '#555', weight: 0.5, fillOpacity: 0.7};
  }, 'gridmap-choro');
  ({status: statusLayer, distinct: distinctLayer, households: choroLayer})[D.colors].addTo(map);
  /* one choropleth per measure the rules limit or balance (minors, population, …) */
  var measureLayers = D.legend.measures.map(function (m, j) {
    return gridLayer(function (p) {
      return {fillColor: p.mc[j], color: '#555', weight: 0.5, fillOpacity: 0.7};
    }, 'gridmap-measure');
  });
  if (!D.tiles.length) showNotice('no_basemap');
  var villageLayer = L.geoJSON(D.villages, {
    interactive: false,
    style: function () { return {fill: false, color: '#222', weight: 2.5, dashArray: '6 4'}; }
  }).addTo(map);

  /* ---- labels: villages' names and grid codes by zoom, the ones that would overlap are left out ---- */
  var gridLabels = L.layerGroup().addTo(map);
  var villageLabels = L.layerGroup().addTo(map);
  function labelMarker(latlng, text, cls) {
    return L.marker(latlng, {
      interactive: false, keyboard: false,
      icon: L.divIcon({html: el('span', cls, text), className: 'gm-label-icon', iconSize: null})
    });
  }
  function textWidth(s) {
    var w = 0;
    for (var i = 0; i < s.length; i++) w += s.charCodeAt(i) > 0x2e80 ? 13 : 7.5;
    return w + 6;
  }
  function drawLabels() {
    gridLabels.clearLayers();
    villageLabels.clearLayers();
    var z = map.getZoom(), view = map.getBounds().pad(0.1), taken = [];
    function place(latlng, text, h, group, cls) {
      if (!view.contains(latlng)) return;
      var pt = map.latLngToLayerPoint(latlng), w = textWidth(text);
      var box = [pt.x - w / 2, pt.y - h / 2, pt.x + w / 2, pt.y + h / 2];
      for (var i = 0; i < taken.length; i++) {
        var o = taken[i];
        if (box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3]) return;
      }
      taken.push(box);
      group.addLayer(labelMarker(latlng, text, cls));
    }
    if (map.hasLayer(villageLabels) && z >= D.zoom.village_min && z <= D.zoom.village_max) {
      D.villages.features.forEach(function (f) {
        var p = f.properties;
        if (p.lp) place(p.lp, p.name || p.code, 18, villageLabels, 'gm-vlabel');
      });
    }
    if (map.hasLayer(gridLabels) && z >= D.zoom.seq) {
      var full = z >= D.zoom.full;
      D.order.forEach(function (i) {
        var p = D.grids.features[i].properties;
        if (p.lp) place(p.lp, full ? p.c : p.c.slice(-3), 14, gridLabels, 'gm-label');
      });
    }
  }

  /* ---- addresses: one marker per address at street zoom, in view only ---- */
  var addrLayer = L.layerGroup();
  var A = D.addresses;
  function addrNode(i) {
    var box = el('div', 'gm-popup');
    var tb = el('table');
    [['households', fmtInt(A.h[i])], ['building', A.b[i]], ['group', A.gr[i]], ['grid_code', A.g[i]]].forEach(function (r) {
      if (r[1] === null || r[1] === undefined || r[1] === '') return;
      var tr = el('tr');
      tr.appendChild(el('th', null, both(UI[r[0]])));
      tr.appendChild(el('td', null, r[1]));
      tb.appendChild(tr);
    });
    box.appendChild(tb);
    return box;
  }
  function drawAddresses() {
    addrLayer.clearLayers();
    if (!map.hasLayer(addrLayer) || map.getZoom() < D.zoom.addresses) return;
    var b = map.getBounds(), n = 0;
    for (var i = 0; i < A.lat.length && n < D.zoom.max_address_markers; i++) {
      if (!b.contains([A.lat[i], A.lon[i]])) continue;
      n++;
      (function (k) {
        L.circleMarker([A.lat[k], A.lon[k]], {radius: 4, color: '#1f3a93', weight: 1, fillColor: '#fff', fillOpacity: 0.9, className: 'gridmap-address'})
          .bindPopup(function () { return addrNode(k); })
          .addTo(addrLayer);
      })(i);
    }
  }

  /* ---- addresses outside every boundary: shown by default, so they are not missed ---- */
  var O = D.outside, outsideLayer = L.layerGroup();
  for (var oi = 0; oi < O.lat.length; oi++) {
    (function (k) {
      L.circleMarker([O.lat[k], O.lon[k]], {radius: 6, color: '#b10026', weight: 2, fillColor: '#fff', fillOpacity: 0.6, className: 'gridmap-outside'})
        .bindPopup(function () {
          var box = el('div', 'gm-popup');
          box.appendChild(el('div', 'gm-popup-title', O.ref[k]));
          box.appendChild(el('div', null, both(UI.outside_note)));
          return box;
        })
        .addTo(outsideLayer);
    })(oi);
  }
  if (O.lat.length) outsideLayer.addTo(map);

  /* ---- walks (service point → farthest household) and worker areas ---- */
  var walkLayer = L.layerGroup();
  L.geoJSON(D.walks, {
    style: function () { return {color: '#6a3d9a', weight: 3, dashArray: '6 4', className: 'gridmap-walk'}; },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindTooltip(function () {
        var box = el('div', 'gm-tip');
        box.appendChild(el('b', null, p.c));
        box.appendChild(el('div', null, both(UI.walk_m) + ': ' + fmtInt(p.m) + ' m'));
        return box;
      }, {sticky: true});
      var start = f.geometry.coordinates[0];
      L.circleMarker([start[1], start[0]], {radius: 5, color: '#6a3d9a', weight: 2, fillColor: '#fff', fillOpacity: 1, className: 'gridmap-service'}).addTo(walkLayer);
    }
  }).addTo(walkLayer);
  var workerLayer = L.geoJSON(D.workers, {
    style: function () { return {fill: false, color: '#e7298a', weight: 3.5, className: 'gridmap-worker'}; },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindTooltip(function () {
        var box = el('div', 'gm-tip');
        box.appendChild(el('b', null, p.w));
        [['grids', fmtInt(p.n)], ['households', fmtInt(p.h)], ['load', p.l === null ? '–' : p.l.toFixed(2)]].forEach(function (r) {
          box.appendChild(el('div', null, both(UI[r[0]]) + ': ' + r[1]));
        });
        return box;
      }, {sticky: true});
    }
  });
  if (D.workers.features.length) workerLayer.addTo(map);

  overlays[both(UI.layer_status)] = statusLayer;
  overlays[both(UI.layer_distinct)] = distinctLayer;
  overlays[both(UI.layer_choro)] = choroLayer;
  D.legend.measures.forEach(function (m, j) {
    // the layers control sets its names as HTML: a column name is user text, so it goes in escaped
    var name = (both(UI.layer_measure) + ' ' + m.name).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
    overlays[name] = measureLayers[j];
  });
  if (D.context.features.some(function (f) { return f.properties.k === 'barrier'; })) overlays[both(UI.layer_barriers)] = barrierLayer;
  if (D.context.features.some(function (f) { return f.properties.k === 'exclusive'; })) overlays[both(UI.layer_exclusive)] = exclusiveLayer;
  if (D.walks.features.length) overlays[both(UI.layer_walks)] = walkLayer;
  if (D.workers.features.length) overlays[both(UI.layer_workers)] = workerLayer;
  overlays[both(UI.layer_villages)] = villageLayer;
  overlays[both(UI.layer_village_names)] = villageLabels;
  overlays[both(UI.layer_codes)] = gridLabels;
  overlays[both(UI.layer_addresses)] = addrLayer;
  if (O.lat.length) overlays[both(UI.layer_outside) + ' (' + O.lat.length + ')'] = outsideLayer;
  L.control.layers(Object.keys(bases).length > 1 ? bases : {}, overlays, {collapsed: true}).addTo(map);
  L.control.scale({imperial: false, metric: true}).addTo(map);

  /* ---- legend for the visible layers ---- */
  var legend = L.control({position: 'bottomright'});
  legend.onAdd = function () {
    this._div = el('div', 'gm-legend');
    this._div.id = 'gridmap-legend';
    L.DomEvent.disableScrollPropagation(this._div);
    L.DomEvent.disableClickPropagation(this._div);
    return this._div;
  };
  function swatch(color, text, sub) {
    var row = el('div', 'gm-legend-row');
    var s = el('span', 'gm-swatch');
    s.style.background = color;
    row.appendChild(s);
    row.appendChild(el('span', null, text));
    if (sub) row.appendChild(el('div', 'gm-legend-sub', sub));
    return row;
  }
  var legendOpen = true;
  function drawLegend() {
    var div = legend._div;
    while (div.firstChild) div.removeChild(div.firstChild);
    var toggle = el('div', 'gm-legend-toggle', (legendOpen ? '▾ ' : '▸ ') + both(UI.legend));
    toggle.addEventListener('click', function () { legendOpen = !legendOpen; drawLegend(); });
    div.appendChild(toggle);
    if (!legendOpen) return;
    if (map.hasLayer(statusLayer)) {
      div.appendChild(el('b', null, both(UI.legend_status)));
      D.legend.status.forEach(function (s) { div.appendChild(swatch(s.color, both(s.label), pick(s.rule))); });
    }
    if (map.hasLayer(choroLayer)) {
      div.appendChild(el('b', null, both(UI.legend_choro)));
      D.legend.choro.forEach(function (c) { div.appendChild(swatch(c.color, c.label)); });
    }
    D.legend.measures.forEach(function (m, j) {
      if (!map.hasLayer(measureLayers[j])) return;
      div.appendChild(el('b', null, m.name + (m.limit ? ' (' + both(UI.limit) + ' ' + m.limit + ')' : '')));
      m.rows.forEach(function (c) { div.appendChild(swatch(c.color, c.label)); });
    });
    [[barrierLayer, 'layer_barriers', '#3a5f8a', 'solid'], [exclusiveLayer, 'layer_exclusive', '#b35806', 'dashed'], [walkLayer, 'layer_walks', '#6a3d9a', 'dashed'], [workerLayer, 'layer_workers', '#e7298a', 'solid']].forEach(function (c) {
      if (!map.hasLayer(c[0]) || !c[0].getLayers().length) return;
      var line = swatch('transparent', both(UI[c[1]]));
      line.firstChild.style.border = 'none';
      line.firstChild.style.borderTop = '2px ' + c[3] + ' ' + c[2];
      line.firstChild.style.height = '0';
      div.appendChild(line);
    });
    if (map.hasLayer(outsideLayer)) {
      var row = swatch('#fff', both(UI.layer_outside) + ': ' + O.lat.length);
      row.firstChild.style.border = '2px solid #b10026';
      row.firstChild.style.borderRadius = '50%';
      div.appendChild(row);
    }
    if (map.hasLayer(addrLayer) && map.getZoom() < D.zoom.addresses) {
      div.appendChild(el('div', 'gm-legend-sub', both(UI.zoom_for_addresses)));
    }
    div.style.display = div.childNodes.length > 1 ? '' : 'none';
  }
  legend.addTo(map);

  /* ---- search: grid codes and village/community names or codes ---- */
  var highlight = L.layerGroup().addTo(map);
  function gridLayerFor(code) {
    var ls = byCode[code] || [];
    for (var i = 0; i < ls.length; i++) if (map.hasLayer(ls[i])) return ls[i];
    if (ls.length && !map.hasLayer(statusLayer) && !map.hasLayer(distinctLayer) && !map.hasLayer(choroLayer)) {
      statusLayer.addTo(map);
      return ls[0];
    }
    return ls[0];
  }
  function selectGrid(code) {
    var layer = gridLayerFor(code);
    if (!layer) return false;
    highlight.clearLayers();
    map.fitBounds(layer.getBounds(), {maxZoom: 17, padding: [40, 40], animate: false});
    var p = layer.feature.properties;
    layer.openPopup(p.lp ? L.latLng(p.lp[0], p.lp[1]) : layer.getBounds().getCenter());
    return true;
  }
  function selectVillage(f) {
    highlight.clearLayers();
    var outline = L.geoJSON(f, {interactive: false, style: function () { return {fill: false, color: '#00b7ff', weight: 5}; }});
    outline.addTo(highlight);
    map.closePopup();
    map.fitBounds(outline.getBounds(), {padding: [30, 30], animate: false});
  }
  /* a query is words of a village name, a grid number (1–3 digits: the last three digits of the code)
   * and/or a code (4+ digits: part of a village or grid code): "梅园一村 002", "梅园一村002", "3702…" */
  function queryTokens(q) {
    var out = [];
    q.toLowerCase().split(/[\s,，、·]+/).forEach(function (t) {
      if (!t) return;
      var m = /^(.*\D)(\d{1,3})$/.exec(t);
      if (m) { out.push(m[1]); out.push(m[2]); } else out.push(t);
    });
    return out;
  }
  function tokenMatches(t, name, code, seq) {
    if (!/^\d+$/.test(t)) return name.toLowerCase().indexOf(t) >= 0;
    if (t.length <= 3) return seq !== null && seq === ('000' + t).slice(-3);
    return code.indexOf(t) >= 0;
  }
  function results(q) {
    var out = [], whole = q.trim().toLowerCase();
    if (!whole) return out;
    var toks = queryTokens(whole);
    var hasNumber = toks.some(function (t) { return /^\d{1,3}$/.test(t); });
    D.villages.features.forEach(function (f) {
      var p = f.properties, name = p.name || '';
      if (out.length >= 8) return;
      var whole_match = name.toLowerCase().indexOf(whole) >= 0 || (/^\d{4,}$/.test(whole) && p.code.indexOf(whole) === 0);
      var tok_match = !hasNumber && toks.every(function (t) { return tokenMatches(t, name, p.code, null); });
      if (whole_match || tok_match) out.push({text: name + ' · ' + p.code, go: function () { selectVillage(f); }});
    });
    D.grids.features.forEach(function (f) {
      var p = f.properties;
      if (out.length >= 16) return;
      var seq = p.c.slice(-3), ok;
      if (/^\d{4,}$/.test(whole)) ok = p.c.indexOf(whole) >= 0;
      else ok = hasNumber && toks.every(function (t) { return tokenMatches(t, p.vn || '', p.c, seq); });
      if (ok) out.push({text: p.c + ' · ' + (p.vn || '') + ' ' + seq, go: function () { selectGrid(p.c); }});
    });
    return out;
  }
  var search = L.control({position: 'topleft'});
  search.onAdd = function () {
    var box = el('div', 'gm-search leaflet-bar');
    var input = el('input', 'gm-search-input');
    input.type = 'search';
    input.placeholder = both(UI.search);
    var list = el('ul', 'gm-search-results');
    box.appendChild(input);
    box.appendChild(list);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    function show() {
      while (list.firstChild) list.removeChild(list.firstChild);
      var found = results(input.value);
      found.forEach(function (r, i) {
        var li = el('li', 'gm-search-item' + (i === 0 ? ' gm-first' : ''), r.text);
        li.addEventListener('click', function () { r.go(); list.style.display = 'none'; });
        list.appendChild(li);
      });
      if (!found.length && input.value.trim()) list.appendChild(el('li', 'gm-search-empty', both(UI.no_results)));
      list.style.display = list.firstChild ? 'block' : 'none';
    }
    input.addEventListener('input', show);
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { var r = results(input.value); if (r.length) { r[0].go(); list.style.display = 'none'; } }
    });
    return box;
  };
  search.addTo(map);
  /* first in the keyboard order: Tab from the page reaches the map, then the search box (grids follow) */
  var corner = search.getContainer().parentNode;
  corner.insertBefore(search.getContainer(), corner.firstChild);
  var controls = map.getContainer().querySelector('.leaflet-control-container');
  map.getContainer().insertBefore(controls, map.getContainer().firstChild);

  map.on('zoomend moveend overlayadd overlayremove', function () { drawLabels(); drawAddresses(); drawLegend(); });
  map.fitBounds(D.bounds, {animate: false});
  drawLabels();
  drawLegend();
  function fromHash() {
    var m = /^#grid=(.+)$/.exec(window.location.hash);
    if (m) selectGrid(decodeURIComponent(m[1]));
  }
  window.addEventListener('hashchange', fromHash);
  fromHash();
  window.gridmap = {map: map, statusLayer: statusLayer, distinctLayer: distinctLayer, choroLayer: choroLayer, selectGrid: selectGrid, search: results};
}
