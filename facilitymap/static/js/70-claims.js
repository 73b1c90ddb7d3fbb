/* Part 70: claims (issue 5): the annotations layer (every claim about a place, drawn at its sites or its own
 * point), a finding's panel (#claim=...), and the findings section of a site's panel. */
(function (app) {
  "use strict";
  const { h, show } = app;
  const CLAIM_COLOUR = "#4a148c";

  function claimPlaces(c) {
    const out = [];
    (c.site_ids || []).forEach((id) => {
      const s = app.siteById.get(id);
      if (s && s.latlng) out.push(s.latlng);
    });
    const g = c.geometry;
    if (!out.length && g && g.type === "Point") out.push(L.latLng(g.coordinates[1], g.coordinates[0]));
    if (!out.length && g && g.type === "MultiPoint") g.coordinates.forEach((xy) => { out.push(L.latLng(xy[1], xy[0])); });
    return out;
  }

  app.isMapClaim = function (c) {
    const t = c.target;
    return t === "map" || (t && typeof t === "object" && (t.type === "map" || t.map === true)) || c.level === "map";
  };

  app.initClaims = function () {
    const group = app.groups.annotations;
    app.claimMarkers = 0;
    if (!group) return;
    app.claims.forEach((c) => {
      if (c.level === "map" || c.target === "map") return;
      claimPlaces(c).forEach((ll) => {
        const m = L.circleMarker(ll, {
          radius: 10, color: CLAIM_COLOUR, weight: 2, dashArray: c.level === "area" ? "4 3" : null,
          fill: true, fillOpacity: 0.05, fillColor: CLAIM_COLOUR
        });
        m._fmClaim = c;
        group.addLayer(m);
        app.claimMarkers += 1;
      });
    });
    group.bindTooltip((layer) => {
      const c = layer._fmClaim || {}, t = show(c.text);
      return h("span", { className: "fm-tip", text: (c.level === "area" ? "Area-level finding: " : "Finding: ") + (t.length > 90 ? t.slice(0, 87) + "\u2026" : t) });
    }, { direction: "top" });
    group.on("click", (e) => {
      const c = (e.sourceTarget || e.layer || {})._fmClaim;
      if (c) app.openClaim(c.id);
    });
  };

  app.claimNode = function (c, cites) {
    const box = h("div", { className: "fm-claim" });
    const head = h("p");
    if (c.generated) head.appendChild(h("span", { className: "fm-badge", text: "generated from the datasets" }));
    const t = c.target;
    const area = c.level === "area" ? c.area : (t && typeof t === "object" && (t.type === "area" || t.area || t.county)) ? (t.name || t.area || t.county) : null;
    if (area) head.appendChild(h("span", { className: "fm-badge", text: "area-level: " + show(area) }));
    if (c.status) head.appendChild(h("span", { className: "fm-badge", text: c.status }));
    if (c.date || c.period) head.appendChild(h("span", { className: "fm-badge", text: show(c.date || c.period) }));
    if (head.firstChild) box.appendChild(head);
    const text = h("p", null, [app.bdi(c.text)]);
    if (area) box.appendChild(h("p", { className: "fm-note", text: "About the area as a whole, not this facility in particular." }));
    (c.citations || []).forEach((w) => { text.appendChild(cites.mark(cites.work(w))); });
    (c.sources || []).forEach((slug) => { text.appendChild(cites.mark(cites.source(slug))); });
    box.appendChild(text);
    return box;
  };

  app.openClaim = function (id, opts) {
    const c = app.claimById.get(id);
    if (!c) { app.say(app.statusEl, ["No finding with the id \u201c", app.bdi(id), "\u201d on this map."]); return false; }
    opts = opts || {};
    const panel = app.openPanel("claim", c.level === "area" ? "Finding about " + show(c.area || "an area") : "Finding", (body) => {
      const cites = app.Citations();
      body.appendChild(app.claimNode(c, cites));
      const here = (c.site_ids || []).map((sid) => app.siteById.get(sid)).filter(Boolean);
      if (here.length) {
        body.appendChild(h("h3", { text: c.level === "area" ? "Drawn at the sites of this area (" + here.length + ")" : "Sites" }));
        const ul = h("ul", { className: "fm-results" });
        here.forEach((s) => {
          const b = h("button", { type: "button", className: "fm-linkbtn" }, [h("bdi", { text: s.title })]);
          b.addEventListener("click", () => { app.openSite(s.id, { from: "claim" }); });
          ul.appendChild(h("li", null, [b]));
        });
        body.appendChild(ul);
      }
      cites.render(body);
    }, "claim=" + encodeURIComponent(id), opts.focus);
    panel.setAttribute("data-claim", id);
    const pts = claimPlaces(c);
    if (pts.length) app.map.fitBounds(L.latLngBounds(pts), { maxZoom: 12, animate: false, padding: [30, 30] });
    return true;
  };

  /* The "Findings and claims" section of a site's panel. */
  app.renderClaims = function (s, panel, cites) {
    const list = (s.p.claims || []).map((id) => app.claimById.get(id)).filter(Boolean);
    if (!list.length) return;
    panel.appendChild(h("h3", { text: "Findings and claims" }));
    list.forEach((c) => { panel.appendChild(app.claimNode(c, cites)); });
  };
})(window.FacilityMap);
