/* Part 65: time on the map (DESIGN.md "Time"). payload.time (page.page_time: timeline.time_payload in compact
 * form) becomes app.time; the drawing functions are fmTimeline's (static/timeline.js, first in the page script).
 *
 * - a year control (bottom right): a keyboard-operable slider, deep-linked as #t=2018 (also #site=x&t=2018), a
 *   small chart of counts per year and source, and the dated findings of the map at their dates. "All years"
 *   (the start, unless the address names a year) shows every site. In a year, the sites the spec's rules place in
 *   time are shown when they existed then; a site no rule dates that year is kept, drawn hollow and counted as
 *   "date unknown", never dropped; sites the rules do not cover (e.g. of a kind no rule names) are shown as always;
 * - a site panel's timeline: one row per source with its dated events and series bars, then the claims about the
 *   site or its area at their dates; each mark names its source and opens its citation (a finding opens its panel).
 */
(function (app) {
  "use strict";
  const { h } = app;
  const HOLLOW = { fillOpacity: 0.12, weight: 2.5, opacity: 1 };
  const state = { year: null };  // null: all years, no time filter
  app.timeState = state;
  let control = null;

  /* payload.time as fmTimeline reads it: each site's [states, basis] strings back to {exists, basis, unknown,
     first, last} (timeline.time_payload's shape). */
  function expandTime(t) {
    const years = t.years || [], sites = Object.create(null);
    Object.keys(t.sites || {}).forEach((id) => {
      const st = t.sites[id][0], bs = t.sites[id][1];
      const exists = years.map((y, i) => (st.charAt(i) === "1" ? true : st.charAt(i) === "0" ? false : null));
      const present = years.filter((y, i) => exists[i] === true);
      sites[id] = {
        exists: exists,
        basis: years.map((y, i) => (bs.charAt(i) === "-" ? null : parseInt(bs.charAt(i), 36))),
        unknown: exists.every((e) => e === null),
        first: present.length ? present[0] : null,
        last: present.length ? present[present.length - 1] : null
      };
    });
    return Object.assign({}, t, { sites: sites });
  }

  const sourceTitle = (slug) => ((slug !== null && app.sourceBySlug.get(slug)) || {}).title || slug;

  /* A site's timeline rows (timeline.site_rows' shape) from its detail block's compact rows (page.page_time_rows). */
  app.timelineRows = function (s) {
    const T = app.time;
    if (!T) return [];
    app.fullSite(s);
    const evById = new Map((T.events || []).map((e) => [e.claim, e]));
    const str = (k) => (typeof k === "number" ? T.strings[k] : k);  // a per-year field list stays as it is
    return (s.timeline || []).map((r) => {
      if (!Array.isArray(r)) {
        return {
          source: null, title: "Claims", series: [], events: [],
          claims: (r.claims || []).map((id) => evById.get(id)).filter(Boolean)
            .map((e) => Object.assign({}, e, { title: sourceTitle(e.source) }))
        };
      }
      const source = str(r[0]);
      return {
        source: source, title: sourceTitle(source),
        series: r[1].map((x) => ({ field: str(x[0]), label: str(x[1]), record_id: x[2], values: x[3] })),
        events: r[2].map((x) => {
          const d = T.dates[x[0]];
          return { date: x[0], text: d[0], start: d[1], end: d[2], precision: d[3], field: str(x[1]), label: str(x[2]), record_id: x[3] };
        })
      };
    });
  };

  /* A site's state in the selected year: "yes", "no", "unknown", or null (no year selected, or not subject). */
  app.siteTimeState = (s) => (app.time && state.year !== null ? fmTimeline.siteState(app.time, s.id, state.year) : null);

  app.hooks.filter.push((s) => app.siteTimeState(s) !== "no");

  /* Unknown-date sites drawn hollow in their layer's colour while a year is selected. */
  function restyle() {
    let unknown = 0;
    app.sites.forEach((s) => {
      const st = app.siteTimeState(s);
      const hollow = st === "unknown";
      if (hollow) unknown += 1;
      if (!s.marker || !!s.hollow === hollow) return;
      s.hollow = hollow;
      if (hollow) s.marker.setStyle(Object.assign({ color: app.siteColour(s) }, HOLLOW));
      else s.marker.setStyle({ color: "#1b1f24", weight: 1, opacity: 0.9, fillOpacity: 0.95 });
    });
    return unknown;
  }

  function setHashYear(y) {
    try {
      history.replaceState(null, "", location.href.split("#")[0] + fmTimeline.withHashYear(location.hash, y));
    } catch (e) { /* sandboxed frames may refuse */ }
  }

  /* Select a year (null: all years): filter, restyle, redraw, update the control and the address. */
  app.setYear = function (y, opts) {
    const T = app.time;
    if (!T) return 0;
    y = y === null || y === undefined || T.years.indexOf(Number(y)) < 0 ? null : Number(y);
    state.year = y;
    const unknown = restyle();
    const n = app.draw();
    const root = document.documentElement;
    if (y === null) { delete root.dataset.timeYear; delete root.dataset.timeUnknown; }
    else { root.dataset.timeYear = String(y); root.dataset.timeUnknown = String(unknown); }
    if (control) control.update(y, n, unknown);
    if (!opts || opts.hash !== false) setHashYear(y);
    if (app.statusEl) {
      app.statusEl.textContent = y === null ? n + " sites on the map (all years)."
        : n + " sites on the map in " + y + ", " + unknown + " of them of unknown date (hollow).";
    }
    return n;
  };

  /* The part of the address 40-panel keeps when it sets #site=... (app.hashExtra): the year the address names
     (setYear writes it there; a link followed names it before this part has read it). */
  app.hashExtra = function () {
    const y = app.time ? fmTimeline.hashYear(location.hash, app.time.years) : null;
    return y === null ? "" : "t=" + y;
  };

  function findingsRow(T) {
    const claims = (T.events || []).filter((e) => app.claimById.has(e.claim))
      .map((e) => Object.assign({}, e, { title: sourceTitle(e.source) }));
    return claims.length ? [{ source: null, title: "Findings", series: [], events: [], claims: claims }] : [];
  }

  function span(rows, years) {
    const r = fmTimeline.rowYears(rows) || [years[0], years[years.length - 1]];
    return [Math.min(r[0], years[0]), Math.max(r[1], years[years.length - 1])];
  }

  function initControl(T) {
    const Ctl = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        const det = h("details", { className: "fm-time leaflet-control", id: "fm-time" });
        if (window.innerWidth >= 640 || state.year !== null) det.open = true;
        det.appendChild(h("summary", { text: (T.label || "Year") + ": " + (state.year === null ? "all" : state.year) }));
        const body = h("div", { className: "fm-time-body" });
        const slider = fmTimeline.yearSlider(document, T, {
          label: T.label || "Year",
          value: state.year === null ? T.years[T.years.length - 1] : state.year,
          onChange: (y) => { app.setYear(y); }
        });
        body.appendChild(slider);
        const all = h("button", { type: "button", className: "fm-btn fm-time-all", id: "fm-time-all", text: "All years" });
        all.addEventListener("click", () => { app.setYear(null); });
        const note = h("p", { className: "fm-note", id: "fm-time-note" });  // the slider's <output> is the live region
        body.appendChild(h("p", { className: "fm-time-row" }, [all]));
        body.appendChild(note);
        const chart = h("div", { className: "fm-time-chart" });
        body.appendChild(chart);
        const rows = findingsRow(T);
        if (rows.length) {
          const fig = fmTimeline.panelTimeline(document, rows, {
            years: span(rows, T.years), width: 260, caption: "Dated findings",
            onMark: (m) => { if (m.event && m.event.claim) app.openClaim(m.event.claim); }
          });
          tableInDetails(fig, "Dated findings as a table");
          body.appendChild(fig);
        }
        det.appendChild(body);
        L.DomEvent.disableClickPropagation(det);
        L.DomEvent.disableScrollPropagation(det);
        control = {
          update: (y, n, unknown) => {
            det.querySelector("summary").textContent = (T.label || "Year") + ": " + (y === null ? "all" : y);
            all.setAttribute("aria-pressed", String(y === null));
            if (y !== null) slider.fmSetYear(y);
            const out = slider.querySelector("output");
            if (y === null) out.textContent = "All years: every site shown";
            note.textContent = y === null ? "Move the slider to show the sites that existed in a year."
              : (n === null ? "" : n + " sites drawn; ") + unknown + " of unknown date are kept, drawn hollow.";
            chart.replaceChildren(fmTimeline.countsChart(document, T, { year: y, caption: "Sites per year, by source" }));
          }
        };
        return det;
      }
    });
    new Ctl().addTo(app.map);
  }

  /* The figure's table (fmTimeline puts it after the SVG) folded into a <details>, so the panel stays short. */
  function tableInDetails(fig, summary) {
    const table = fig && fig.querySelector("table");
    if (!table) return;
    const det = h("details", { className: "fm-tl-tablebox" }, [h("summary", { text: summary })]);
    fig.insertBefore(det, table);
    det.appendChild(table);
  }

  app.hooks.legend.push((body) => {
    if (!app.data || !app.data.time) return;
    body.appendChild(h("ul", { className: "fm-time-legend" }, [h("li", null, [
      h("span", { className: "fm-swatch fm-swatch-hollow", "aria-hidden": "true" }),
      "Date unknown (hollow, when a year is chosen)"
    ])]));
  });

  app.hooks.init.push(() => {
    if (!app.data.time || !(app.data.time.years || []).length) return;
    app.time = expandTime(app.data.time);
    state.year = fmTimeline.hashYear(location.hash, app.time.years);
    initControl(app.time);
    restyle();
    const root = document.documentElement;
    if (state.year !== null) {
      root.dataset.timeYear = String(state.year);
      root.dataset.timeUnknown = String(app.sites.filter((s) => app.siteTimeState(s) === "unknown").length);
    }
    control.update(state.year, null, Number(root.dataset.timeUnknown || 0));
    window.addEventListener("hashchange", () => {
      const y = fmTimeline.hashYear(location.hash, app.time.years);
      if (y !== state.year) app.setYear(y, { hash: false });
    });
  });

  /* The site panel's timeline, before its list of sources cited. */
  app.hooks.sitePanel.push((s, body, cites) => {
    if (!app.time) return;
    const rows = app.timelineRows(s);
    const T = app.time, st = T.sites[s.id];
    if (!rows.length && !st) return;
    body.appendChild(h("h3", { text: "Timeline" }));
    if (st) {
      const rule = (i) => (T.rules[i] || {}).label || "";
      let text, rules = [];
      if (st.unknown) text = "Date unknown: no source dates this site in " + T.years[0] + "\u2013" + T.years[T.years.length - 1] + "; it stays on the map in every year, drawn hollow.";
      else {
        const basis = [];
        st.basis.forEach((b) => { if (b !== null && basis.indexOf(b) < 0) basis.push(b); });
        text = (st.first === null ? "No source places this site in " + T.years[0] + "\u2013" + T.years[T.years.length - 1]
          : "Existing " + (st.first === st.last ? "in " + st.first : st.first + "\u2013" + st.last)) + " by ";
        rules = app.joined(basis.map(rule), "; ").concat(["."]);  // the spec's rule labels, each isolated
        const unknownYears = T.years.filter((y, i) => st.exists[i] === null);
        if (unknownYears.length) rules.push(" Unknown in " + unknownYears.join(", ") + ".");
      }
      body.appendChild(h("p", { className: "fm-note fm-time-site" }, [text].concat(rules)));
    }
    if (!rows.length) return;
    const marks = new Map();
    rows.forEach((r) => { if (r.source) marks.set(r.source, cites.source(r.source)); });
    const fig = fmTimeline.panelTimeline(document, rows, {
      years: span(rows, T.years), width: 340, caption: "Timeline of " + s.title + ", by source",
      onMark: (m) => {
        if (m.kind === "claim") { app.openClaim(m.event.claim); return; }
        const n = marks.get(m.row.source), li = body.querySelectorAll(".fm-cites > li")[n - 1];
        if (!li) return;
        li.setAttribute("tabindex", "-1");
        li.classList.add("fm-cite-hit");
        li.scrollIntoView({ block: "nearest" });
        li.focus();
      }
    });
    if (!fig) return;
    tableInDetails(fig, "Timeline as a table");
    body.appendChild(fig);
    const src = h("p", { className: "fm-note" }, ["Sources of the timeline: "]);
    Array.from(marks.keys()).forEach((slug, i) => {
      if (i) src.appendChild(document.createTextNode(", "));
      src.appendChild(app.bdi(app.sourceShort(slug)));
      src.appendChild(cites.mark(marks.get(slug)));
    });
    if (marks.size) body.appendChild(src);
  });
})(window.FacilityMap);
