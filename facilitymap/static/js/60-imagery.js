/* Part 60: imagery (issue 4): local raster overlays and the before/after swipe on the map; in a site's panel the
 * scenes timeline, the clearest scenes, footprints and "search imagery here" links. Does nothing without data.
 *
 * payload.scenes = {items, footprints, viewers, urls, rasters} (page.build_payload): each scene once, sites carry
 * scene ids. */
(function (app) {
  "use strict";
  const { h, has, day, link, safeUrl } = app;
  const TILE_COLOUR = "#0d47a1";

  function sceneStore(data) {
    const sc = data.scenes || {};
    return {
      items: sc.items || {},
      footprints: sc.footprints || {},
      viewers: sc.viewers || [],
      urls: sc.urls || [],
      rasters: sc.rasters || {}
    };
  }
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  /* A viewer link from its template: the site's place and the scene's day. */
  function fillViewer(template, latlng, when) {
    if (typeof template !== "string" || !latlng || !/^\d{4}-\d{2}-\d{2}/.test(String(when || ""))) return null;
    return app.fill(template, { lat: latlng.lat.toFixed(6), lon: latlng.lng.toFixed(6), day: String(when).slice(0, 10) });
  }

  /* Map-side imagery: local raster overlays (a layer in the layer control) and the before/after swipe. */
  app.initImagery = function () {
    const map = app.map, data = app.data;
    if (app.groups.tiles && data.tiles && (data.tiles.features || []).length) {
      L.geoJSON(data.tiles, {
        style: { color: TILE_COLOUR, weight: 1, opacity: 0.8, fill: true, fillOpacity: 0.02, dashArray: "2 4" },
        onEachFeature: (f, layer) => {
          layer.bindTooltip(() => h("span", { className: "fm-tip", text: "Sentinel-2 tile " + app.show((f.properties || {}).tile) }), { sticky: true });
        }
      }).addTo(app.groups.tiles);
    }
    const store = sceneStore(data);
    const ids = Object.keys(store.rasters).sort();
    const I = { map: map, store: store, overlays: new Map(), compare: null };
    app.imagery = I;
    if (!ids.length) return I;
    map.createPane("fm-imagery").style.zIndex = 350;
    map.createPane("fm-cmp-before").style.zIndex = 360;
    map.createPane("fm-cmp-after").style.zIndex = 370;
    const group = L.layerGroup();
    ids.forEach((id) => {
      const r = store.rasters[id];
      if (!/^data:image\/png;base64,/.test(String(r.image || "")) || !r.bounds) return;
      const ov = L.imageOverlay(r.image, r.bounds, { pane: "fm-imagery", interactive: false, alt: "Local image " + id + (r.datetime ? " (" + day(r.datetime) + ")" : "") });
      ov._fmRaster = id;
      I.overlays.set(id, ov);
      group.addLayer(ov);
    });
    group.addTo(map);
    if (app.control) app.control.addOverlay(group, "Local imagery (" + ids.length + (ids.length === 1 ? " image)" : " images)"));
    I.group = group;

    I.stopCompare = function () {
      const c = I.compare;
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
      const rb = own(store.rasters, beforeId) && store.rasters[beforeId], ra = own(store.rasters, afterId) && store.rasters[afterId];
      if (!rb || !ra) return null;
      const before = L.imageOverlay(rb.image, rb.bounds, { pane: "fm-cmp-before", interactive: false, alt: "Before: " + beforeId });
      const after = L.imageOverlay(ra.image, ra.bounds, { pane: "fm-cmp-after", interactive: false, alt: "After: " + afterId });
      before.addTo(map);
      after.addTo(map);
      map.getPane("fm-imagery").style.display = "none";
      const box = h("div", { className: "fm-swipe", id: "fm-swipe" });
      const line = h("div", { className: "fm-swipe-line", "aria-hidden": "true" });
      const lb = "Before: " + (day(rb.datetime) || beforeId), la = "After: " + (day(ra.datetime) || afterId);
      const input = h("input", { type: "range", id: "fm-swipe-range", min: "0", max: "100", step: "1", value: "50",
        "aria-valuetext": "divider at 50%; left " + lb + ", right " + la });
      const bar = h("div", { className: "fm-swipe-bar" }, [
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
        const size = map.getSize(), x = size.x * Number(input.value) / 100;
        const nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
        const mid = map.containerPointToLayerPoint([x, 0]).x;
        const poly = (x0, x1) => "polygon(" + [[x0, nw.y], [x1, nw.y], [x1, se.y], [x0, se.y]].map((p) => p[0].toFixed(1) + "px " + p[1].toFixed(1) + "px").join(", ") + ")";
        map.getPane("fm-cmp-before").style.clipPath = poly(nw.x, mid);
        map.getPane("fm-cmp-after").style.clipPath = poly(mid, se.x);
        line.style.left = x.toFixed(1) + "px";
        input.setAttribute("aria-valuetext", "divider at " + input.value + "%; left " + lb + ", right " + la);
      }
      input.addEventListener("input", clip);
      input.addEventListener("change", clip);
      bar.querySelector(".fm-swipe-stop").addEventListener("click", () => { I.stopCompare(); });
      map.on("move zoom zoomend viewreset resize", clip);
      I.compare = { before: before, after: after, box: box, input: input, clip: clip, onstop: onstop, ids: [beforeId, afterId] };
      map.fitBounds(L.latLngBounds(rb.bounds).extend(L.latLngBounds(ra.bounds)), { animate: false, padding: [20, 20] });
      clip();
      return input;
    };
    return I;
  };

  /* The "Satellite imagery" section of a site's panel. */
  app.renderImagery = function (s, panel, cites) {
    const p = s.p, im = p.imagery || null;
    const I = app.imagery;
    const store = I.store;
    const latest = (im && im.reference_month) || null;
    const tiles = (im && im.s2_tiles) || [];
    const sum = im && im.scenes && typeof im.scenes === "object" ? im.scenes : null;
    const rasterIds = ((im && im.rasters) || []).filter((id) => own(store.rasters, id));
    if (!im && !latest) return;

    const scene = (id) => (own(store.items, id) ? store.items[id] : null);
    const footprint = (id) => (own(store.footprints, id) ? store.footprints[id] : null);
    function sceneLine(id, prefix) {
      const sc = scene(id) || {};
      const bits = [day(sc.datetime), sc.collection || (own(store.rasters, id) ? "local image" : ""), sc.cloud_cover !== null && sc.cloud_cover !== undefined ? sc.cloud_cover + "% cloud" : ""].filter(has);
      const li = h("li", { "data-scene": id }, [prefix ? h("strong", { text: prefix + ": " }) : null].concat(app.joined(bits, " \u00b7 "), [" "]));
      const url = typeof sc.url === "number" ? String(store.urls[sc.url] || "").replace("{id}", id) : sc.url;
      if (safeUrl(url)) { li.appendChild(link(url, "STAC item")); li.appendChild(document.createTextNode(" ")); }
      const viewer = fillViewer(typeof sc.viewer === "number" ? store.viewers[sc.viewer] : null, s.latlng, sc.datetime);
      if (safeUrl(viewer)) { li.appendChild(link(viewer, "view at this site")); li.appendChild(document.createTextNode(" ")); }
      if (footprint(id)) {
        const fb = h("button", { type: "button", className: "fm-linkbtn fm-inline", text: "show footprint", "aria-label": "show footprint of " + (bits[0] || id) });
        fb.addEventListener("click", () => { app.showFootprint(footprint(id), id); });
        li.appendChild(fb);
      }
      return li;
    }

    panel.appendChild(h("h3", { text: "Satellite imagery" }));
    const dl = h("dl", { className: "fm-dl" });
    const row = (t, v, node) => { dl.appendChild(h("dt", { text: t })); dl.appendChild(node || h("dd", { text: v })); };
    if (latest) {
      const dd = h("dd", { text: latest });
      if (im.reference_source) dd.appendChild(cites.mark(cites.source(im.reference_source)));
      row(app.label(im.reference_field || "latest_imagery"), null, dd);
    }
    if (tiles.length) row("Sentinel-2 tiles", tiles.join(", "));
    if (sum && typeof sum.scenes === "number") {
      row("Scenes over the site", sum.scenes + (sum.scenes ? " (" + sum.under_cloud_threshold + " under " + sum.cloud_threshold + "% cloud)" : ""));
      const f = scene(sum.first), l = scene(sum.last);
      if (f) row("First", day(f.datetime));
      if (l) row("Last", day(l.datetime));
    }
    panel.appendChild(dl);

    /* months: {YYYY-MM: [scenes, best_cloud, best id]} from the summary */
    const months = new Map();
    Object.keys((sum && sum.months) || {}).filter((k) => /^\d{4}-\d{2}$/.test(k)).sort().forEach((k) => {
      const m = sum.months[k];
      months.set(k, Array.isArray(m) ? { scenes: m[0], best_cloud: m[1], best: m[2] } : m);
    });
    if (months.size) panel.appendChild(timeline(months));

    const best = [];
    if (sum && sum.years) {
      Object.keys(sum.years).sort().forEach((y) => { if (sum.years[y].best) best.push(["Clearest of " + y, sum.years[y].best]); });
      if (sum.nearest_to_reference && sum.nearest_to_reference.scene) best.push(["Nearest to the reference month", sum.nearest_to_reference.scene]);
    }
    if (best.length) {
      panel.appendChild(h("h4", { text: "Clearest scenes" }));
      const ul = h("ul", { className: "fm-list-plain fm-scenes", "aria-label": "Clearest scenes" });
      best.forEach((b) => { ul.appendChild(sceneLine(b[1], b[0])); });
      panel.appendChild(ul);
    }

    if (rasterIds.length) {
      panel.appendChild(h("h4", { text: "Local imagery over this site" }));
      const ru = h("ul", { className: "fm-list-plain fm-rasters", "aria-label": "Local images over this site" });
      rasterIds.forEach((id) => {
        const r = store.rasters[id];
        const li = h("li", { "data-raster": id }, [h("bdi", { text: id }), " \u00b7 " + (day(r.datetime) || "undated") + " "]);
        const zb = h("button", { type: "button", className: "fm-linkbtn fm-inline", text: "zoom to image", "aria-label": "zoom to image " + id });
        zb.addEventListener("click", () => { I.map.fitBounds(r.bounds, { animate: false, padding: [20, 20] }); });
        li.appendChild(zb);
        ru.appendChild(li);
      });
      panel.appendChild(ru);
      if (rasterIds.length >= 2 && I.startCompare) panel.appendChild(compareForm(rasterIds));
    }

    if (im && im.links && im.links.length) {
      const lp = h("p", null, ["Search imagery here: "]);
      im.links.forEach((l, i) => {
        if (i) lp.appendChild(document.createTextNode(" \u00b7 "));
        lp.appendChild(link(l.url, l.label || l.url));
      });
      panel.appendChild(lp);
    }

    /* One bar per month with scenes (height: count; darker: clearer best scene). Each bar is a button that
       draws the footprint of that month's clearest scene. */
    function timeline(months) {
      const keys = Array.from(months.keys());
      const y0 = parseInt(keys[0].slice(0, 4), 10), y1 = parseInt(keys[keys.length - 1].slice(0, 4), 10);
      const W = 300, H = 60, cols = (y1 - y0 + 1) * 12, bw = W / cols;
      let maxN = 1, total = 0;
      months.forEach((m) => { maxN = Math.max(maxN, m.scenes); total += m.scenes; });
      const NS = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(NS, "svg");
      svg.setAttribute("viewBox", "0 0 " + W + " " + (H + 14));
      svg.setAttribute("class", "fm-timeline");
      svg.setAttribute("role", "group");
      svg.setAttribute("aria-label", "Imagery timeline: " + total + " scenes in " + keys.length + " months from " + keys[0] + " to " + keys[keys.length - 1] + "; darker bars have clearer scenes");
      months.forEach((m, k) => {
        const idx = (parseInt(k.slice(0, 4), 10) - y0) * 12 + parseInt(k.slice(5, 7), 10) - 1;
        const bh = Math.max(2, H * m.scenes / maxN);
        const cc = m.best_cloud === null || m.best_cloud === undefined ? null : Number(m.best_cloud);
        const r = document.createElementNS(NS, "rect");
        r.setAttribute("x", String(idx * bw));
        r.setAttribute("y", String(H - bh));
        r.setAttribute("width", String(Math.max(1.5, bw - 0.5)));
        r.setAttribute("height", String(bh));
        r.setAttribute("data-month", k);
        const clear = cc === null ? 0.4 : 1 - Math.min(100, cc) / 100;
        r.setAttribute("fill", "rgba(11,92,173," + (0.25 + 0.75 * clear).toFixed(2) + ")");
        const text = k + ": " + m.scenes + (m.scenes === 1 ? " scene" : " scenes") + (cc !== null ? ", clearest " + cc + "% cloud" : "");
        const t = document.createElementNS(NS, "title");
        t.textContent = text;
        r.appendChild(t);
        if (m.best && footprint(m.best)) {
          r.setAttribute("tabindex", "0");
          r.setAttribute("role", "button");
          r.setAttribute("aria-label", text + ": show the footprint of the clearest scene");
          const go = () => { app.showFootprint(footprint(m.best), m.best); };
          r.addEventListener("click", go);
          r.addEventListener("keydown", (ev) => {
            if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); }
          });
        }
        svg.appendChild(r);
      });
      for (let y = y0; y <= y1; y++) {
        const tx = document.createElementNS(NS, "text");
        tx.setAttribute("x", String((y - y0) * 12 * bw));
        tx.setAttribute("y", String(H + 12));
        tx.setAttribute("font-size", "9");
        tx.textContent = String(y);
        svg.appendChild(tx);
      }
      return svg;
    }

    function compareForm(ids) {
      const form = h("form", { className: "fm-compare", "aria-label": "Compare two dates" });
      function pick(id, text, sel) {
        const select = h("select", { className: "fm-select", id: id });
        ids.forEach((rid) => {
          select.appendChild(h("option", { value: rid, text: (day(store.rasters[rid].datetime) || "undated") + " \u00b7 " + rid }));
        });
        select.value = sel;
        form.appendChild(h("label", { className: "fm-field", "for": id, text: text }));
        form.appendChild(select);
        return select;
      }
      const b = pick("fm-cmp-before-select", "Before (left of the divider)", ids[0]);
      const a = pick("fm-cmp-after-select", "After (right of the divider)", ids[ids.length - 1]);
      const go = h("button", { type: "submit", className: "fm-btn", id: "fm-cmp-start", text: "Compare before/after on the map" });
      form.appendChild(h("p", null, [go]));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const input = I.startCompare(b.value, a.value, () => { if (document.body.contains(go)) go.focus(); });
        if (input) input.focus();
      });
      return form;
    }
  };
})(window.FacilityMap);
