/* Part 50: search and filters: the "Search and filter" panel and app.matches, which app.draw asks per site.
 * Each layer coloured by a field gets one checkbox per legend entry. */
(function (app) {
  "use strict";
  const { h, has, norm } = app;

  /* hidden: layer index -> Set of hidden legend entry indexes. */
  const state = { q: "", qRaw: "", hidden: new Map(), source: "" };
  app.filterState = state;

  app.matches = function (s) {
    if (state.q && s.search.indexOf(state.q) < 0) return false;
    const hidden = state.hidden.get(s.layer);
    if (hidden && s.cls !== null && hidden.has(s.cls)) return false;
    if (state.source && s.sources.indexOf(state.source) < 0) return false;
    return app.hooks.filter.every((fn) => fn(s) !== false);
  };

  app.openSearch = function () {
    app.openPanel("search", "Search and filter", (body) => {
      body.appendChild(h("label", { className: "fm-field", "for": "fm-q", text: "Name (any script) or place" }));
      const q = h("input", { className: "fm-input", id: "fm-q", type: "search", autocomplete: "off" });
      q.value = state.qRaw || "";
      body.appendChild(q);

      const boxes = [];
      app.layers.forEach((layer, li) => {
        if (!layer.color_by || !layer.count || !layer.legend.length) return;
        const fs = h("fieldset", { className: "fm-fieldset" }, [h("legend", { text: layer.title })]);
        if (!state.hidden.has(li)) state.hidden.set(li, new Set());
        const hidden = state.hidden.get(li);
        layer.legend.forEach((e, k) => {
          if (!e[2]) return;
          const id = "fm-filter-" + layer.id + "-" + (e[0] === null ? "none" : k);
          const cb = h("input", { type: "checkbox", id: id, value: String(k) });
          cb.checked = !hidden.has(k);
          cb.addEventListener("change", () => { if (cb.checked) hidden.delete(k); else hidden.add(k); update(); });
          boxes.push(cb);
          fs.appendChild(h("label", { className: "fm-check", "for": id }, [cb, app.bdi(app.entryLabel(layer, e))]));
        });
        body.appendChild(fs);
      });

      body.appendChild(h("label", { className: "fm-field", "for": "fm-source-filter", text: "Listed in source" }));
      const so = h("select", { className: "fm-select", id: "fm-source-filter" }, [h("option", { value: "", text: "Any source" })]);
      app.sources.forEach((src) => { so.appendChild(h("option", { value: src.slug, text: src.title || src.slug })); });
      so.value = state.source;
      body.appendChild(so);

      const reset = h("button", { type: "button", className: "fm-btn", id: "fm-reset", text: "Clear search and filters" });
      body.appendChild(h("p", null, [reset]));
      const count = h("p", { className: "fm-note", id: "fm-count" });
      body.appendChild(count);
      const results = h("ul", { className: "fm-results", id: "fm-results", "aria-label": "Matching sites" });
      body.appendChild(results);

      function update() {
        state.qRaw = q.value;
        state.q = norm(q.value.trim());
        state.source = so.value;
        const n = app.draw(), visible = app.visible;
        count.textContent = visible.length + " of " + app.sites.length + " sites match" + (visible.length > 100 ? " (first 100 listed)" : "") + ".";
        app.statusEl.textContent = n + " sites shown on the map.";
        while (results.firstChild) results.removeChild(results.firstChild);
        visible.slice(0, 100).forEach((s) => {
          const b = h("button", { type: "button", className: "fm-linkbtn", "data-site": s.id }, [h("bdi", { text: s.title })]);
          const other = Object.keys(s.p).filter((k) => /^name_/.test(k) && k !== "name_en" && has(s.p[k]) && s.p[k] !== s.title)[0];
          const extra = [other ? s.p[other] : null, s.p.county].filter(has);
          if (extra.length) b.appendChild(h("span", { className: "fm-src" }, [" \u2014 "].concat(app.joined(extra, " \u00b7 "))));
          b.addEventListener("click", () => { app.opener = app.searchButton(); app.openSite(s.id, { from: "search" }); });
          results.appendChild(h("li", null, [b]));
        });
      }
      q.addEventListener("input", update);
      so.addEventListener("change", update);
      reset.addEventListener("click", () => {
        q.value = ""; so.value = "";
        state.hidden.forEach((set) => set.clear());
        boxes.forEach((cb) => { cb.checked = true; });
        update();
      });
      update();
    }, "search");
  };
})(window.FacilityMap);
