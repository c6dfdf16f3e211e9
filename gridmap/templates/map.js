/* gridmap map page: layers, popups, labels, search and legend over Leaflet.
 * Every value from the data is inserted with textContent / DOM nodes, never as HTML. */
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('gridmap-data').textContent);
  var EN = D.lang === 'en';
  var UI = D.ui;

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

  var map = L.map('map', {zoomControl: true});
  var bases = {}, overlays = {};
  D.tiles.forEach(function (t) {
    var layer = L.tileLayer(t.url, {attribution: t.attr, subdomains: t.subdomains, maxZoom: 20, maxNativeZoom: t.maxZoom});
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
  var statusLayer = gridLayer(function (p) {
    return {fillColor: p.sc, color: '#333', weight: 1, fillOpacity: 0.45};
  }, 'gridmap-grid').addTo(map);
  var choroLayer = gridLayer(function (p) {
    return {fillColor: p.cc, color: '#555', weight: 0.5, fillOpacity: 0.7};
  }, 'gridmap-choro');
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

  overlays[both(UI.layer_status)] = statusLayer;
  overlays[both(UI.layer_choro)] = choroLayer;
  overlays[both(UI.layer_villages)] = villageLayer;
  overlays[both(UI.layer_village_names)] = villageLabels;
  overlays[both(UI.layer_codes)] = gridLabels;
  overlays[both(UI.layer_addresses)] = addrLayer;
  if (O.lat.length) overlays[both(UI.layer_outside) + ' (' + O.lat.length + ')'] = outsideLayer;
  L.control.layers(bases, overlays, {collapsed: true}).addTo(map);
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
    if (ls.length && !map.hasLayer(statusLayer)) { statusLayer.addTo(map); return ls[0]; }
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
    function results(q) {
      var out = [];
      q = q.trim().toLowerCase();
      if (!q) return out;
      D.villages.features.forEach(function (f) {
        var p = f.properties;
        if (out.length < 8 && ((p.name || '').toLowerCase().indexOf(q) >= 0 || p.code.indexOf(q) === 0)) {
          out.push({text: (p.name || '') + ' · ' + p.code, go: function () { selectVillage(f); }});
        }
      });
      D.grids.features.forEach(function (f) {
        var p = f.properties;
        if (out.length < 16 && p.c.toLowerCase().indexOf(q) >= 0) {
          out.push({text: p.c + ' · ' + (p.vn || ''), go: function () { selectGrid(p.c); }});
        }
      });
      return out;
    }
    function show() {
      while (list.firstChild) list.removeChild(list.firstChild);
      results(input.value).forEach(function (r, i) {
        var li = el('li', 'gm-search-item' + (i === 0 ? ' gm-first' : ''), r.text);
        li.addEventListener('click', function () { r.go(); list.style.display = 'none'; });
        list.appendChild(li);
      });
      list.style.display = list.firstChild ? 'block' : 'none';
    }
    input.addEventListener('input', show);
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { var r = results(input.value); if (r.length) { r[0].go(); list.style.display = 'none'; } }
    });
    return box;
  };
  search.addTo(map);

  map.on('zoomend moveend overlayadd overlayremove', function () { drawLabels(); drawAddresses(); drawLegend(); });
  map.fitBounds(D.bounds);
  drawLabels();
  drawLegend();
  function fromHash() {
    var m = /^#grid=(.+)$/.exec(window.location.hash);
    if (m) selectGrid(decodeURIComponent(m[1]));
  }
  window.addEventListener('hashchange', fromHash);
  fromHash();
  window.gridmap = {map: map, statusLayer: statusLayer, choroLayer: choroLayer, selectGrid: selectGrid};
})();
