/* Part 50: search and filters: the "Search and filter" panel and app.matches, which app.draw asks per site. */
(function (app) {
  "use strict";
  const { h, has, norm } = app;

  const state = { q: "", qRaw: "", tiers: { "1": true, "2": true, "3": true, "4": true, none: true }, status: "", source: "" };
  app.filterState = state;

  app.matches = function (s) {
    if (state.q && s.search.indexOf(state.q) < 0) return false;
    const t = has(s.p.tier) ? String(s.p.tier) : "none";
    if (state.tiers[t] === false) return false;
    if (state.status && String(s.p.status) !== state.status) return false;
    if (state.source && s.sources.indexOf(state.source) < 0) return false;
    return app.hooks.filter.every((fn) => fn(s) !== false);
  };

  app.openSearch = function () {
    app.openPanel("search", "Search and filter", (body) => {
      body.appendChild(h("label", { className: "fm-field", "for": "fm-q", text: "Name (any script) or county" }));
      const q = h("input", { className: "fm-input", id: "fm-q", type: "search", autocomplete: "off", placeholder: "e.g. Hotan, 和田, خوتەن" });
      q.value = state.qRaw || "";
      body.appendChild(q);

      const fs = h("fieldset", { className: "fm-fieldset" }, [h("legend", { text: "ASPI tier" })]);
      ["1", "2", "3", "4", "none"].forEach((t) => {
        const cb = h("input", { type: "checkbox", id: "fm-tier-" + t, value: t });
        cb.checked = state.tiers[t] !== false;
        cb.addEventListener("change", () => { state.tiers[t] = cb.checked; update(); });
        fs.appendChild(h("label", { className: "fm-check", "for": "fm-tier-" + t }, [cb, t === "none" ? "No tier" : "Tier " + t]));
      });
      body.appendChild(fs);

      body.appendChild(h("label", { className: "fm-field", "for": "fm-status-filter", text: "Status (BuzzFeed News)" }));
      const st = h("select", { className: "fm-select", id: "fm-status-filter" }, [h("option", { value: "", text: "Any status" })]);
      app.statuses.forEach((v) => { st.appendChild(h("option", { value: v, text: v })); });
      st.value = state.status;
      body.appendChild(st);

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
        state.status = st.value;
        state.source = so.value;
        const n = app.draw(), visible = app.visible;
        count.textContent = visible.length + " of " + app.sites.length + " sites match" + (visible.length > 100 ? " (first 100 listed)" : "") + ".";
        app.statusEl.textContent = n + " sites shown on the map.";
        while (results.firstChild) results.removeChild(results.firstChild);
        visible.slice(0, 100).forEach((s) => {
          const b = h("button", { type: "button", className: "fm-linkbtn", "data-site": s.id }, [h("bdi", { text: s.title })]);
          const extra = [s.p.name_zh, s.p.county].filter(has).join(" \u00b7 ");
          if (extra) b.appendChild(h("span", { className: "fm-src", text: " \u2014 " + extra }));
          b.addEventListener("click", () => { app.opener = app.searchButton(); app.openSite(s.id, { from: "search" }); });
          results.appendChild(h("li", null, [b]));
        });
      }
      q.addEventListener("input", update);
      st.addEventListener("change", update);
      so.addEventListener("change", update);
      reset.addEventListener("click", () => {
        q.value = ""; st.value = ""; so.value = "";
        Object.keys(state.tiers).forEach((t) => { state.tiers[t] = true; });
        body.querySelectorAll("input[type=checkbox]").forEach((cb) => { cb.checked = true; });
        update();
      });
      update();
    }, "search");
  };
})(window.FacilityMap);
