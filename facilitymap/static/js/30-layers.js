/* Part 30: the site layers of payload.layers (layers.resolve): each site's marker in its layer's colour, its
 * outline in an outline layer, drawing the shown sites into the folium layer groups (one per layer, keyed by the
 * layer id), and the legend. Earlier layers are drawn above later ones; outlines above every point. */
(function (app) {
  "use strict";
  const { h, has, link, safeUrl } = app;

  /* The legend entry's text: the spec's label for the value, else the value; with `withField`, an undeclared
     value is named with its field ("<field label>: <value>"). */
  app.entryLabel = function (layer, entry, withField) {
    const v = entry[0], labels = layer.labels || {};
    if (v !== null && Object.prototype.hasOwnProperty.call(labels, v)) return labels[v];
    if (v === null) return layer.missing_label || "Not given";
    return withField ? app.label(layer.color_by) + ": " + v : String(v);
  };

  app.siteColour = function (s) {
    const layer = app.layers[s.layer];
    if (!layer) return "#4d4d4d";
    if (!layer.color_by) return layer.color;
    return s.cls !== null && layer.legend[s.cls] ? layer.legend[s.cls][1] : layer.missing_color;
  };

  /* The groups of point layers, bottom first (the last layer of the list), then the outline layers. */
  function stackOrder() {
    const groups = app.groups, points = [], outlines = [];
    app.layers.forEach((layer) => {
      const g = groups[layer.id];
      if (!g) return;
      if (layer.geometry === "outlines") outlines.push(g); else points.unshift(g);
    });
    return points.concat(outlines);
  }

  /* A group turned on in the layer control goes to the top of the canvas: put every group back in its place. */
  function restack() {
    if (app.drawing) return;
    stackOrder().forEach((g) => {
      if (app.map.hasLayer(g)) g.eachLayer((l) => { if (l.bringToFront) l.bringToFront(); });
    });
  }

  /* Every site's marker and outline, on one canvas renderer; tooltips and clicks per group. */
  app.initLayers = function () {
    const map = app.map, groups = app.groups;
    /* One tooltip and one click handler per group (not per site): cheap with tens of thousands of sites. */
    const siteOf = (layer) => (layer && layer._fmSite) || null;
    app.layers.forEach((layer) => {
      const g = groups[layer.id];
      if (!g) return;
      g.bindTooltip((l) => {
        const s = siteOf(l);
        return h("span", { className: "fm-tip", text: s ? s.title : "" });
      }, layer.geometry === "outlines" ? { sticky: true } : { direction: "top", offset: [0, -4] });
      g.on("click", (e) => {
        const s = siteOf(e.sourceTarget || e.layer);
        if (s) app.openSite(s.id, { from: "map" });
      });
      g.on("add", restack);
    });

    /* One canvas for every vector layer (as folium's preferCanvas gives), so clicks reach every layer. */
    const renderer = new app.SpriteCanvas();
    map.options.renderer = renderer;
    app.sites.forEach((s) => {
      let lat = Number(s.p.lat), lon = Number(s.p.lon);
      if ((!isFinite(lat) || !isFinite(lon) || s.p.lat === null) && s.f.geometry && s.f.geometry.type === "Point") {
        lon = s.f.geometry.coordinates[0];
        lat = s.f.geometry.coordinates[1];
      }
      const layer = app.layers[s.layer];
      if (isFinite(lat) && isFinite(lon) && lat !== null) {
        s.latlng = L.latLng(lat, lon);
        s.marker = L.circleMarker(s.latlng, {
          renderer: renderer,
          radius: (layer && layer.radius) || 6,
          color: "#1b1f24", weight: 1, opacity: 0.9,
          fillColor: app.siteColour(s), fillOpacity: 0.95
        });
        s.marker._fmSite = s;
      }
      const g = s.f.geometry, ol = app.layers[s.outlineLayer];
      if (ol && g && (g.type === "Polygon" || g.type === "MultiPolygon")) {
        s.outline = L.geoJSON(g, {
          renderer: renderer,
          style: { color: ol.color, weight: 2, opacity: 0.95, fillColor: ol.color, fillOpacity: 0.12 }
        });
        s.outline._fmSite = s;
        s.outline.eachLayer((l) => { l._fmSite = s; });
      }
    });

    /* Canvas order within a layer: later legend entries on top (e.g. the highest class); sites of one colour
       keep their order; sites without a value at the bottom. */
    const rank = (s) => (s.cls === null || (app.layers[s.layer] || {}).legend[s.cls][0] === null ? -1 : s.cls);
    app.drawOrder = app.sites.slice().sort((a, b) => rank(a) - rank(b) || a.i - b.i);
  };

  /* Draw the sites app.matches lets through; returns how many are drawn (and sets data-site-count). */
  app.draw = function () {
    const map = app.map, order = stackOrder();
    /* Take each group off the map while it is refilled, so the canvas is redrawn once, not per site. */
    const onMap = order.map((g) => map.hasLayer(g));
    app.drawing = true;
    order.forEach((g, k) => {
      if (onMap[k]) map.removeLayer(g);
      g.clearLayers();
    });
    app.visible = app.sites.filter((s) => { s.shown = app.matches(s); return s.shown; });
    let drawn = 0;
    app.drawOrder.forEach((s) => {
      if (!s.shown) return;
      let placed = false;
      const layer = app.layers[s.layer], ol = app.layers[s.outlineLayer];
      if (s.marker && layer) { app.groups[layer.id].addLayer(s.marker); placed = true; }
      if (s.outline && ol) { app.groups[ol.id].addLayer(s.outline); placed = true; }
      if (placed) drawn += 1;
    });
    order.forEach((g, k) => { if (onMap[k]) map.addLayer(g); });
    app.drawing = false;
    document.documentElement.dataset.siteCount = String(drawn);
    return drawn;
  };

  /* The site's layer, class and place, under the panel title: [[value, ...] per part], values from the data. */
  function subtitleParts(s) {
    const p = s.p, parts = [], layer = app.layers[s.layer];
    if (layer) {
      parts.push([layer.title]);
      if (layer.color_by && s.cls !== null && layer.legend[s.cls]) parts.push([app.entryLabel(layer, layer.legend[s.cls], true)]);
    }
    const place = [p.county, p.prefecture || p.region].filter(has);
    if (place.length) parts.push(place);
    return parts;
  }

  /* As text (for tooltips and tests). */
  app.siteSubtitle = (s) => subtitleParts(s).map((vs) => vs.join(", ")).join(" \u00b7 ");

  /* As nodes: each value in its own <bdi>, so a right-to-left mark in a county cannot reorder the line. */
  app.siteSubtitleNodes = function (s) {
    const out = [];
    subtitleParts(s).forEach((vs, i) => {
      if (i) out.push(" \u00b7 ");
      app.joined(vs, ", ").forEach((n) => { out.push(n); });
    });
    return out;
  };

  /* "Reading the map": the spec's `about` text, else a sentence per layer; nodes for a <p> (spec text in <bdi>). */
  app.aboutLayers = function () {
    if (app.meta.about) return [app.bdi(app.meta.about)];
    const out = [];
    app.layers.filter((l) => l.count).forEach((l, i) => {
      if (i) out.push(" ");
      out.push(app.bdi(l.title));
      if (l.geometry === "outlines") out.push(": outlines of sites.");
      else if (l.color_by) out.push(": coloured by ", app.bdi(app.label(l.color_by)), ".");
      else out.push(".");
      if (l.note) out.push(" ", app.bdi(l.note));
      if (!l.visible) out.push(" (Off at start; turn it on in the layer control.)");
    });
    return out;
  };

  function swatch(colour, text, cls) {
    /* Set through the CSSOM: the page's Content-Security-Policy allows no style attribute. */
    const sw = h("span", { className: "fm-swatch" + (cls ? " " + cls : ""), "aria-hidden": "true" });
    if (cls) sw.style.borderColor = colour; else sw.style.background = colour;
    return h("li", null, [sw].concat(text));
  }

  /* A layer's legend section: its title, its entries (value, colour, count), its note and sources. */
  function legendSection(layer, first) {
    const parts = [];
    if (layer.geometry === "outlines") {
      return [h("ul", null, [swatch(layer.color, [app.bdi(layer.title)], "fm-swatch-outline")])];
    }
    const entries = layer.color_by ? layer.legend.filter((e) => e[2] > 0).map((e) => swatch(e[1], [app.bdi(app.entryLabel(layer, e)), " (" + e[2] + ")"]))
      : [swatch(layer.color, [app.bdi(layer.title)])];
    const ul = h("ul", null, entries);
    let note = null;
    if (layer.note || layer.sources.length) {
      note = h("p", null, layer.note ? [app.bdi(layer.note), " "] : []);
      const srcs = layer.sources.map((slug) => app.sourceBySlug.get(slug)).filter(Boolean);
      if (srcs.length) {
        note.appendChild(document.createTextNode(srcs.length === 1 ? "Source: " : "Sources: "));
        srcs.forEach((s, i) => {
          if (i) note.appendChild(document.createTextNode(", "));
          note.appendChild(safeUrl(s.citation_url) ? link(s.citation_url, s.title || s.slug) : h("span", { text: s.title || s.slug }));
        });
      }
    }
    if (!layer.color_by) return [ul];
    const title = () => [app.bdi(layer.title), layer.visible ? "" : " (layer off at start)"];
    if (first) return [h("h2", null, title()), ul, note];
    /* Long lists fold away so the legend does not cover the map. */
    const sub = h("details", { className: "fm-legend-sub" }, [h("summary", null, title().concat([": " + layer.count + " sites"])), ul, note]);
    if (layer.visible && entries.length <= 4) sub.open = true;
    parts.push(sub);
    return parts;
  }

  app.initLegend = function () {
    const Legend = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd: function () {
        const det = h("details", { className: "fm-legend leaflet-control" });
        if (window.innerWidth >= 640) det.open = true;
        det.appendChild(h("summary", { text: "Legend" }));
        const b = h("div", { className: "fm-legend-body" });
        let first = true;
        app.layers.forEach((layer) => {
          if (!layer.count) return;
          legendSection(layer, first && !!layer.color_by).forEach((el) => { if (el) b.appendChild(el); });
          if (layer.color_by) first = false;
        });
        if (app.claimMarkers) {
          b.appendChild(h("ul", null, [h("li", null, [h("span", { className: "fm-swatch fm-swatch-claim", "aria-hidden": "true" }), "Finding with citations (dashed: about an area)"])]));
        }
        app.hooks.legend.forEach((fn) => fn(b));
        det.appendChild(b);
        L.DomEvent.disableClickPropagation(det);
        L.DomEvent.disableScrollPropagation(det);
        return det;
      }
    });
    new Legend().addTo(app.map);
  };
})(window.FacilityMap);
