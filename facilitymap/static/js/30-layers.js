/* Part 30: the site layers: each site's layer and colour, its marker and outline, drawing the shown sites into
 * the folium layer groups, and the legend. */
(function (app) {
  "use strict";
  const { h, has, link, safeUrl } = app;

  const TIER_COLOURS = { "1": "#fdd49e", "2": "#fc8d59", "3": "#d7301f", "4": "#7f0000" };
  const NO_TIER = "#9aa3ad";
  const STATUS_COLOURS = ["#e7298a", "#6a3d9a", "#a6761d", "#f4a6c8", "#8c564b", "#bcbd22", "#cab2d6", "#ff7f00"];
  const KNOWN_STATUS = { "corroborated": "#2166ac", "probably closed": "#92c5de", "closed": "#17becf" };
  const DAMAGE_COLOURS = ["#e5f5e0", "#a1d99b", "#74c476", "#31a354", "#006d2c"];
  const OTHER_COLOUR = "#4d4d4d";
  const OUTLINE_COLOUR = "#c2185b";
  const SITE_GROUPS = ["detention", "buzzfeed", "other", "outlines", "cultural"];
  app.SITE_GROUPS = SITE_GROUPS;

  function isSource(slug, prefix) { return typeof slug === "string" && slug.indexOf(prefix) === 0; }

  function category(s) {
    const p = s.p, src = s.sources;
    if (p.kind === "cultural") return "cultural";
    if (src.some((slug) => isSource(slug, "aspi")) || has(p.tier)) return "detention";
    if (src.length && src.every((slug) => isSource(slug, "buzzfeed"))) return "buzzfeed";
    return "other";
  }

  function statusColour(st) {
    if (Object.prototype.hasOwnProperty.call(KNOWN_STATUS, String(st))) return KNOWN_STATUS[String(st)];
    const i = app.statuses.indexOf(String(st));
    return i < 0 ? NO_TIER : STATUS_COLOURS[i % STATUS_COLOURS.length];
  }

  function colour(s) {
    if (s.cat === "detention") return TIER_COLOURS[String(s.p.tier)] || NO_TIER;
    if (s.cat === "buzzfeed") return statusColour(s.p.status);
    if (s.cat === "cultural") {
      const d = parseInt(s.damage, 10);
      return d >= 0 && d < DAMAGE_COLOURS.length ? DAMAGE_COLOURS[d] : NO_TIER;
    }
    return OTHER_COLOUR;
  }

  /* Every site's layer (s.cat), marker and outline, on one canvas renderer; tooltips and clicks per group. */
  app.initLayers = function () {
    const map = app.map, groups = app.groups;
    const statuses = [];
    app.sites.forEach((s) => {
      s.cat = category(s);
      if (has(s.p.status) && statuses.indexOf(String(s.p.status)) < 0) statuses.push(String(s.p.status));
    });
    statuses.sort();
    app.statuses = statuses;

    /* One tooltip and one click handler per group (not per site): cheap with tens of thousands of sites. */
    const siteOf = (layer) => (layer && layer._fmSite) || null;
    SITE_GROUPS.forEach((k) => {
      groups[k].bindTooltip((layer) => {
        const s = siteOf(layer);
        return h("span", { className: "fm-tip", text: s ? s.title : "" });
      }, k === "outlines" ? { sticky: true } : { direction: "top", offset: [0, -4] });
      groups[k].on("click", (e) => {
        const s = siteOf(e.sourceTarget || e.layer);
        if (s) app.openSite(s.id, { from: "map" });
      });
    });

    /* Cultural sites are drawn beneath the others (same canvas, so they stay clickable): turning them on
       never hides a facility. */
    groups.cultural.on("add", () => {
      groups.cultural.eachLayer((l) => { l.bringToBack(); });
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
      if (isFinite(lat) && isFinite(lon) && lat !== null) {
        s.latlng = L.latLng(lat, lon);
        s.marker = L.circleMarker(s.latlng, {
          renderer: renderer,
          radius: s.cat === "cultural" ? 4 : 6,
          color: "#1b1f24", weight: 1, opacity: 0.9,
          fillColor: colour(s), fillOpacity: 0.95
        });
        s.marker._fmSite = s;
      }
      const g = s.f.geometry;
      if (g && (g.type === "Polygon" || g.type === "MultiPolygon")) {
        s.outline = L.geoJSON(g, {
          renderer: renderer,
          style: { color: OUTLINE_COLOUR, weight: 2, opacity: 0.95, fillColor: OUTLINE_COLOUR, fillOpacity: 0.12 }
        });
        s.outline._fmSite = s;
        s.outline.eachLayer((l) => { l._fmSite = s; });
      }
    });

    /* Canvas order: within a layer, the higher tier, status or damage class on top; sites of one colour keep
       their order. */
    app.drawOrder = app.sites.map((s) => {
      const rank = s.cat === "detention" ? (parseInt(s.p.tier, 10) || 0) : s.cat === "buzzfeed" ? statuses.indexOf(String(s.p.status)) : s.cat === "cultural" ? (parseInt(s.damage, 10) || 0) : 0;
      return { s: s, rank: rank };
    }).sort((a, b) => a.rank - b.rank || a.s.i - b.s.i).map((x) => x.s);
  };

  /* Draw the sites app.matches lets through; returns how many are drawn (and sets data-site-count). */
  app.draw = function () {
    const map = app.map, groups = app.groups;
    /* Take each group off the map while it is refilled, so the canvas is redrawn once, not per site. */
    const onMap = new Map();
    SITE_GROUPS.forEach((k) => {
      onMap.set(k, map.hasLayer(groups[k]));
      if (onMap.get(k)) map.removeLayer(groups[k]);
      groups[k].clearLayers();
    });
    app.visible = app.sites.filter((s) => { s.shown = app.matches(s); return s.shown; });
    let drawn = 0;
    app.drawOrder.forEach((s) => {
      if (!s.shown) return;
      let placed = false;
      if (s.marker) { groups[s.cat].addLayer(s.marker); placed = true; }
      if (s.outline) { groups.outlines.addLayer(s.outline); placed = true; }
      if (placed) drawn += 1;
    });
    SITE_GROUPS.forEach((k) => { if (onMap.get(k)) map.addLayer(groups[k]); });
    document.documentElement.dataset.siteCount = String(drawn);
    return drawn;
  };

  /* The site's layer and class in words, under the panel title. */
  app.siteSubtitle = function (s) {
    const p = s.p, bits = [];
    if (s.cat === "detention") bits.push(has(p.tier) ? "Detention facility \u00b7 ASPI tier " + p.tier : "Detention facility \u00b7 no ASPI tier");
    else if (s.cat === "buzzfeed") bits.push("Known only from BuzzFeed News" + (has(p.status) ? " \u00b7 " + p.status : ""));
    else if (s.cat === "cultural") bits.push("Cultural site" + (has(s.damage) ? " \u00b7 damage index " + s.damage : ""));
    else bits.push(p.kind === "detention" ? "Detention facility (other sources)" : "Listed site");
    const place = [p.county, p.prefecture].filter(has).join(", ");
    if (place) bits.push(place);
    return bits.join(" \u00b7 ");
  };

  app.aboutLayers = "Detention facilities are coloured by ASPI's tier, its classification of each facility by the security features visible in satellite imagery: tier 1 is the lowest security (re-education facilities) and tier 4 the highest (prisons). Sites known only from BuzzFeed News are coloured by BuzzFeed's status. Outlines of compounds come from OpenStreetMap. Cultural sites (off by default; turn them on in the layer control) are coloured by ASPI's damage index.";

  app.initLegend = function () {
    const sites = app.sites, sources = app.sources;
    const Legend = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd: function () {
        const det = h("details", { className: "fm-legend leaflet-control" });
        if (window.innerWidth >= 640) det.open = true;
        det.appendChild(h("summary", { text: "Legend" }));
        const b = h("div", { className: "fm-legend-body" });
        const sw = (col, text, cls) =>
          h("li", null, [h("span", { className: "fm-swatch" + (cls ? " " + cls : ""), style: cls ? null : "background:" + col, "aria-hidden": "true" }), text]);
        b.appendChild(h("h2", { text: "Detention facilities: ASPI tier" }));
        b.appendChild(h("ul", null, [
          sw(TIER_COLOURS["1"], "Tier 1: lowest security (re-education)"),
          sw(TIER_COLOURS["2"], "Tier 2"),
          sw(TIER_COLOURS["3"], "Tier 3: higher security"),
          sw(TIER_COLOURS["4"], "Tier 4: prisons"),
          sw(NO_TIER, "No tier given")
        ]));
        const aspi = sources.filter((s) => isSource(s.slug, "aspi"))[0];
        const note = h("p", null, ["Tiers are ASPI's classification from satellite imagery. Source: "]);
        note.appendChild(aspi && safeUrl(aspi.citation_url) ? link(aspi.citation_url, "ASPI Xinjiang Data Project") : h("span", { text: "ASPI Xinjiang Data Project" }));
        b.appendChild(note);
        const bf = sites.filter((s) => s.cat === "buzzfeed");
        if (bf.length) {
          const ul = h("ul");
          app.statuses.forEach((st) => {
            if (bf.some((s) => String(s.p.status) === st)) ul.appendChild(sw(statusColour(st), st));
          });
          /* Long status lists fold away so the legend does not cover the map. */
          const sub = h("details", { className: "fm-legend-sub" }, [h("summary", { text: "Known only from BuzzFeed News (" + bf.length + "), by status" }), ul]);
          if (ul.childNodes.length <= 4) sub.open = true;
          b.appendChild(sub);
        }
        if (sites.some((s) => s.cat === "other")) {
          b.appendChild(h("ul", null, [sw(OTHER_COLOUR, "Other listed sites")]));
        }
        if (sites.some((s) => s.outline)) {
          b.appendChild(h("ul", null, [sw(null, "Compound outline (OpenStreetMap)", "fm-swatch-outline")]));
        }
        if (app.claimMarkers) {
          b.appendChild(h("ul", null, [h("li", null, [h("span", { className: "fm-swatch fm-swatch-claim", "aria-hidden": "true" }), "Finding with citations (dashed: about an area)"])]));
        }
        if (sites.some((s) => s.cat === "cultural")) {
          b.appendChild(h("details", { className: "fm-legend-sub" }, [
            h("summary", { text: "Cultural sites (layer off at start): ASPI damage index" }),
            h("ul", null, DAMAGE_COLOURS.map((c, i) => sw(c, String(i) + (i === 0 ? " (lowest)" : i === 4 ? " (highest)" : ""))))
          ]));
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
