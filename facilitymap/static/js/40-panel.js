/* Part 40: the side panel (one at a time: a site, search, about, sources, a finding), its citations, the
 * highlight of the open site, and deep links (#site=..., #claim=..., #sources, #about, #search). */
(function (app) {
  "use strict";
  const { h, has, link, safeUrl, show } = app;
  const HIGHLIGHT = "#00e5ff";
  const PLACE_FIELDS = ["county", "prefecture", "region"];
  const isName = (k) => k === "name" || /^name_[a-z]{2,3}(_[a-z0-9]+)*$/i.test(k);
  const RECORD_ID = /^[A-Za-z0-9_.:\/-]+$/;

  /* Key facts of a site panel: the fields the layers colour by, then the place. */
  function keyFields() {
    const out = [];
    app.layers.forEach((l) => { if (l.color_by && out.indexOf(l.color_by) < 0) out.push(l.color_by); });
    PLACE_FIELDS.forEach((k) => { if (out.indexOf(k) < 0) out.push(k); });
    return out;
  }

  /* The name fields to show, in the order of payload.fields (English or the main name first). */
  function nameFields(p) {
    const keys = Object.keys(app.fields).filter((k) => isName(k) && k !== "name");
    Object.keys(p).sort().forEach((k) => { if (isName(k) && k !== "name" && keys.indexOf(k) < 0) keys.push(k); });
    const i = keys.indexOf("name_en");
    if (i > 0) { keys.splice(i, 1); keys.unshift("name_en"); }
    return keys;
  }

  /* A link to the record at its publisher, from the source's record_url template ("{record_id}"). */
  function recordLink(src, recordId) {
    if (!src || typeof src.record_url !== "string" || !RECORD_ID.test(recordId)) return null;
    const url = safeUrl(app.fill(src.record_url, { record_id: recordId }));
    if (!url) return null;
    return link(url, "view on " + new URL(url).hostname.replace(/^www\./, ""));
  }

  let current = null;   // the open panel's mode
  let els = null;       // the panel's elements

  app.initPanel = function () {
    const map = app.map;
    els = {
      panel: document.getElementById("fm-panel"),
      title: document.getElementById("fm-panel-title"),
      body: document.getElementById("fm-panel-body"),
      buttons: {
        search: document.getElementById("fm-btn-search"),
        about: document.getElementById("fm-btn-about"),
        sources: document.getElementById("fm-btn-sources")
      }
    };
    app.statusEl = document.getElementById("fm-status");
    app.opener = null;
    app.highlight = L.layerGroup().addTo(map);

    const toggle = (mode, fn) => (ev) => {
      if (current === mode) { app.closePanel(); return; }
      app.opener = ev.currentTarget;
      fn();
    };
    document.getElementById("fm-close").addEventListener("click", app.closePanel);
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && !els.panel.hidden) app.closePanel();
    });
    els.buttons.search.addEventListener("click", toggle("search", () => app.openSearch()));
    els.buttons.about.addEventListener("click", toggle("about", () => app.openAbout()));
    els.buttons.sources.addEventListener("click", toggle("sources", () => app.openSources()));
    window.addEventListener("hashchange", () => {
      app.applyHash(true);
      const root = document.querySelector(".fm-app");
      if (root && root.scrollIntoView) root.scrollIntoView();
    });
  };

  function setHighlight(s) {
    app.highlight.clearLayers();
    if (!s) return;
    if (s.f.geometry && s.outline) {
      L.geoJSON(s.f.geometry, { interactive: false, style: { color: HIGHLIGHT, weight: 4, fill: false } }).addTo(app.highlight);
    }
    if (s.latlng) {
      L.circleMarker(s.latlng, { interactive: false, radius: 11, color: HIGHLIGHT, weight: 3, fill: false }).addTo(app.highlight);
    }
  }

  function setHash(hash) {
    const base = location.href.split("#")[0], extra = app.hashExtra ? app.hashExtra() : "";  // e.g. "t=2018"
    hash = [hash, extra].filter(Boolean).join("&");
    try {
      history.replaceState(null, "", hash ? base + "#" + hash : base);
    } catch (e) { /* sandboxed frames may refuse; the page still works */ }
  }

  app.panelMode = () => current;
  app.searchButton = () => els.buttons.search;

  /* Open the panel as `mode` with `title`; build(body) fills it; `hash` is the address it gets. */
  app.openPanel = function (mode, title, build, hash, focus) {
    current = mode;
    els.title.textContent = title;
    while (els.body.firstChild) els.body.removeChild(els.body.firstChild);
    build(els.body);
    els.body.scrollTop = 0;
    els.panel.hidden = false;
    els.panel.setAttribute("data-mode", mode);
    els.panel.removeAttribute("data-site");
    els.panel.removeAttribute("data-claim");
    Object.keys(els.buttons).forEach((k) => { els.buttons[k].setAttribute("aria-expanded", String(k === mode)); });
    setHash(hash);
    app.map.invalidateSize({ pan: false });
    if (focus !== false) els.title.focus();
    return els.panel;
  };

  app.closePanel = function () {
    if (els.panel.hidden) return;
    els.panel.hidden = true;
    current = null;
    els.panel.removeAttribute("data-mode");
    els.panel.removeAttribute("data-site");
    els.panel.removeAttribute("data-claim");
    Object.keys(els.buttons).forEach((k) => { els.buttons[k].setAttribute("aria-expanded", "false"); });
    setHighlight(null);
    setHash("");
    app.map.invalidateSize({ pan: false });
    if (app.opener && document.body.contains(app.opener)) app.opener.focus();
    app.opener = null;
  };

  /* Numbered citations for one panel: sources and cited works share one list. */
  app.Citations = function () {
    const items = [], keys = new Map();
    return {
      source: function (slug) {
        const k = "s:" + slug;
        if (!keys.has(k)) { items.push({ source: slug }); keys.set(k, items.length); }
        return keys.get(k);
      },
      work: function (c) {
        const k = "w:" + JSON.stringify(c);
        if (!keys.has(k)) { items.push({ work: c }); keys.set(k, items.length); }
        return keys.get(k);
      },
      mark: (n) => h("span", { className: "fm-fn", text: "[" + n + "]" }),
      render: function (parent) {
        if (!items.length) return;
        parent.appendChild(h("h3", { text: "Sources cited" }));
        const ol = h("ol", { className: "fm-cites" });
        items.forEach((it) => {
          ol.appendChild(h("li", null, [it.source ? sourceCitation(it.source) : app.workCitation(it.work)]));
        });
        parent.appendChild(ol);
      }
    };
  };

  function licenceNode(lic) {
    if (!lic) return h("span", { text: "No licence stated" });
    const text = lic.title || lic.name || "No licence stated";
    return safeUrl(lic.path) ? link(lic.path, text) : app.bdi(text);
  }

  function sourceCitation(slug) {
    const s = app.sourceBySlug.get(slug);
    if (!s) return h("span", { text: slug });
    const lic = (s.licence) || (s.licenses && s.licenses[0]);
    return h("span", null, [
      app.bdi(String(s.citation || s.title || slug).replace(/\.\s*$/, "")), ". ",  // one full stop, also after "2026."
      s.publisher ? app.bdi(s.publisher) : "", s.publisher ? ". " : "",
      "Licence: ", licenceNode(lic), ". ",
      s.retrieved ? "Retrieved " : "", s.retrieved ? app.bdi(s.retrieved) : "", s.retrieved ? ". " : "",
      safeUrl(s.citation_url) ? link(s.citation_url) : ""
    ]);
  }

  app.workCitation = function (c) {
    const bdi = app.bdi;
    if (c.reference) {
      const ref = h("span", null, [bdi(c.reference), c.locator ? ", " : "", c.locator ? bdi(c.locator) : "", ". "]);
      if (c.quote) { ref.appendChild(h("q", { text: c.quote })); ref.appendChild(document.createTextNode(" ")); }
      if (c.url) ref.appendChild(link(c.url));
      if (safeUrl(c.archived_url)) {
        ref.appendChild(document.createTextNode(" (archived: "));
        ref.appendChild(link(c.archived_url, "copy"));
        ref.appendChild(document.createTextNode(")"));
      }
      return ref;
    }
    const who = c.author || c.publisher || "";
    const parts = [];
    if (who) parts.push(bdi(who), ", ");
    parts.push("\u201c", bdi(c.title || "Untitled"), "\u201d");
    if (c.journal || c["container-title"]) parts.push(", ", bdi(c.journal || c["container-title"]));
    if (c.volume) parts.push(", vol. ", bdi(c.volume));
    if (c.pages) parts.push(", pp. ", bdi(c.pages));
    if (c.publisher && c.author) parts.push(", ", bdi(c.publisher));
    parts.push(" (", bdi(c.published || "n.d."), ")");
    if (c.locator) parts.push(", ", bdi(c.locator));
    parts.push(". ");
    const node = h("span", null, parts);
    if (c.quote) node.appendChild(h("q", { text: c.quote }));
    if (c.quote) node.appendChild(document.createTextNode(" "));
    if (c.doi) node.appendChild(h("span", null, ["DOI ", bdi(c.doi), " "]));
    if (safeUrl(c.url)) node.appendChild(link(c.url));
    if (safeUrl(c.archived_url)) {
      node.appendChild(document.createTextNode(" (archived: "));
      node.appendChild(link(c.archived_url, "copy"));
      node.appendChild(document.createTextNode(")"));
    }
    return node;
  };

  function nameRow(dl, term, value, lang, dir) {
    if (!has(value)) return;
    dl.appendChild(h("dt", { text: term }));
    dl.appendChild(h("dd", { lang: lang, dir: dir || "auto", className: "fm-bidi", text: value }));
  }

  /* "3 — ABC [1][2]": one line per distinct value, naming every source that gives it. */
  function valueWithSources(values, cites) {
    const dd = h("dd"), order = [], byValue = new Map();
    values.forEach((a) => {
      const k = show(a.value);
      if (!byValue.has(k)) { byValue.set(k, []); order.push(k); }
      if (a.source && byValue.get(k).indexOf(a.source) < 0) byValue.get(k).push(a.source);
    });
    order.forEach((k, i) => {
      if (i) dd.appendChild(h("br"));
      dd.appendChild(h("bdi", { text: k }));
      const names = [];
      byValue.get(k).forEach((slug) => {
        const n = app.sourceShort(slug);
        if (names.indexOf(n) < 0) names.push(n);
      });
      if (names.length) dd.appendChild(h("span", { className: "fm-src" }, [" \u2014 "].concat(app.joined(names, ", "))));
      byValue.get(k).forEach((slug) => { dd.appendChild(cites.mark(cites.source(slug))); });
    });
    return dd;
  }

  function isOutlineSource(slug) { return (app.sourceBySlug.get(slug) || {}).layer === "outlines"; }

  function buildSite(s, body) {
    const p = app.fullSite(s), cites = app.Citations(), attrs = p.attributes || Object.create(null);
    const label = app.label, sourceShort = app.sourceShort;
    body.appendChild(h("p", { className: "fm-sub" }, app.siteSubtitleNodes(s)));

    const names = h("dl", { className: "fm-dl" });
    const english = has(app.fields.name_en);  // a map that declares English names shows the main name as one
    nameFields(p).forEach((k) => {
      const lang = k.slice(5).replace(/_/g, "-");
      nameRow(names, label(k), k === "name_en" && english ? p.name_en || p.name : p[k], lang);
    });
    if (names.firstChild) {
      body.appendChild(h("h3", { text: "Names" }));
      body.appendChild(names);
    }

    const facts = h("dl", { className: "fm-dl" });
    const keys = keyFields();
    keys.forEach((k) => {
      const vals = attrs[k] && attrs[k].length ? attrs[k] : has(p[k]) ? [{ value: p[k] }] : [];
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

    const recs = p.records || [];
    if (recs.length) {
      body.appendChild(h("h3", { text: "Listed in " + recs.length + (recs.length === 1 ? " dataset record" : " dataset records") }));
      const ul = h("ul", { className: "fm-list-plain" });
      recs.forEach((r) => {
        const src = app.sourceBySlug.get(r.source);
        const li = h("li", null, [app.bdi((src && src.title) || r.source), ", record ", h("bdi", { text: show(r.record_id) })]);
        li.appendChild(cites.mark(cites.source(r.source)));
        const rl = recordLink(src, show(r.record_id));
        if (rl) {
          li.appendChild(document.createTextNode(" \u00b7 "));
          li.appendChild(rl);
        }
        ul.appendChild(li);
      });
      body.appendChild(ul);
    }

    const dis = p.disagreements || [];
    if (dis.length) {
      body.appendChild(h("h3", { text: "Where the datasets disagree" }));
      const dl = h("ul", { className: "fm-list-plain" });
      dis.forEach((d) => {
        const li = h("li", null, [h("strong", null, [app.bdi(label(d.field)), ": "])]);
        (d.values || []).forEach((v, i) => {
          if (i) li.appendChild(document.createTextNode("; "));
          li.appendChild(h("bdi", { text: show(v.value) }));
          if (v.source) {
            li.appendChild(h("span", { className: "fm-src" }, [" (", app.bdi(sourceShort(v.source)), ")"]));
            li.appendChild(cites.mark(cites.source(v.source)));
          }
        });
        if (has(d.note)) li.appendChild(h("div", { className: "fm-note", text: d.note }));
        dl.appendChild(li);
      });
      body.appendChild(dl);
    }

    const outlineTitle = (app.layers[s.outlineLayer] || {}).title || "Outline";
    if (s.outline) {
      const outlineRec = recs.filter((r) => isOutlineSource(r.source))[0];
      body.appendChild(h("h3", { text: outlineTitle }));
      const op = h("p", null, ["Outline drawn on the map from ", outlineRec ? app.bdi(sourceShort(outlineRec.source)) : "the outline source"]);
      if (outlineRec) op.appendChild(cites.mark(cites.source(outlineRec.source)));
      op.appendChild(document.createTextNode("."));
      body.appendChild(op);
    }
    const near = (p.near_outlines || []).filter((n) => app.siteById.has(n.site_id));
    if (near.length) {
      // One outline per site: a facility inside (or beside) a compound whose outline went to a neighbour says so.
      body.appendChild(h("h3", { text: s.outline ? "Other outlines here" : "Outline" }));
      const nl = h("ul", { className: "fm-results" });
      near.forEach((n) => {
        const holder = app.siteById.get(n.site_id);
        const b = h("button", { type: "button", className: "fm-linkbtn" }, [h("bdi", { text: holder.title })]);
        b.addEventListener("click", () => { app.openSite(holder.id, { from: "outline" }); });
        const li = h("li", null, [
          document.createTextNode(n.method === "containment" ? "Inside the outline of " : "Within " + n.distance_m + " m of the outline of "),
          b,
          " (", app.bdi(sourceShort(n.source)), " ", app.bdi(n.record_id), ")"
        ]);
        li.appendChild(cites.mark(cites.source(n.source)));
        nl.appendChild(li);
      });
      body.appendChild(nl);
    }

    app.renderImagery(s, body, cites);
    app.renderClaims(s, body, cites);
    app.hooks.sitePanel.forEach((fn) => fn(s, body, cites));

    const rest = Object.keys(attrs).filter((k) => keys.indexOf(k) < 0 && !isName(k)).sort();
    if (rest.length) {
      const det = h("details", null, [h("summary", { text: "All attributes (" + rest.length + ")" })]);
      const table = h("table", { className: "fm-attr" }, [
        h("thead", null, [h("tr", null, [h("th", { scope: "col", text: "Field" }), h("th", { scope: "col", text: "Value" }), h("th", { scope: "col", text: "Source" })])])
      ]);
      const tb = h("tbody");
      rest.forEach((k) => {
        attrs[k].forEach((a) => {
          const src = h("td", null, [a.source ? app.bdi(sourceShort(a.source)) : ""]);
          if (a.source) src.appendChild(cites.mark(cites.source(a.source)));
          tb.appendChild(h("tr", null, [h("th", { scope: "row", text: label(k) }), h("td", null, [h("bdi", { text: show(a.value) })]), src]));
        });
      });
      table.appendChild(tb);
      det.appendChild(table);
      body.appendChild(det);
    }

    cites.render(body);
    const url = location.href.split("#")[0] + "#site=" + encodeURIComponent(s.id);
    body.appendChild(h("h3", { text: "Link to this site" }));
    body.appendChild(h("label", { className: "fm-note", "for": "fm-site-link", text: "Copy this address to share the map open at this site" }));
    const inp = h("input", { className: "fm-input", id: "fm-site-link", readonly: true, type: "text" });
    inp.value = url;
    body.appendChild(inp);
  }

  /* A scene's footprint on the map (one at a time), until the panel closes or another site opens. */
  let footprintLayer = null;
  app.showFootprint = function (geometry, sceneId) {
    if (footprintLayer) app.highlight.removeLayer(footprintLayer);
    const fp = L.geoJSON(geometry, { interactive: false, style: { color: "#ff6f00", weight: 2, dashArray: "6 4", fillOpacity: 0.05 } });
    fp._fmScene = sceneId || null;
    fp.eachLayer((l) => { l._fmScene = sceneId || null; });
    footprintLayer = fp;
    app.say(app.statusEl, ["Footprint of scene ", app.bdi(sceneId || ""), " drawn on the map."]);
    fp.addTo(app.highlight);
    app.map.fitBounds(fp.getBounds(), { animate: false, padding: [20, 20] });
  };

  app.openSite = function (id, opts) {
    const s = app.siteById.get(id);
    if (!s) { app.say(app.statusEl, ["No site with the id \u201c", app.bdi(id), "\u201d on this map."]); return false; }
    opts = opts || {};
    if (opts.from !== "hash" && document.activeElement && document.activeElement !== document.body) {
      app.opener = app.opener || document.activeElement;
    }
    const panel = app.openPanel("site", s.title, (body) => { buildSite(s, body); }, "site=" + encodeURIComponent(s.id), opts.focus);
    panel.setAttribute("data-site", s.id);
    setHighlight(s);
    if (s.outline) app.map.fitBounds(s.outline.getBounds(), { maxZoom: 17, animate: false, padding: [20, 20] });
    else if (s.latlng) app.map.setView(s.latlng, Math.max(app.map.getZoom(), 14), { animate: false });
    return true;
  };

  app.openSources = function () {
    app.openPanel("sources", "Sources", (body) => {
      body.appendChild(h("p", { className: "fm-note", text: "Every site and attribute on this map comes from the datasets below. Each site's panel names the source of each value." }));
      app.sources.forEach((s) => {
        const card = h("section", { className: "fm-source-card", "aria-label": s.title || s.slug });
        card.appendChild(h("h4", null, [safeUrl(s.citation_url) ? link(s.citation_url, s.title || s.slug) : (s.title || s.slug)]));
        const dl = h("dl", { className: "fm-dl" });
        const row = (t, node) => { if (!node) return; dl.appendChild(h("dt", { text: t })); dl.appendChild(h("dd", null, [node])); };
        row("Publisher", s.publisher ? h("span", { text: s.publisher }) : null);
        row("Licence", licenceNode(s.licence || (s.licenses && s.licenses[0])));
        row("Retrieved", s.retrieved ? h("span", { text: s.retrieved }) : null);
        row("Cite as", s.citation ? h("span", { text: s.citation }) : null);
        row("Link", s.citation_url ? link(s.citation_url) : null);
        card.appendChild(dl);
        body.appendChild(card);
      });
      const works = [];
      app.claims.forEach((c) => { (c.citations || []).forEach((w) => { works.push(w); }); });
      if (works.length) {
        body.appendChild(h("h3", { text: "Works cited in claims" }));
        const seen = new Set(), ol = h("ul", { className: "fm-list-plain" });
        works.forEach((w) => {
          const k = JSON.stringify([w.title, w.url, w.author, w.publisher, w.published]);
          if (seen.has(k)) return;
          seen.add(k);
          ol.appendChild(h("li", null, [app.workCitation(w)]));
        });
        body.appendChild(ol);
      }
      const meta = app.meta;
      body.appendChild(h("h3", { text: "How to cite this map" }));
      body.appendChild(h("p", { text: meta.cite_as || ((meta.title || "This map") + ". Built with facilitymap from the sources listed above.") }));
      body.appendChild(h("p", { className: "fm-note", text: "Please also cite the original datasets, and add the date you accessed the map." }));
      body.appendChild(h("h3", { text: "Data behind this map" }));
      const files = h("ul", { className: "fm-list-plain" });
      [["sites.geojson", "Sites (GeoJSON)"], ["sites.csv", "Sites (CSV)"], ["records.csv", "Source records (CSV)"], ["sources.json", "Sources (JSON)"], ["citations.json", "Citations (CSL-JSON)"]].forEach((f) => {
        files.appendChild(h("li", null, [h("a", { href: f[0], text: f[1] })]));
      });
      body.appendChild(files);
    }, "sources");
  };

  app.openAbout = function () {
    app.openPanel("about", "About this map", (body) => {
      const meta = app.meta;
      if (meta.description) body.appendChild(h("p", { text: meta.description }));
      body.appendChild(h("h3", { text: "Reading the map" }));
      body.appendChild(h("p", null, app.aboutLayers()));
      const mc = app.claims.filter(app.isMapClaim);
      if (mc.length) {
        body.appendChild(h("h3", { text: "Findings about the whole map" }));
        const cites = app.Citations();
        mc.forEach((c) => { body.appendChild(app.claimNode(c, cites)); });
        cites.render(body);
      }
      app.hooks.about.forEach((fn) => fn(body));
      body.appendChild(h("h3", { text: "Privacy" }));
      body.appendChild(h("p", { className: "fm-note", text: "This page loads nothing from other servers except the background map tiles of the basemap you choose (none when it is built without a basemap)." }));
    }, "about");
  };

  app.applyHash = function (focus) {
    const hash = location.hash.replace(/^#/, "").split("&").filter((p) => !/^t=/.test(p)).join("&");  // t: 65-timeline
    const m = /^site=(.+)$/.exec(hash);
    if (m) {
      let id;
      try { id = decodeURIComponent(m[1]); } catch (e) { id = m[1]; }
      if (current === "site" && els.panel.getAttribute("data-site") === id) return;
      app.openSite(id, { from: "hash", focus: focus });
    } else if (/^claim=/.test(hash)) {
      let cid;
      try { cid = decodeURIComponent(hash.slice(6)); } catch (e) { cid = hash.slice(6); }
      if (!(current === "claim" && els.panel.getAttribute("data-claim") === cid)) app.openClaim(cid, { focus: focus });
    } else if (hash === "sources") app.openSources();
    else if (hash === "about") app.openAbout();
    else if (hash === "search") app.openSearch();
  };
})(window.FacilityMap);
