/* facilitymap page script.
 * Draws the sites of the JSON payload into the folium layer groups and builds every panel.
 * Untrusted text only ever reaches the DOM through textContent / attribute properties; only http(s) URLs
 * become links. No network request is made here.
 */
(function () {
  "use strict";

  var TIER_COLOURS = { "1": "#fdd49e", "2": "#fc8d59", "3": "#d7301f", "4": "#7f0000" };
  var NO_TIER = "#9aa3ad";
  var STATUS_COLOURS = ["#e7298a", "#6a3d9a", "#a6761d", "#f4a6c8", "#8c564b", "#bcbd22", "#cab2d6", "#ff7f00"];
  var DAMAGE_COLOURS = ["#e5f5e0", "#a1d99b", "#74c476", "#31a354", "#006d2c"];
  var OTHER_COLOUR = "#4d4d4d";
  var OUTLINE_COLOUR = "#c2185b";
  var HIGHLIGHT = "#00e5ff";
  var KEY_FIELDS = ["tier", "status", "damage_index", "county", "prefecture", "latest_imagery"];
  var NAME_FIELDS = ["name", "name_en", "name_zh", "name_ug"];
  var SITE_GROUPS = ["detention", "buzzfeed", "other", "outlines", "cultural"];
  var CLAIM_COLOUR = "#4a148c";
  var TILE_COLOUR = "#0d47a1";

  /* ---------- small DOM helpers ---------- */

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") el.textContent = String(v);
        else if (k === "className") el.className = v;
        else if (k === "onclick") el.addEventListener("click", v);
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === "") return;
      el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return el;
  }

  function safeUrl(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      var u = new URL(url);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  /* A link when the URL is http(s); otherwise the text (and the URL, shown as text). */
  function link(url, text) {
    var ok = safeUrl(url);
    if (!ok) return h("span", { text: text || url || "" });
    return h("a", { href: ok, target: "_blank", rel: "noopener noreferrer", text: text || url });
  }

  function show(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function norm(s) {
    return show(s).normalize("NFKC").toLocaleLowerCase();
  }

  function has(v) {
    return v !== null && v !== undefined && v !== "";
  }

  /* ---------- the app ---------- */

  var FM = {};
  window.FacilityMap = FM;

  /* Leaflet's canvas draws every circle as a path, filled and stroked (anti-aliased) one by one; with 20,000
     circles in view each pan ended in a 100 ms redraw, mostly rasterising those paths. This renderer draws each
     circle marker style once into a small sprite (the same fill and stroke, by the same canvas calls) and then
     stamps the sprite at every circle of that style, in Leaflet's drawing order: the same picture, with each
     circle centred on a whole pixel. Other shapes (outlines) are drawn as Leaflet draws them. */
  var SpriteCanvas = L.Canvas.extend({
    _sprite: function (layer, r) {
      var o = layer.options;
      var key = r + "|" + o.fill + "|" + (o.fillColor || o.color) + "|" + o.fillOpacity + "|" + o.stroke + "|" +
        o.color + "|" + o.weight + "|" + o.opacity;
      var sprites = this._sprites || (this._sprites = {});
      var sp = sprites[key];
      if (sp) return sp;
      var m = L.Browser.retina ? 2 : 1, half = r + Math.ceil((o.stroke ? o.weight : 0) / 2) + 1;
      var c = document.createElement("canvas");
      c.width = c.height = 2 * half * m;
      var ctx = c.getContext("2d");
      ctx.scale(m, m);
      ctx.beginPath();
      ctx.arc(half, half, r, 0, Math.PI * 2, false);
      L.Canvas.prototype._fillStroke.call(this, ctx, layer);
      sp = sprites[key] = { canvas: c, half: half };
      return sp;
    },
    _stampable: function (layer) {
      var r = Math.max(Math.round(layer._radius), 1);
      return (Math.max(Math.round(layer._radiusY), 1) || r) === r && !layer.options.dashArray;
    },
    _stamp: function (ctx, layer) {
      var p = layer._point, sp = this._sprite(layer, Math.max(Math.round(layer._radius), 1));
      ctx.globalAlpha = 1;
      ctx.drawImage(sp.canvas, Math.round(p.x) - sp.half, Math.round(p.y) - sp.half, 2 * sp.half, 2 * sp.half);
    },
    _updateCircle: function (layer) {
      if (!this._drawing || layer._empty()) return;
      if (!this._stampable(layer)) L.Canvas.prototype._updateCircle.call(this, layer);
      else this._stamp(this._ctx, layer);
    },

    /* Panning moves the map but not the circles relative to each other: the circles drawn first (the leading run
       of circle markers in Leaflet's drawing order: the sites) are stamped once into a cached image when it stays
       under CACHE_PIXELS, and every redraw copies that image, then draws the layers after the run (outlines,
       highlights, findings) as before. Any added, removed, restyled or reordered layer, a new zoom or pixel
       origin rebuilds it; without a cache the circles are stamped one by one. */
    _requestRedraw: function (layer) {
      this._fmDirty = true;
      L.Canvas.prototype._requestRedraw.call(this, layer);
    },
    _initPath: function (layer) {
      this._fmDirty = true;
      L.Canvas.prototype._initPath.call(this, layer);
    },
    _circleCache: function () {
      var map = this._map, zoom = map.getZoom(), origin = map.getPixelOrigin(), c = this._fmCache;
      if (c && !this._fmDirty && c.zoom === zoom && c.origin.equals(origin)) return c.canvas ? c : null;
      this._fmDirty = false;
      c = this._fmCache = { zoom: zoom, origin: origin, canvas: null, circles: [], after: null };
      var min = null, max = null, order;
      for (order = this._drawFirst; order; order = order.next) {
        var layer = order.layer;
        if (!(layer instanceof L.CircleMarker) || !this._stampable(layer) || !layer._pxBounds) break;
        c.circles.push(layer);
        var b = layer._pxBounds;
        min = min ? L.point(Math.min(min.x, b.min.x), Math.min(min.y, b.min.y)) : b.min;
        max = max ? L.point(Math.max(max.x, b.max.x), Math.max(max.y, b.max.y)) : b.max;
      }
      c.after = order;
      if (!c.circles.length) return null;
      var m = L.Browser.retina ? 2 : 1, pad = 4;
      c.x = Math.floor(min.x) - pad;
      c.y = Math.floor(min.y) - pad;
      c.w = Math.ceil(max.x) + pad - c.x;
      c.h = Math.ceil(max.y) + pad - c.y;
      if (c.w * c.h * m * m > CACHE_PIXELS) return null;
      var canvas = document.createElement("canvas");
      canvas.width = c.w * m;
      canvas.height = c.h * m;
      var ctx = canvas.getContext("2d");
      ctx.scale(m, m);
      ctx.translate(-c.x, -c.y);
      for (var i = 0; i < c.circles.length; i++) this._stamp(ctx, c.circles[i]);
      c.canvas = canvas;
      return c;
    },
    _draw: function () {
      var cache = this._circleCache();
      if (!cache) { L.Canvas.prototype._draw.call(this); return; }
      var layer, bounds = this._redrawBounds, ctx = this._ctx;
      ctx.save();
      if (bounds) {
        var size = bounds.getSize();
        ctx.beginPath();
        ctx.rect(bounds.min.x, bounds.min.y, size.x, size.y);
        ctx.clip();
      }
      ctx.globalAlpha = 1;
      ctx.drawImage(cache.canvas, cache.x, cache.y, cache.w, cache.h);
      this._drawing = true;
      for (var order = cache.after; order; order = order.next) {
        layer = order.layer;
        if (!bounds || (layer._pxBounds && layer._pxBounds.intersects(bounds))) layer._updatePath();
      }
      this._drawing = false;
      ctx.restore();
    }
  });
  var CACHE_PIXELS = 8e6;

  FM.init = function (map, cfg) {
    var data = cfg.data || {};
    var groups = cfg.groups;
    var fields = data.fields || {};
    var meta = data.map || {};
    var sources = data.sources || [];
    var sourceBySlug = {};
    sources.forEach(function (s) { sourceBySlug[s.slug] = s; });
    var claims = data.claims || [];
    var claimById = {};
    claims.forEach(function (c) { claimById[c.id] = c; });
    function label(field) {
      return (fields[field] && fields[field].label) || field;
    }
    function sourceShort(slug) {
      var s = sourceBySlug[slug];
      if (!s) return slug;
      var pub = String(s.publisher || "").split(";")[0].trim();
      var m = /^([^(]+?)\s*\(([^()]+)\)/.exec(pub);
      if (m) return /^[A-Z][A-Za-z0-9&.-]{1,9}$/.test(m[2]) ? m[2] : m[1];
      return pub || s.title || slug;
    }
    function isSource(slug, prefix) { return typeof slug === "string" && slug.indexOf(prefix) === 0; }

    /* ----- sites ----- */

    /* The sites as render.page_sites writes them: a row of core properties per site, parsed now; the rest of
       a site (attributes, records, disagreements, imagery...) sits in fm-detail-<n> blocks parsed when a panel
       first needs them. */
    var SD = data.sites || {};
    var col = {};
    (SD.cols || []).forEach(function (c, k) { col[c] = k; });
    var CORE = (SD.cols || []).filter(function (c) { return c.charAt(0) !== "_"; });
    var slugs = SD.slugs || [];
    var chunk = SD.chunk || 1;
    var detailChunks = {};

    var statuses = [];
    var sites = (SD.rows || []).map(function (row, i) {
      var p = {};
      CORE.forEach(function (c) { p[c] = row[col[c]]; });
      var src = (row[col._src] || []).map(function (k) { return slugs[k]; });
      var g = row[col._geom];
      var geometry = g === 0 ? null : g === null || g === undefined ? { type: "Point", coordinates: [p.lon, p.lat] } : g;
      var cat;
      if (p.kind === "cultural") cat = "cultural";
      else if (src.some(function (slug) { return isSource(slug, "aspi"); }) || has(p.tier)) cat = "detention";
      else if (src.length && src.every(function (slug) { return isSource(slug, "buzzfeed"); })) cat = "buzzfeed";
      else cat = "other";
      if (has(p.status) && statuses.indexOf(String(p.status)) < 0) statuses.push(String(p.status));
      var text = [p.name, p.name_en, p.name_zh, p.name_ug, p.county, p.prefecture, p.site_id].concat(row[col._alt] || []);
      return {
        i: i, id: String(p.site_id), p: p, f: { geometry: geometry }, cat: cat, damage: row[col._damage],
        title: p.name || p.name_en || String(p.site_id),  // the reconciled name (priority source) first
        search: text.filter(has).map(norm).join("\n"),
        sources: src
      };
    });

    /* A value [value, record index] stands for {value, source, record_id} of that record. */
    function expandAttributes(attrs, recs) {
      var out = {};
      Object.keys(attrs).forEach(function (k) {
        out[k] = Array.isArray(attrs[k]) ? attrs[k].map(function (a) {
          if (!Array.isArray(a)) return a;
          var r = recs[a[1]] || {};
          return { value: a[0], source: r.source, record_id: r.record_id };
        }) : attrs[k];
      });
      return out;
    }

    /* The site's whole properties (as in sites.geojson), parsing its detail block the first time. */
    function fullSite(s) {
      if (s.full) return s.p;
      var n = Math.floor(s.i / chunk);
      if (!detailChunks[n]) {
        var el = document.getElementById("fm-detail-" + n);
        detailChunks[n] = el ? JSON.parse(el.textContent) : [];
      }
      var d = detailChunks[n][s.i % chunk] || {}, p = s.p;
      Object.keys(d).forEach(function (k) {
        if (k === "~absent") d[k].forEach(function (c) { delete p[c]; });
        else if (k === "~feature") s.feature = d[k];
        else if (k === "attributes" && d[k] && typeof d[k] === "object") p[k] = expandAttributes(d[k], d.records || []);
        else if (k === "imagery" && d[k] && d[k].links && !Array.isArray(d[k].links) && typeof d[k].links === "object") {
          p[k] = Object.assign({}, d[k], { links: fillLinks(SD.links, p.lon, p.lat, d[k].links.t) });
        } else p[k] = d[k];
      });
      s.full = true;
      return p;
    }
    FM.parsedDetailBlocks = function () { return Object.keys(detailChunks).map(Number).sort(); };
    FM.siteFeature = function (id) {
      var s = siteById[id];
      if (!s) return null;
      return Object.assign({ type: "Feature", properties: fullSite(s), geometry: s.f.geometry }, s.feature || {});
    };

    statuses.sort();
    var siteById = {};
    sites.forEach(function (s) { siteById[s.id] = s; });

    var KNOWN_STATUS = { "corroborated": "#2166ac", "probably closed": "#92c5de", "closed": "#17becf" };
    function statusColour(st) {
      if (KNOWN_STATUS[String(st)]) return KNOWN_STATUS[String(st)];
      var i = statuses.indexOf(String(st));
      return i < 0 ? NO_TIER : STATUS_COLOURS[i % STATUS_COLOURS.length];
    }
    function colour(s) {
      if (s.cat === "detention") return TIER_COLOURS[String(s.p.tier)] || NO_TIER;
      if (s.cat === "buzzfeed") return statusColour(s.p.status);
      if (s.cat === "cultural") {
        var d = parseInt(s.damage, 10);
        return d >= 0 && d < DAMAGE_COLOURS.length ? DAMAGE_COLOURS[d] : NO_TIER;
      }
      return OTHER_COLOUR;
    }

    /* One tooltip and one click handler per group (not per site): cheap with tens of thousands of sites. */
    function siteOf(layer) {
      return (layer && layer._fmSite) || null;
    }
    SITE_GROUPS.forEach(function (k) {
      groups[k].bindTooltip(function (layer) {
        var s = siteOf(layer);
        return h("span", { className: "fm-tip", text: s ? s.title : "" });
      }, k === "outlines" ? { sticky: true } : { direction: "top", offset: [0, -4] });
      groups[k].on("click", function (e) {
        var s = siteOf(e.sourceTarget || e.layer);
        if (s) openSite(s.id, { from: "map" });
      });
    });

    /* Cultural sites are drawn beneath the others (same canvas, so they stay clickable): turning them on
       never hides a facility. */
    groups.cultural.on("add", function () {
      groups.cultural.eachLayer(function (l) { l.bringToBack(); });
    });

    /* One canvas for every vector layer (as folium's preferCanvas gives), so clicks reach every layer. */
    var siteRenderer = new SpriteCanvas();
    map.options.renderer = siteRenderer;
    sites.forEach(function (s) {
      var lat = Number(s.p.lat), lon = Number(s.p.lon);
      if ((!isFinite(lat) || !isFinite(lon) || s.p.lat === null) && s.f.geometry && s.f.geometry.type === "Point") {
        lon = s.f.geometry.coordinates[0];
        lat = s.f.geometry.coordinates[1];
      }
      if (isFinite(lat) && isFinite(lon) && lat !== null) {
        s.latlng = L.latLng(lat, lon);
        s.marker = L.circleMarker(s.latlng, {
          renderer: siteRenderer,
          radius: s.cat === "cultural" ? 4 : 6,
          color: "#1b1f24", weight: 1, opacity: 0.9,
          fillColor: colour(s), fillOpacity: 0.95
        });
        s.marker._fmSite = s;
      }
      var g = s.f.geometry;
      if (g && (g.type === "Polygon" || g.type === "MultiPolygon")) {
        s.outline = L.geoJSON(g, {
          renderer: siteRenderer,
          style: { color: OUTLINE_COLOUR, weight: 2, opacity: 0.95, fillColor: OUTLINE_COLOUR, fillOpacity: 0.12 }
        });
        s.outline._fmSite = s;
        s.outline.eachLayer(function (l) { l._fmSite = s; });
      }
    });

    /* ----- annotations: every claim that is about a place, drawn at its sites (or its own point) ----- */

    var claimMarkers = 0;
    function claimPlaces(c) {
      var out = [];
      (c.site_ids || []).forEach(function (id) {
        var s = siteById[id];
        if (s && s.latlng) out.push(s.latlng);
      });
      var g = c.geometry;
      if (!out.length && g && g.type === "Point") out.push(L.latLng(g.coordinates[1], g.coordinates[0]));
      if (!out.length && g && g.type === "MultiPoint") g.coordinates.forEach(function (xy) { out.push(L.latLng(xy[1], xy[0])); });
      return out;
    }
    if (groups.annotations) {
      claims.forEach(function (c) {
        if (c.level === "map" || c.target === "map") return;
        claimPlaces(c).forEach(function (ll) {
          var m = L.circleMarker(ll, {
            radius: 10, color: CLAIM_COLOUR, weight: 2, dashArray: c.level === "area" ? "4 3" : null,
            fill: true, fillOpacity: 0.05, fillColor: CLAIM_COLOUR
          });
          m._fmClaim = c;
          groups.annotations.addLayer(m);
          claimMarkers += 1;
        });
      });
      groups.annotations.bindTooltip(function (layer) {
        var c = layer._fmClaim || {}, t = show(c.text);
        return h("span", { className: "fm-tip", text: (c.level === "area" ? "Area-level finding: " : "Finding: ") + (t.length > 90 ? t.slice(0, 87) + "\u2026" : t) });
      }, { direction: "top" });
      groups.annotations.on("click", function (e) {
        var c = (e.sourceTarget || e.layer || {})._fmClaim;
        if (c) openClaim(c.id);
      });
    }
    if (groups.tiles && data.tiles && (data.tiles.features || []).length) {
      L.geoJSON(data.tiles, {
        style: { color: TILE_COLOUR, weight: 1, opacity: 0.8, fill: true, fillOpacity: 0.02, dashArray: "2 4" },
        onEachFeature: function (f, layer) {
          layer.bindTooltip(function () { return h("span", { className: "fm-tip", text: "Sentinel-2 tile " + show((f.properties || {}).tile) }); }, { sticky: true });
        }
      }).addTo(groups.tiles);
    }

    FM.initImagery(map, cfg, data, h);

    /* ----- filters ----- */

    var state = { q: "", tiers: { "1": true, "2": true, "3": true, "4": true, none: true }, status: "", source: "" };

    function matches(s) {
      if (state.q && s.search.indexOf(state.q) < 0) return false;
      var t = has(s.p.tier) ? String(s.p.tier) : "none";
      if (state.tiers[t] === false) return false;
      if (state.status && String(s.p.status) !== state.status) return false;
      if (state.source && s.sources.indexOf(state.source) < 0) return false;
      return true;
    }

    var visible = [];
    /* Canvas order: within a layer, the higher tier, status or damage class on top; sites of one colour keep
       their order. */
    var drawOrder = sites.map(function (s) {
      var rank = s.cat === "detention" ? (parseInt(s.p.tier, 10) || 0) : s.cat === "buzzfeed" ? statuses.indexOf(String(s.p.status)) : s.cat === "cultural" ? (parseInt(s.damage, 10) || 0) : 0;
      return { s: s, rank: rank };
    }).sort(function (a, b) { return a.rank - b.rank || a.s.i - b.s.i; }).map(function (x) { return x.s; });
    function draw() {
      /* Take each group off the map while it is refilled, so the canvas is redrawn once, not per site. */
      var onMap = {};
      SITE_GROUPS.forEach(function (k) {
        onMap[k] = map.hasLayer(groups[k]);
        if (onMap[k]) map.removeLayer(groups[k]);
        groups[k].clearLayers();
      });
      visible = sites.filter(function (s) { s.shown = matches(s); return s.shown; });
      var drawn = 0;
      drawOrder.forEach(function (s) {
        if (!s.shown) return;
        var placed = false;
        if (s.marker) { groups[s.cat].addLayer(s.marker); placed = true; }
        if (s.outline) { groups.outlines.addLayer(s.outline); placed = true; }
        if (placed) drawn += 1;
      });
      SITE_GROUPS.forEach(function (k) { if (onMap[k]) map.addLayer(groups[k]); });
      document.documentElement.dataset.siteCount = String(drawn);
      return drawn;
    }

    /* ----- highlight of the open site ----- */

    var highlight = L.layerGroup().addTo(map);
    function setHighlight(s) {
      highlight.clearLayers();
      if (!s) return;
      if (s.f.geometry && s.outline) {
        L.geoJSON(s.f.geometry, { interactive: false, style: { color: HIGHLIGHT, weight: 4, fill: false } }).addTo(highlight);
      }
      if (s.latlng) {
        L.circleMarker(s.latlng, { interactive: false, radius: 11, color: HIGHLIGHT, weight: 3, fill: false }).addTo(highlight);
      }
    }

    /* ----- the panel ----- */

    var panel = document.getElementById("fm-panel");
    var panelTitle = document.getElementById("fm-panel-title");
    var panelBody = document.getElementById("fm-panel-body");
    var statusEl = document.getElementById("fm-status");
    var buttons = {
      search: document.getElementById("fm-btn-search"),
      about: document.getElementById("fm-btn-about"),
      sources: document.getElementById("fm-btn-sources")
    };
    var current = null;
    var opener = null;

    function setHash(hash) {
      var base = location.href.split("#")[0];
      try {
        history.replaceState(null, "", hash ? base + "#" + hash : base);
      } catch (e) { /* sandboxed frames may refuse; the page still works */ }
    }

    function openPanel(mode, title, build, hash, focus) {
      current = mode;
      panelTitle.textContent = title;
      while (panelBody.firstChild) panelBody.removeChild(panelBody.firstChild);
      build(panelBody);
      panelBody.scrollTop = 0;
      panel.hidden = false;
      panel.setAttribute("data-mode", mode);
      panel.removeAttribute("data-site");
      panel.removeAttribute("data-claim");
      Object.keys(buttons).forEach(function (k) { buttons[k].setAttribute("aria-expanded", String(k === mode)); });
      setHash(hash);
      map.invalidateSize({ pan: false });
      if (focus !== false) panelTitle.focus();
    }

    function closePanel() {
      if (panel.hidden) return;
      panel.hidden = true;
      current = null;
      panel.removeAttribute("data-mode");
      panel.removeAttribute("data-site");
      panel.removeAttribute("data-claim");
      Object.keys(buttons).forEach(function (k) { buttons[k].setAttribute("aria-expanded", "false"); });
      setHighlight(null);
      setHash("");
      map.invalidateSize({ pan: false });
      if (opener && document.body.contains(opener)) opener.focus();
      opener = null;
    }

    function toggle(mode, fn) {
      return function (ev) {
        if (current === mode) { closePanel(); return; }
        opener = ev.currentTarget;
        fn();
      };
    }

    document.getElementById("fm-close").addEventListener("click", closePanel);
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && !panel.hidden) closePanel();
    });
    buttons.search.addEventListener("click", toggle("search", function () { openSearch(); }));
    buttons.about.addEventListener("click", toggle("about", function () { openAbout(); }));
    buttons.sources.addEventListener("click", toggle("sources", function () { openSources(); }));

    /* Numbered citations for one panel: sources and cited works share one list. */
    function Citations() {
      var items = [], keys = {};
      return {
        source: function (slug) {
          var k = "s:" + slug;
          if (!(k in keys)) { items.push({ source: slug }); keys[k] = items.length; }
          return keys[k];
        },
        work: function (c) {
          var k = "w:" + JSON.stringify(c);
          if (!(k in keys)) { items.push({ work: c }); keys[k] = items.length; }
          return keys[k];
        },
        mark: function (n) { return h("span", { className: "fm-fn", text: "[" + n + "]" }); },
        render: function (parent) {
          if (!items.length) return;
          parent.appendChild(h("h3", { text: "Sources cited" }));
          var ol = h("ol", { className: "fm-cites" });
          items.forEach(function (it) {
            ol.appendChild(h("li", null, [it.source ? sourceCitation(it.source) : workCitation(it.work)]));
          });
          parent.appendChild(ol);
        }
      };
    }

    function licenceNode(lic) {
      if (!lic) return h("span", { text: "No licence stated" });
      var text = lic.title || lic.name || "No licence stated";
      return safeUrl(lic.path) ? link(lic.path, text) : h("span", { text: text });
    }

    function sourceCitation(slug) {
      var s = sourceBySlug[slug];
      if (!s) return h("span", { text: slug });
      var lic = (s.licence) || (s.licenses && s.licenses[0]);
      return h("span", null, [
        s.citation || s.title || slug, ". ",
        s.publisher ? s.publisher + ". " : "",
        "Licence: ", licenceNode(lic), ". ",
        s.retrieved ? "Retrieved " + s.retrieved + ". " : "",
        safeUrl(s.citation_url) ? link(s.citation_url) : ""
      ]);
    }

    function workCitation(c) {
      if (c.reference) {
        var ref = h("span", null, [c.reference + (c.locator ? ", " + c.locator : "") + ". "]);
        if (c.quote) { ref.appendChild(h("q", { text: c.quote })); ref.appendChild(document.createTextNode(" ")); }
        if (c.url) ref.appendChild(link(c.url));
        if (safeUrl(c.archived_url)) {
          ref.appendChild(document.createTextNode(" (archived: "));
          ref.appendChild(link(c.archived_url, "copy"));
          ref.appendChild(document.createTextNode(")"));
        }
        return ref;
      }
      var who = c.author || c.publisher || "";
      var parts = [];
      if (who) parts.push(who + ", ");
      parts.push("\u201c" + (c.title || "Untitled") + "\u201d");
      if (c.journal || c["container-title"]) parts.push(", " + (c.journal || c["container-title"]));
      if (c.volume) parts.push(", vol. " + c.volume);
      if (c.pages) parts.push(", pp. " + c.pages);
      if (c.publisher && c.author) parts.push(", " + c.publisher);
      parts.push(" (" + (c.published || "n.d.") + ")");
      if (c.locator) parts.push(", " + c.locator);
      parts.push(". ");
      var node = h("span", null, parts);
      if (c.quote) node.appendChild(h("q", { text: c.quote }));
      if (c.quote) node.appendChild(document.createTextNode(" "));
      if (c.doi) node.appendChild(h("span", { text: "DOI " + c.doi + " " }));
      if (safeUrl(c.url)) node.appendChild(link(c.url));
      if (safeUrl(c.archived_url)) {
        node.appendChild(document.createTextNode(" (archived: "));
        node.appendChild(link(c.archived_url, "copy"));
        node.appendChild(document.createTextNode(")"));
      }
      return node;
    }

    function nameRow(dl, term, value, lang, dir) {
      if (!has(value)) return;
      dl.appendChild(h("dt", { text: term }));
      dl.appendChild(h("dd", { lang: lang, dir: dir || "auto", className: "fm-bidi", text: value }));
    }

    /* "3 — ASPI [1][2]": one line per distinct value, naming every source that gives it. */
    function valueWithSources(values, cites) {
      var dd = h("dd"), order = [], byValue = {};
      values.forEach(function (a) {
        var k = show(a.value);
        if (!(k in byValue)) { byValue[k] = []; order.push(k); }
        if (a.source && byValue[k].indexOf(a.source) < 0) byValue[k].push(a.source);
      });
      order.forEach(function (k, i) {
        if (i) dd.appendChild(h("br"));
        dd.appendChild(h("bdi", { text: k }));
        var names = [];
        byValue[k].forEach(function (slug) {
          var n = sourceShort(slug);
          if (names.indexOf(n) < 0) names.push(n);
        });
        if (names.length) dd.appendChild(h("span", { className: "fm-src", text: " \u2014 " + names.join(", ") }));
        byValue[k].forEach(function (slug) { dd.appendChild(cites.mark(cites.source(slug))); });
      });
      return dd;
    }

    function siteSubtitle(s) {
      var p = s.p, bits = [];
      if (s.cat === "detention") bits.push(has(p.tier) ? "Detention facility \u00b7 ASPI tier " + p.tier : "Detention facility \u00b7 no ASPI tier");
      else if (s.cat === "buzzfeed") bits.push("Known only from BuzzFeed News" + (has(p.status) ? " \u00b7 " + p.status : ""));
      else if (s.cat === "cultural") bits.push("Cultural site" + (has(s.damage) ? " \u00b7 damage index " + s.damage : ""));
      else bits.push(p.kind === "detention" ? "Detention facility (other sources)" : "Listed site");
      var place = [p.county, p.prefecture].filter(has).join(", ");
      if (place) bits.push(place);
      return bits.join(" \u00b7 ");
    }

    function buildSite(s, body) {
      var p = fullSite(s), cites = Citations(), attrs = p.attributes || {};
      body.appendChild(h("p", { className: "fm-sub", text: siteSubtitle(s) }));

      var names = h("dl", { className: "fm-dl" });
      nameRow(names, "English", p.name_en || p.name, "en");
      nameRow(names, "Chinese", p.name_zh, "zh");
      nameRow(names, "Uyghur", p.name_ug, "ug", "rtl");
      if (names.firstChild) {
        body.appendChild(h("h3", { text: "Names" }));
        body.appendChild(names);
      }

      var facts = h("dl", { className: "fm-dl" });
      KEY_FIELDS.forEach(function (k) {
        var vals = attrs[k] && attrs[k].length ? attrs[k] : has(p[k]) ? [{ value: p[k] }] : [];
        if (!vals.length) return;
        facts.appendChild(h("dt", { text: label(k) }));
        facts.appendChild(valueWithSources(vals, cites));
      });
      if (s.latlng) {
        facts.appendChild(h("dt", { text: "Location" }));
        facts.appendChild(h("dd", { text: s.latlng.lat.toFixed(6) + ", " + s.latlng.lng.toFixed(6) }));
      }
      body.appendChild(h("h3", { text: "Key facts" }));
      body.appendChild(facts);

      var recs = p.records || [];
      if (recs.length) {
        body.appendChild(h("h3", { text: "Listed in " + recs.length + (recs.length === 1 ? " dataset record" : " dataset records") }));
        var ul = h("ul", { className: "fm-list-plain" });
        recs.forEach(function (r) {
          var src = sourceBySlug[r.source];
          var li = h("li", null, [(src && src.title) || r.source, ", record ", h("bdi", { text: show(r.record_id) })]);
          li.appendChild(cites.mark(cites.source(r.source)));
          var osm = /^(way|relation|node)\/(\d+)$/.exec(show(r.record_id));
          if (isSource(r.source, "osm") && osm) {
            li.appendChild(document.createTextNode(" \u00b7 "));
            li.appendChild(link("https://www.openstreetmap.org/" + osm[1] + "/" + osm[2], "view on OpenStreetMap"));
          }
          ul.appendChild(li);
        });
        body.appendChild(ul);
      }

      var dis = p.disagreements || [];
      if (dis.length) {
        body.appendChild(h("h3", { text: "Where the datasets disagree" }));
        var dl = h("ul", { className: "fm-list-plain" });
        dis.forEach(function (d) {
          var li = h("li", null, [h("strong", { text: label(d.field) + ": " })]);
          (d.values || []).forEach(function (v, i) {
            if (i) li.appendChild(document.createTextNode("; "));
            li.appendChild(h("bdi", { text: show(v.value) }));
            if (v.source) {
              li.appendChild(h("span", { className: "fm-src", text: " (" + sourceShort(v.source) + ")" }));
              li.appendChild(cites.mark(cites.source(v.source)));
            }
          });
          if (has(d.note)) li.appendChild(h("div", { className: "fm-note", text: d.note }));
          dl.appendChild(li);
        });
        body.appendChild(dl);
      }

      if (s.outline) {
        var osmRec = recs.filter(function (r) { return isSource(r.source, "osm"); })[0];
        body.appendChild(h("h3", { text: "Compound outline" }));
        var op = h("p", null, ["Outline drawn on the map from ", osmRec ? sourceShort(osmRec.source) : "the outline source"]);
        if (osmRec) op.appendChild(cites.mark(cites.source(osmRec.source)));
        op.appendChild(document.createTextNode("."));
        body.appendChild(op);
      }
      var near = (p.near_outlines || []).filter(function (n) { return siteById[n.site_id]; });
      if (near.length) {
        // One outline per site: a facility inside (or beside) a compound whose outline went to a neighbour says so.
        body.appendChild(h("h3", { text: s.outline ? "Other outlines here" : "Compound outline" }));
        var nl = h("ul", { className: "fm-results" });
        near.forEach(function (n) {
          var holder = siteById[n.site_id];
          var b = h("button", { type: "button", className: "fm-linkbtn" }, [h("bdi", { text: holder.title })]);
          b.addEventListener("click", function () { openSite(holder.id, { from: "outline" }); });
          var li = h("li", null, [
            document.createTextNode(n.method === "containment" ? "Inside the outline of " : "Within " + n.distance_m + " m of the outline of "),
            b,
            document.createTextNode(" (" + sourceShort(n.source) + " " + n.record_id + ")")
          ]);
          li.appendChild(cites.mark(cites.source(n.source)));
          nl.appendChild(li);
        });
        body.appendChild(nl);
      }

      FM.renderImagery(s, body, { cites: cites, data: data, h: h, link: link, safeUrl: safeUrl, showFootprint: showFootprint });
      FM.renderClaims(s, body, { cites: cites, claimById: claimById, h: h, workCitation: workCitation });

      var rest = Object.keys(attrs).filter(function (k) {
        return KEY_FIELDS.indexOf(k) < 0 && NAME_FIELDS.indexOf(k) < 0;
      }).sort();
      if (rest.length) {
        var det = h("details", null, [h("summary", { text: "All attributes (" + rest.length + ")" })]);
        var table = h("table", { className: "fm-attr" }, [
          h("thead", null, [h("tr", null, [h("th", { scope: "col", text: "Field" }), h("th", { scope: "col", text: "Value" }), h("th", { scope: "col", text: "Source" })])])
        ]);
        var tb = h("tbody");
        rest.forEach(function (k) {
          attrs[k].forEach(function (a) {
            var src = h("td", { text: a.source ? sourceShort(a.source) : "" });
            if (a.source) src.appendChild(cites.mark(cites.source(a.source)));
            tb.appendChild(h("tr", null, [h("th", { scope: "row", text: label(k) }), h("td", null, [h("bdi", { text: show(a.value) })]), src]));
          });
        });
        table.appendChild(tb);
        det.appendChild(table);
        body.appendChild(det);
      }

      cites.render(body);
      var url = location.href.split("#")[0] + "#site=" + encodeURIComponent(s.id);
      body.appendChild(h("h3", { text: "Link to this site" }));
      body.appendChild(h("label", { className: "fm-note", "for": "fm-site-link", text: "Copy this address to share the map open at this site" }));
      var inp = h("input", { className: "fm-input", id: "fm-site-link", readonly: true, type: "text" });
      inp.value = url;
      body.appendChild(inp);
    }

    /* A scene's footprint on the map (one at a time), until the panel closes or another site opens. */
    var footprintLayer = null;
    function showFootprint(geometry, sceneId) {
      if (footprintLayer) highlight.removeLayer(footprintLayer);
      var fp = L.geoJSON(geometry, { interactive: false, style: { color: "#ff6f00", weight: 2, dashArray: "6 4", fillOpacity: 0.05 } });
      fp._fmScene = sceneId || null;
      fp.eachLayer(function (l) { l._fmScene = sceneId || null; });
      footprintLayer = fp;
      statusEl.textContent = "Footprint of scene " + (sceneId || "") + " drawn on the map.";
      fp.addTo(highlight);
      map.fitBounds(fp.getBounds(), { animate: false, padding: [20, 20] });
    }

    function openSite(id, opts) {
      var s = siteById[id];
      if (!s) { statusEl.textContent = "No site with the id " + id + " on this map."; return false; }
      opts = opts || {};
      if (opts.from !== "hash" && document.activeElement && document.activeElement !== document.body) {
        opener = opener || document.activeElement;
      }
      openPanel("site", s.title, function (body) { buildSite(s, body); }, "site=" + encodeURIComponent(s.id), opts.focus);
      panel.setAttribute("data-site", s.id);
      setHighlight(s);
      if (s.outline) map.fitBounds(s.outline.getBounds(), { maxZoom: 17, animate: false, padding: [20, 20] });
      else if (s.latlng) map.setView(s.latlng, Math.max(map.getZoom(), 14), { animate: false });
      return true;
    }
    FM.openSite = openSite;

    function openClaim(id, opts) {
      var c = claimById[id];
      if (!c) return false;
      opts = opts || {};
      openPanel("claim", c.level === "area" ? "Finding about " + show(c.area || "an area") : "Finding", function (body) {
        var cites = Citations();
        body.appendChild(claimNode(c, cites));
        var here = (c.site_ids || []).map(function (sid) { return siteById[sid]; }).filter(Boolean);
        if (here.length) {
          body.appendChild(h("h3", { text: c.level === "area" ? "Drawn at the sites of this area (" + here.length + ")" : "Sites" }));
          var ul = h("ul", { className: "fm-results" });
          here.forEach(function (s) {
            var b = h("button", { type: "button", className: "fm-linkbtn" }, [h("bdi", { text: s.title })]);
            b.addEventListener("click", function () { openSite(s.id, { from: "claim" }); });
            ul.appendChild(h("li", null, [b]));
          });
          body.appendChild(ul);
        }
        cites.render(body);
      }, "claim=" + encodeURIComponent(id), opts.focus);
      panel.setAttribute("data-claim", id);
      var pts = claimPlaces(c);
      if (pts.length) map.fitBounds(L.latLngBounds(pts), { maxZoom: 12, animate: false, padding: [30, 30] });
      return true;
    }
    FM.openClaim = openClaim;

    /* ----- search and filters ----- */

    function openSearch() {
      openPanel("search", "Search and filter", function (body) {
        body.appendChild(h("label", { className: "fm-field", "for": "fm-q", text: "Name (any script) or county" }));
        var q = h("input", { className: "fm-input", id: "fm-q", type: "search", autocomplete: "off", placeholder: "e.g. Hotan, 和田, خوتەن" });
        q.value = state.qRaw || "";
        body.appendChild(q);

        var fs = h("fieldset", { className: "fm-fieldset" }, [h("legend", { text: "ASPI tier" })]);
        ["1", "2", "3", "4", "none"].forEach(function (t) {
          var cb = h("input", { type: "checkbox", id: "fm-tier-" + t, value: t });
          cb.checked = state.tiers[t] !== false;
          cb.addEventListener("change", function () { state.tiers[t] = cb.checked; update(); });
          fs.appendChild(h("label", { className: "fm-check", "for": "fm-tier-" + t }, [cb, t === "none" ? "No tier" : "Tier " + t]));
        });
        body.appendChild(fs);

        body.appendChild(h("label", { className: "fm-field", "for": "fm-status-filter", text: "Status (BuzzFeed News)" }));
        var st = h("select", { className: "fm-select", id: "fm-status-filter" }, [h("option", { value: "", text: "Any status" })]);
        statuses.forEach(function (v) { st.appendChild(h("option", { value: v, text: v })); });
        st.value = state.status;
        body.appendChild(st);

        body.appendChild(h("label", { className: "fm-field", "for": "fm-source-filter", text: "Listed in source" }));
        var so = h("select", { className: "fm-select", id: "fm-source-filter" }, [h("option", { value: "", text: "Any source" })]);
        sources.forEach(function (src) { so.appendChild(h("option", { value: src.slug, text: src.title || src.slug })); });
        so.value = state.source;
        body.appendChild(so);

        var reset = h("button", { type: "button", className: "fm-btn", id: "fm-reset", text: "Clear search and filters" });
        body.appendChild(h("p", null, [reset]));
        var count = h("p", { className: "fm-note", id: "fm-count" });
        body.appendChild(count);
        var results = h("ul", { className: "fm-results", id: "fm-results", "aria-label": "Matching sites" });
        body.appendChild(results);

        function update() {
          state.qRaw = q.value;
          state.q = norm(q.value.trim());
          state.status = st.value;
          state.source = so.value;
          var n = draw();
          count.textContent = visible.length + " of " + sites.length + " sites match" + (visible.length > 100 ? " (first 100 listed)" : "") + ".";
          statusEl.textContent = n + " sites shown on the map.";
          while (results.firstChild) results.removeChild(results.firstChild);
          visible.slice(0, 100).forEach(function (s) {
            var b = h("button", { type: "button", className: "fm-linkbtn", "data-site": s.id }, [h("bdi", { text: s.title })]);
            var extra = [s.p.name_zh, s.p.county].filter(has).join(" \u00b7 ");
            if (extra) b.appendChild(h("span", { className: "fm-src", text: " \u2014 " + extra }));
            b.addEventListener("click", function () { opener = buttons.search; openSite(s.id, { from: "search" }); });
            results.appendChild(h("li", null, [b]));
          });
        }
        q.addEventListener("input", update);
        st.addEventListener("change", update);
        so.addEventListener("change", update);
        reset.addEventListener("click", function () {
          q.value = ""; st.value = ""; so.value = "";
          Object.keys(state.tiers).forEach(function (t) { state.tiers[t] = true; });
          body.querySelectorAll("input[type=checkbox]").forEach(function (cb) { cb.checked = true; });
          update();
        });
        update();
      }, "search");
    }

    /* ----- sources and about ----- */

    function openSources() {
      openPanel("sources", "Sources", function (body) {
        body.appendChild(h("p", { className: "fm-note", text: "Every site and attribute on this map comes from the datasets below. Each site's panel names the source of each value." }));
        sources.forEach(function (s) {
          var card = h("section", { className: "fm-source-card", "aria-label": s.title || s.slug });
          card.appendChild(h("h4", null, [safeUrl(s.citation_url) ? link(s.citation_url, s.title || s.slug) : (s.title || s.slug)]));
          var dl = h("dl", { className: "fm-dl" });
          function row(t, node) { if (!node) return; dl.appendChild(h("dt", { text: t })); dl.appendChild(h("dd", null, [node])); }
          row("Publisher", s.publisher ? h("span", { text: s.publisher }) : null);
          row("Licence", licenceNode(s.licence || (s.licenses && s.licenses[0])));
          row("Retrieved", s.retrieved ? h("span", { text: s.retrieved }) : null);
          row("Cite as", s.citation ? h("span", { text: s.citation }) : null);
          row("Link", s.citation_url ? link(s.citation_url) : null);
          card.appendChild(dl);
          body.appendChild(card);
        });
        var works = [];
        claims.forEach(function (c) { (c.citations || []).forEach(function (w) { works.push(w); }); });
        if (works.length) {
          body.appendChild(h("h3", { text: "Works cited in claims" }));
          var seen = {}, ol = h("ul", { className: "fm-list-plain" });
          works.forEach(function (w) {
            var k = JSON.stringify([w.title, w.url, w.author, w.publisher, w.published]);
            if (seen[k]) return;
            seen[k] = true;
            ol.appendChild(h("li", null, [workCitation(w)]));
          });
          body.appendChild(ol);
        }
        body.appendChild(h("h3", { text: "How to cite this map" }));
        body.appendChild(h("p", { text: meta.cite_as || ((meta.title || "This map") + ". Built with facilitymap from the sources listed above.") }));
        body.appendChild(h("p", { className: "fm-note", text: "Please also cite the original datasets, and add the date you accessed the map." }));
        body.appendChild(h("h3", { text: "Data behind this map" }));
        var files = h("ul", { className: "fm-list-plain" });
        [["sites.geojson", "Sites (GeoJSON)"], ["sites.csv", "Sites (CSV)"], ["records.csv", "Source records (CSV)"], ["sources.json", "Sources (JSON)"], ["citations.json", "Citations (CSL-JSON)"]].forEach(function (f) {
          files.appendChild(h("li", null, [h("a", { href: f[0], text: f[1] })]));
        });
        body.appendChild(files);
      }, "sources");
    }

    function isMapClaim(c) {
      var t = c.target;
      return t === "map" || (t && typeof t === "object" && (t.type === "map" || t.map === true)) || c.level === "map";
    }

    function openAbout() {
      openPanel("about", "About this map", function (body) {
        if (meta.description) body.appendChild(h("p", { text: meta.description }));
        body.appendChild(h("h3", { text: "Reading the map" }));
        body.appendChild(h("p", { text: "Detention facilities are coloured by ASPI's tier, its classification of each facility by the security features visible in satellite imagery: tier 1 is the lowest security (re-education facilities) and tier 4 the highest (prisons). Sites known only from BuzzFeed News are coloured by BuzzFeed's status. Outlines of compounds come from OpenStreetMap. Cultural sites (off by default; turn them on in the layer control) are coloured by ASPI's damage index." }));
        var mc = claims.filter(isMapClaim);
        if (mc.length) {
          body.appendChild(h("h3", { text: "Findings about the whole region" }));
          var cites = Citations();
          mc.forEach(function (c) { body.appendChild(claimNode(c, cites)); });
          cites.render(body);
        }
        body.appendChild(h("h3", { text: "Privacy" }));
        body.appendChild(h("p", { className: "fm-note", text: "This page loads nothing from other servers except the background map tiles of the basemap you choose (none when it is built without a basemap)." }));
      }, "about");
    }

    function claimNode(c, cites) {
      var box = h("div", { className: "fm-claim" });
      var head = h("p");
      if (c.generated) head.appendChild(h("span", { className: "fm-badge", text: "generated from the datasets" }));
      var t = c.target;
      var area = c.level === "area" ? c.area : (t && typeof t === "object" && (t.type === "area" || t.area || t.county)) ? (t.name || t.area || t.county) : null;
      if (area) {
        head.appendChild(h("span", { className: "fm-badge", text: "area-level: " + show(area) }));
      }
      if (c.status) head.appendChild(h("span", { className: "fm-badge", text: c.status }));
      if (c.date || c.period) head.appendChild(h("span", { className: "fm-badge", text: show(c.date || c.period) }));
      if (head.firstChild) box.appendChild(head);
      var text = h("p", { text: show(c.text) });
      if (area) box.appendChild(h("p", { className: "fm-note", text: "About the area as a whole, not this facility in particular." }));
      (c.citations || []).forEach(function (w) { text.appendChild(cites.mark(cites.work(w))); });
      (c.sources || []).forEach(function (slug) { text.appendChild(cites.mark(cites.source(slug))); });
      box.appendChild(text);
      return box;
    }
    FM.claimNode = claimNode;

    /* ----- legend ----- */

    var Legend = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd: function () {
        var det = h("details", { className: "fm-legend leaflet-control" });
        if (window.innerWidth >= 640) det.open = true;
        det.appendChild(h("summary", { text: "Legend" }));
        var b = h("div", { className: "fm-legend-body" });
        function sw(col, text, cls) {
          return h("li", null, [h("span", { className: "fm-swatch" + (cls ? " " + cls : ""), style: cls ? null : "background:" + col, "aria-hidden": "true" }), text]);
        }
        b.appendChild(h("h2", { text: "Detention facilities: ASPI tier" }));
        b.appendChild(h("ul", null, [
          sw(TIER_COLOURS["1"], "Tier 1: lowest security (re-education)"),
          sw(TIER_COLOURS["2"], "Tier 2"),
          sw(TIER_COLOURS["3"], "Tier 3: higher security"),
          sw(TIER_COLOURS["4"], "Tier 4: prisons"),
          sw(NO_TIER, "No tier given")
        ]));
        var aspi = sources.filter(function (s) { return isSource(s.slug, "aspi"); })[0];
        var note = h("p", null, ["Tiers are ASPI's classification from satellite imagery. Source: "]);
        note.appendChild(aspi && safeUrl(aspi.citation_url) ? link(aspi.citation_url, "ASPI Xinjiang Data Project") : h("span", { text: "ASPI Xinjiang Data Project" }));
        b.appendChild(note);
        var bf = sites.filter(function (s) { return s.cat === "buzzfeed"; });
        if (bf.length) {
          var ul = h("ul");
          statuses.forEach(function (st) {
            if (bf.some(function (s) { return String(s.p.status) === st; })) ul.appendChild(sw(statusColour(st), st));
          });
          /* Long status lists fold away so the legend does not cover the map. */
          var sub = h("details", { className: "fm-legend-sub" }, [h("summary", { text: "Known only from BuzzFeed News (" + bf.length + "), by status" }), ul]);
          if (ul.childNodes.length <= 4) sub.open = true;
          b.appendChild(sub);
        }
        if (sites.some(function (s) { return s.cat === "other"; })) {
          b.appendChild(h("ul", null, [sw(OTHER_COLOUR, "Other listed sites")]));
        }
        if (sites.some(function (s) { return s.outline; })) {
          b.appendChild(h("ul", null, [sw(null, "Compound outline (OpenStreetMap)", "fm-swatch-outline")]));
        }
        if (claimMarkers) {
          b.appendChild(h("ul", null, [h("li", null, [h("span", { className: "fm-swatch fm-swatch-claim", "aria-hidden": "true" }), "Finding with citations (dashed: about an area)"])]));
        }
        if (sites.some(function (s) { return s.cat === "cultural"; })) {
          b.appendChild(h("details", { className: "fm-legend-sub" }, [
            h("summary", { text: "Cultural sites (layer off at start): ASPI damage index" }),
            h("ul", null, DAMAGE_COLOURS.map(function (c, i) { return sw(c, String(i) + (i === 0 ? " (lowest)" : i === 4 ? " (highest)" : "")); }))
          ]));
        }
        det.appendChild(b);
        L.DomEvent.disableClickPropagation(det);
        L.DomEvent.disableScrollPropagation(det);
        return det;
      }
    });
    new Legend().addTo(map);

    /* ----- deep links ----- */

    function applyHash(focus) {
      var hash = location.hash.replace(/^#/, "");
      var m = /^site=(.+)$/.exec(hash);
      if (m) {
        var id;
        try { id = decodeURIComponent(m[1]); } catch (e) { id = m[1]; }
        if (current === "site" && panel.getAttribute("data-site") === id) return;
        openSite(id, { from: "hash", focus: focus });
      } else if (/^claim=/.test(hash)) {
        var cid;
        try { cid = decodeURIComponent(hash.slice(6)); } catch (e) { cid = hash.slice(6); }
        if (!(current === "claim" && panel.getAttribute("data-claim") === cid)) openClaim(cid, { focus: focus });
      } else if (hash === "sources") openSources();
      else if (hash === "about") openAbout();
      else if (hash === "search") openSearch();
    }
    window.addEventListener("hashchange", function () {
      applyHash(true);
      var app = document.querySelector(".fm-app");
      if (app && app.scrollIntoView) app.scrollIntoView();
    });

    /* ----- first draw ----- */

    var pts = sites.filter(function (s) { return s.latlng; }).map(function (s) { return s.latlng; });
    if (pts.length) map.fitBounds(L.latLngBounds(pts), { padding: [20, 20], animate: false, maxZoom: 14 });
    else map.setView([20, 0], 2, { animate: false });
    var n = draw();
    applyHash(false);
    statusEl.textContent = n + " sites on the map.";
    FM.map = map;
    FM.groups = groups;
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        document.documentElement.dataset.mapReady = "true";
      });
    });
  };

  /* ---------- hooks for imagery (issue 4) and claims (issue 5); they do nothing without data ---------- */

  /* ---------- imagery (issue 4): scenes timeline, best scenes, footprints, local rasters, before/after ---------- */

  /* The scenes of the payload, in either shape: {items, footprints, rasters} (built maps: each scene once, sites
     carry ids) or the older {site_id: [scene dicts]}. */
  function sceneStore(data) {
    var sc = data.scenes || {};
    var modern = sc.items && typeof sc.items === "object" && !Array.isArray(sc.items);
    return {
      modern: modern,
      items: modern ? sc.items : {},
      footprints: (modern && sc.footprints) || {},
      viewers: (modern && sc.viewers) || [],
      urls: (modern && sc.urls) || [],
      rasters: (modern && sc.rasters) || {},
      legacy: modern ? {} : sc
    };
  }

  /* A viewer link from its template: the site's place and the scene's day. */
  function fillViewer(template, latlng, when) {
    if (typeof template !== "string" || !latlng || !/^\d{4}-\d{2}-\d{2}/.test(String(when || ""))) return null;
    return template.replace("{lat}", latlng.lat.toFixed(6)).replace("{lon}", latlng.lng.toFixed(6))
      .split("{day}").join(String(when).slice(0, 10));
  }

  function day(d) { return String(d || "").slice(0, 10); }

  function pad(n, w) { var t = String(n); while (t.length < w) t = "0" + t; return t; }

  /* "Search imagery here" links from footprints.imagery.link_templates: the site's lon/lat with 6 decimals and,
     when dated, the first and last instant of the day or month (as footprints.coverage writes them). */
  function fillLinks(templates, lon, lat, date) {
    var list = (templates && (date ? templates.dated : templates.plain)) || [];
    var from = "", to = "";
    if (date) {
      var y = parseInt(date.slice(0, 4), 10), m = parseInt(date.slice(5, 7), 10), dd = date.length >= 10 ? parseInt(date.slice(8, 10), 10) : 0;
      var last = dd || new Date(Date.UTC(y, m, 0)).getUTCDate();
      var ymd = pad(y, 4) + "-" + pad(m, 2) + "-";
      from = encodeURIComponent(ymd + pad(dd || 1, 2) + "T00:00:00.000Z");
      to = encodeURIComponent(ymd + pad(last, 2) + "T23:59:59.999Z");
    }
    return list.map(function (t) {
      return { label: t[0], url: t[1].split("{lat}").join(Number(lat).toFixed(6)).split("{lon}").join(Number(lon).toFixed(6))
        .split("{from}").join(from).split("{to}").join(to) };
    });
  }

  /* Map-side imagery: local raster overlays (a layer in the layer control) and the before/after swipe. */
  FM.initImagery = function (map, cfg, data, h) {
    var store = sceneStore(data);
    var ids = Object.keys(store.rasters).sort();
    var I = { map: map, store: store, overlays: {}, compare: null };
    FM.imagery = I;
    if (!ids.length) return I;
    map.createPane("fm-imagery").style.zIndex = 350;
    map.createPane("fm-cmp-before").style.zIndex = 360;
    map.createPane("fm-cmp-after").style.zIndex = 370;
    var group = L.layerGroup();
    ids.forEach(function (id) {
      var r = store.rasters[id];
      if (!/^data:image\/png;base64,/.test(String(r.image || "")) || !r.bounds) return;
      var ov = L.imageOverlay(r.image, r.bounds, { pane: "fm-imagery", interactive: false, alt: "Local image " + id + (r.datetime ? " (" + day(r.datetime) + ")" : "") });
      ov._fmRaster = id;
      I.overlays[id] = ov;
      group.addLayer(ov);
    });
    group.addTo(map);
    if (cfg.control) cfg.control.addOverlay(group, "Local imagery (" + ids.length + (ids.length === 1 ? " image)" : " images)"));
    I.group = group;

    I.stopCompare = function () {
      var c = I.compare;
      if (!c) return;
      map.off("move zoom zoomend viewreset resize", c.clip);
      map.removeLayer(c.before);
      map.removeLayer(c.after);
      c.box.parentNode.removeChild(c.box);
      map.getPane("fm-imagery").style.display = "";
      I.compare = null;
      if (c.onstop) c.onstop();
    };

    /* Two overlays in their own panes; each pane is clipped (CSS clip-path, in layer pixels) to its side of the
       divider, which follows a labelled range input on the map. */
    I.startCompare = function (beforeId, afterId, onstop) {
      I.stopCompare();
      var rb = store.rasters[beforeId], ra = store.rasters[afterId];
      if (!rb || !ra) return null;
      var before = L.imageOverlay(rb.image, rb.bounds, { pane: "fm-cmp-before", interactive: false, alt: "Before: " + beforeId });
      var after = L.imageOverlay(ra.image, ra.bounds, { pane: "fm-cmp-after", interactive: false, alt: "After: " + afterId });
      before.addTo(map);
      after.addTo(map);
      map.getPane("fm-imagery").style.display = "none";
      var box = h("div", { className: "fm-swipe", id: "fm-swipe" });
      var line = h("div", { className: "fm-swipe-line", "aria-hidden": "true" });
      var lb = "Before: " + (day(rb.datetime) || beforeId), la = "After: " + (day(ra.datetime) || afterId);
      var input = h("input", { type: "range", id: "fm-swipe-range", min: "0", max: "100", step: "1", value: "50",
        "aria-valuetext": "divider at 50%; left " + lb + ", right " + la });
      var bar = h("div", { className: "fm-swipe-bar" }, [
        h("span", { className: "fm-swipe-label", text: lb }),
        h("label", { "for": "fm-swipe-range", className: "fm-sr", text: "Swipe between the two images (left: " + lb + "; right: " + la + ")" }),
        input,
        h("span", { className: "fm-swipe-label", text: la }),
        h("button", { type: "button", className: "fm-btn fm-swipe-stop", text: "Stop comparing" })
      ]);
      box.appendChild(line);
      box.appendChild(bar);
      map.getContainer().appendChild(box);
      L.DomEvent.disableClickPropagation(bar);
      L.DomEvent.disableScrollPropagation(bar);
      function clip() {
        var size = map.getSize(), x = size.x * Number(input.value) / 100;
        var nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
        var mid = map.containerPointToLayerPoint([x, 0]).x;
        function poly(x0, x1) {
          return "polygon(" + [[x0, nw.y], [x1, nw.y], [x1, se.y], [x0, se.y]].map(function (p) { return p[0].toFixed(1) + "px " + p[1].toFixed(1) + "px"; }).join(", ") + ")";
        }
        map.getPane("fm-cmp-before").style.clipPath = poly(nw.x, mid);
        map.getPane("fm-cmp-after").style.clipPath = poly(mid, se.x);
        line.style.left = x.toFixed(1) + "px";
        input.setAttribute("aria-valuetext", "divider at " + input.value + "%; left " + lb + ", right " + la);
      }
      input.addEventListener("input", clip);
      input.addEventListener("change", clip);
      bar.querySelector(".fm-swipe-stop").addEventListener("click", function () { I.stopCompare(); });
      map.on("move zoom zoomend viewreset resize", clip);
      I.compare = { before: before, after: after, box: box, input: input, clip: clip, onstop: onstop, ids: [beforeId, afterId] };
      map.fitBounds(L.latLngBounds(rb.bounds).extend(L.latLngBounds(ra.bounds)), { animate: false, padding: [20, 20] });
      clip();
      return input;
    };
    return I;
  };

  FM.renderImagery = function (s, panel, ctx) {
    var h = ctx.h, p = s.p, im = p.imagery || null;
    var I = FM.imagery || { store: sceneStore(ctx.data) };
    var store = I.store;
    var latest = (im && im.reference_month) || null;
    var tiles = (im && im.s2_tiles) || [];
    var sum = im && im.scenes && typeof im.scenes === "object" ? im.scenes : null;
    var legacy = store.legacy[s.id] || [];
    var rasterIds = ((im && im.rasters) || []).filter(function (id) { return store.rasters[id]; });
    if (!im && !legacy.length && !latest) return;

    function scene(id) {
      if (store.items[id]) return store.items[id];
      for (var i = 0; i < legacy.length; i++) if (legacy[i].id === id) return legacy[i];
      return null;
    }
    function footprint(id) {
      var sc = scene(id);
      return store.footprints[id] || (sc && sc.geometry) || null;
    }
    function sceneLine(id, prefix) {
      var sc = scene(id) || {};
      var bits = [day(sc.datetime || sc.date), sc.collection || (store.rasters[id] ? "local image" : ""), sc.cloud_cover !== null && sc.cloud_cover !== undefined ? sc.cloud_cover + "% cloud" : ""].filter(has);
      var li = h("li", { "data-scene": id }, [prefix ? h("strong", { text: prefix + ": " }) : null, bits.join(" \u00b7 ") + " "]);
      var url = typeof sc.url === "number" ? String(store.urls[sc.url] || "").replace("{id}", id) : (sc.url || sc.stac_url || sc.href);
      if (ctx.safeUrl(url)) { li.appendChild(ctx.link(url, "STAC item")); li.appendChild(document.createTextNode(" ")); }
      var viewer = fillViewer(typeof sc.viewer === "number" ? store.viewers[sc.viewer] : null, s.latlng, sc.datetime);
      if (ctx.safeUrl(viewer)) { li.appendChild(ctx.link(viewer, "view at this site")); li.appendChild(document.createTextNode(" ")); }
      if (footprint(id) && ctx.showFootprint) {
        var fb = h("button", { type: "button", className: "fm-linkbtn fm-inline", text: "show footprint", "aria-label": "show footprint of " + (bits[0] || id) });
        fb.addEventListener("click", function () { ctx.showFootprint(footprint(id), id); });
        li.appendChild(fb);
      }
      return li;
    }

    panel.appendChild(h("h3", { text: "Satellite imagery" }));
    var dl = h("dl", { className: "fm-dl" });
    function row(t, v, node) { dl.appendChild(h("dt", { text: t })); dl.appendChild(node || h("dd", { text: v })); }
    if (latest) {
      var dd = h("dd", { text: latest });
      if (im.reference_source) dd.appendChild(ctx.cites.mark(ctx.cites.source(im.reference_source)));
      row("ASPI's latest image", null, dd);
    }
    if (tiles.length) row("Sentinel-2 tiles", tiles.join(", "));
    if (sum && typeof sum.scenes === "number") {
      row("Scenes over the site", sum.scenes + (sum.scenes ? " (" + sum.under_cloud_threshold + " under " + sum.cloud_threshold + "% cloud)" : ""));
      var f = scene(sum.first), l = scene(sum.last);
      if (f) row("First", day(f.datetime));
      if (l) row("Last", day(l.datetime));
    }
    panel.appendChild(dl);

    /* months: {YYYY-MM: {scenes, best, best_cloud}} from the summary ([scenes, best_cloud, best id] in the page),
       or counted from an older scene list */
    var months = {};
    Object.keys((sum && sum.months) || {}).forEach(function (k) {
      var m = sum.months[k];
      months[k] = Array.isArray(m) ? { scenes: m[0], best_cloud: m[1], best: m[2] } : m;
    });
    if (!Object.keys(months).length && legacy.length) {
      legacy.forEach(function (sc) {
        var d = String(sc.datetime || sc.date || "").slice(0, 7);
        if (!/^\d{4}-\d{2}$/.test(d)) return;
        var cc = Number(sc.cloud_cover), m = months[d] || (months[d] = { scenes: 0, best: null, best_cloud: null });
        m.scenes += 1;
        if (isFinite(cc) && (m.best_cloud === null || cc < m.best_cloud)) { m.best_cloud = cc; m.best = sc.id; }
        if (!m.best) m.best = sc.id;
      });
    }
    var keys = Object.keys(months).filter(function (k) { return /^\d{4}-\d{2}$/.test(k); }).sort();
    if (keys.length) panel.appendChild(timeline(keys, months));

    var best = [];
    if (sum && sum.years) {
      Object.keys(sum.years).sort().forEach(function (y) { if (sum.years[y].best) best.push(["Clearest of " + y, sum.years[y].best]); });
      if (sum.nearest_to_reference && sum.nearest_to_reference.scene) best.push(["Nearest to ASPI's date", sum.nearest_to_reference.scene]);
    } else if (legacy.length) {
      legacy.slice().sort(function (a, b) { return (Number(a.cloud_cover) || 0) - (Number(b.cloud_cover) || 0); }).slice(0, 5)
        .forEach(function (sc) { best.push([null, sc.id]); });
    }
    if (best.length) {
      panel.appendChild(h("h4", { text: "Clearest scenes" }));
      var ul = h("ul", { className: "fm-list-plain fm-scenes", "aria-label": "Clearest scenes" });
      best.forEach(function (b) { ul.appendChild(sceneLine(b[1], b[0])); });
      panel.appendChild(ul);
    }

    if (rasterIds.length) {
      panel.appendChild(h("h4", { text: "Local imagery over this site" }));
      var ru = h("ul", { className: "fm-list-plain fm-rasters", "aria-label": "Local images over this site" });
      rasterIds.forEach(function (id) {
        var r = store.rasters[id];
        var li = h("li", { "data-raster": id }, [h("bdi", { text: id }), " \u00b7 " + (day(r.datetime) || "undated") + " "]);
        var zb = h("button", { type: "button", className: "fm-linkbtn fm-inline", text: "zoom to image", "aria-label": "zoom to image " + id });
        zb.addEventListener("click", function () { I.map.fitBounds(r.bounds, { animate: false, padding: [20, 20] }); });
        li.appendChild(zb);
        ru.appendChild(li);
      });
      panel.appendChild(ru);
      if (rasterIds.length >= 2 && I.startCompare) panel.appendChild(compareForm(rasterIds));
    }

    if (im && im.links && im.links.length) {
      var lp = h("p", null, ["Search imagery here: "]);
      im.links.forEach(function (l, i) {
        if (i) lp.appendChild(document.createTextNode(" \u00b7 "));
        lp.appendChild(ctx.link(l.url, l.label || l.url));
      });
      panel.appendChild(lp);
    } else if (s.latlng) {
      var lat = s.latlng.lat.toFixed(5), lon = s.latlng.lng.toFixed(5);
      var links = h("p", null, ["Search imagery here: "]);
      links.appendChild(ctx.link("https://browser.dataspace.copernicus.eu/?zoom=15&lat=" + lat + "&lng=" + lon, "Copernicus Browser"));
      links.appendChild(document.createTextNode(" \u00b7 "));
      links.appendChild(ctx.link("https://earthexplorer.usgs.gov/", "USGS EarthExplorer"));
      panel.appendChild(links);
    }

    /* One bar per month with scenes (height: count; darker: clearer best scene). Each bar is a button that
       draws the footprint of that month's clearest scene. */
    function timeline(keys, months) {
      var y0 = parseInt(keys[0].slice(0, 4), 10), y1 = parseInt(keys[keys.length - 1].slice(0, 4), 10);
      var W = 300, H = 60, cols = (y1 - y0 + 1) * 12, bw = W / cols, maxN = 1, total = 0;
      keys.forEach(function (k) { maxN = Math.max(maxN, months[k].scenes); total += months[k].scenes; });
      var NS = "http://www.w3.org/2000/svg";
      var svg = document.createElementNS(NS, "svg");
      svg.setAttribute("viewBox", "0 0 " + W + " " + (H + 14));
      svg.setAttribute("class", "fm-timeline");
      svg.setAttribute("role", "group");
      svg.setAttribute("aria-label", "Imagery timeline: " + total + " scenes in " + keys.length + " months from " + keys[0] + " to " + keys[keys.length - 1] + "; darker bars have clearer scenes");
      keys.forEach(function (k) {
        var idx = (parseInt(k.slice(0, 4), 10) - y0) * 12 + parseInt(k.slice(5, 7), 10) - 1;
        var m = months[k], bh = Math.max(2, H * m.scenes / maxN);
        var cc = m.best_cloud === null || m.best_cloud === undefined ? null : Number(m.best_cloud);
        var r = document.createElementNS(NS, "rect");
        r.setAttribute("x", String(idx * bw));
        r.setAttribute("y", String(H - bh));
        r.setAttribute("width", String(Math.max(1.5, bw - 0.5)));
        r.setAttribute("height", String(bh));
        r.setAttribute("data-month", k);
        var clear = cc === null ? 0.4 : 1 - Math.min(100, cc) / 100;
        r.setAttribute("fill", "rgba(11,92,173," + (0.25 + 0.75 * clear).toFixed(2) + ")");
        var text = k + ": " + m.scenes + (m.scenes === 1 ? " scene" : " scenes") + (cc !== null ? ", clearest " + cc + "% cloud" : "");
        var t = document.createElementNS(NS, "title");
        t.textContent = text;
        r.appendChild(t);
        if (m.best && footprint(m.best) && ctx.showFootprint) {
          r.setAttribute("tabindex", "0");
          r.setAttribute("role", "button");
          r.setAttribute("aria-label", text + ": show the footprint of the clearest scene");
          var go = function () { ctx.showFootprint(footprint(m.best), m.best); };
          r.addEventListener("click", go);
          r.addEventListener("keydown", function (ev) {
            if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); }
          });
        }
        svg.appendChild(r);
      });
      for (var y = y0; y <= y1; y++) {
        var tx = document.createElementNS(NS, "text");
        tx.setAttribute("x", String((y - y0) * 12 * bw));
        tx.setAttribute("y", String(H + 12));
        tx.setAttribute("font-size", "9");
        tx.textContent = String(y);
        svg.appendChild(tx);
      }
      return svg;
    }

    function compareForm(ids) {
      var form = h("form", { className: "fm-compare", "aria-label": "Compare two dates" });
      function pick(id, text, sel) {
        var select = h("select", { className: "fm-select", id: id });
        ids.forEach(function (rid) {
          var o = h("option", { value: rid, text: (day(store.rasters[rid].datetime) || "undated") + " \u00b7 " + rid });
          select.appendChild(o);
        });
        select.value = sel;
        form.appendChild(h("label", { className: "fm-field", "for": id, text: text }));
        form.appendChild(select);
        return select;
      }
      var b = pick("fm-cmp-before-select", "Before (left of the divider)", ids[0]);
      var a = pick("fm-cmp-after-select", "After (right of the divider)", ids[ids.length - 1]);
      var go = h("button", { type: "submit", className: "fm-btn", id: "fm-cmp-start", text: "Compare before/after on the map" });
      form.appendChild(h("p", null, [go]));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var input = I.startCompare(b.value, a.value, function () { if (document.body.contains(go)) go.focus(); });
        if (input) input.focus();
      });
      return form;
    }
  };

  FM.renderClaims = function (s, panel, ctx) {
    var ids = s.p.claims || [];
    var list = ids.map(function (id) { return ctx.claimById[id]; }).filter(Boolean);
    if (!list.length) return;
    panel.appendChild(ctx.h("h3", { text: "Findings and claims" }));
    list.forEach(function (c) { panel.appendChild(FM.claimNode(c, ctx.cites)); });
  };
})();
