/* Time on the map: a site panel's timeline, a year slider and a small chart of counts per year.
 *
 * Pure functions of the page payload's `time` block and of `timeline.site_rows` (facilitymap/timeline.py; shapes in
 * DESIGN.md, "Time"). They build DOM with createElement/textContent only (source text is untrusted) and return
 * elements; the caller places them and decides what a click on a mark opens (opts.onMark). Nothing here reads a
 * global but `document`-like objects passed in, so the functions run in a test page on their own.
 */
const fmTimeline = (() => {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = {series: "#5b7fa6", event: "#222222", claim: "#c2410c", axis: "#666666"};
  let uid = 0;

  function el(doc, tag, attrs, text) {
    const e = doc.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svgEl(doc, tag, attrs, text) {
    const e = doc.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  /* Days since 1970 of an ISO day "YYYY-MM-DD" (UTC, so no time zone moves a mark). */
  function day(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return Date.UTC(y, m - 1, d) / 86400000;
  }

  /* The years a panel's rows cover: [first, last] (series keys, event and claim intervals). */
  function rowYears(rows) {
    const ys = [];
    for (const r of rows) {
      for (const s of r.series || []) for (const y of Object.keys(s.values)) ys.push(Number(y));
      for (const e of (r.events || []).concat(r.claims || [])) {
        ys.push(Number(e.start.slice(0, 4)), Number(e.end.slice(0, 4)));
      }
    }
    return ys.length ? [Math.min(...ys), Math.max(...ys)] : null;
  }

  /* A site's timeline: an SVG (one row per source: its dated events on lanes, so that none hides another, above
   * a bar chart of its series; then a row of claims) and a table with the same content for screen readers.
   * rows: timeline.site_rows(...). opts: {years: [a, b], width, caption, onMark(mark)}. Returns a <figure>, or
   * null when there is nothing dated. */
  function panelTimeline(doc, rows, opts) {
    opts = opts || {};
    const span = opts.years || rowYears(rows);
    if (!span || !rows.length) return null;
    const [y0, y1] = span;
    const id = "fm-tl-" + (++uid);
    const width = opts.width || 320, plotW = width - 8, lane = 11, barsH = 26, axisH = 18;
    const a = day(`${y0}-01-01`), b = day(`${y1 + 1}-01-01`);
    const x = (iso) => 4 + (plotW * (Math.min(Math.max(day(iso), a), b) - a)) / (b - a);
    // layout first: each row's marks on lanes (greedy by start), so the figure's height is known
    const layout = rows.map((row) => {
      const all = (row.events || []).map((e) => ({kind: "event", e})).concat(
        (row.claims || []).map((e) => ({kind: "claim", e})));
      // a mark wholly outside the axis is not drawn at its edge (that would misdate it): the table lists it
      const inside = (m) => day(m.e.end) >= a && day(m.e.start) < b;
      const marks = all.filter(inside), outside = all.filter((m) => !inside(m));
      const ends = [];
      for (const m of marks) {
        m.xa = x(m.e.start);
        m.xb = Math.max(x(nextDay(m.e.end)), m.xa + 4);
        let l = ends.findIndex((end) => end + 2 <= m.xa);
        if (l < 0) { l = ends.length; ends.push(0); }
        ends[l] = m.xb;
        m.lane = l;
      }
      const band = 10 + 10 + barsH;  // each series: its label, room for the values, the bars
      return {row, marks, outside, lanes: ends.length, h: 13 + ends.length * lane + (row.series || []).length * band + 6};
    });
    const height = layout.reduce((t, r) => t + r.h, 0) + axisH;
    const fig = el(doc, "figure", {class: "fm-tl", id});
    // an image, unless its marks are buttons: then a group (an image may not hold interactive parts)
    const svg = svgEl(doc, "svg", {width, height, viewBox: `0 0 ${width} ${height}`,
                                   role: opts.onMark ? "group" : "img", "aria-labelledby": id + "-cap",
                                   focusable: "false"});
    const caption = el(doc, "figcaption", {id: id + "-cap"}, opts.caption || `Timeline ${y0}\u2013${y1}, by source`);
    const table = el(doc, "table", {class: "fm-timeline-table"});
    table.appendChild(el(doc, "caption", {}, (opts.caption || "Timeline") + " (as a table)"));
    const head = el(doc, "tr");
    for (const h of ["Source", "When", "What"]) head.appendChild(el(doc, "th", {scope: "col"}, h));
    table.appendChild(el(doc, "thead")).appendChild(head);
    const tbody = table.appendChild(el(doc, "tbody"));
    let yTop = 2;
    for (const {row, marks, outside, lanes, h} of layout) {
      const g = svg.appendChild(svgEl(doc, "g", {class: "fm-tl-row", "data-source": row.source || ""}));
      // a long title is cut to the figure's width (about 5.6 px a character); its <title> and the table keep it whole
      const room = Math.floor((width - 8) / 5.6), full = String(row.title === null ? "" : row.title);
      const label = g.appendChild(svgEl(doc, "text", {x: 4, y: yTop + 9, "font-size": 10, fill: COLORS.axis},
                                        full.length > room ? full.slice(0, room - 1) + "\u2026" : full));
      if (full.length > room) label.appendChild(svgEl(doc, "title", {}, full));
      for (const m of marks.concat(outside)) {
        const e = m.e;
        let title, what;
        if (m.kind === "claim") {
          what = `claim ${e.claim}${e.level === "area" ? " (area-level" + (e.area ? ": " + e.area : "") + ")" : ""}`;
          title = `${what}: ${e.text} (${e.title || e.source})`;
        } else {
          what = e.label;
          title = `${e.label}: ${e.text} (${row.title})`;
        }
        if (m.kind === "claim") addRow(doc, tbody, e.title || e.source, e.text, what);
        else addRow(doc, tbody, row.title, e.text, what);
        if (m.lane === undefined) continue;  // outside the axis
        const r = mark(doc, g, "rect", {x: m.xa, y: yTop + 13 + m.lane * lane, width: m.xb - m.xa, height: 8,
                                        rx: 2, fill: m.kind === "claim" ? COLORS.claim : COLORS.event},
                       title, opts, {kind: m.kind, row, event: e});
        r.setAttribute("class", m.kind === "claim" ? "fm-tl-claim" : "fm-tl-event");
      }
      (row.series || []).forEach((sr, k) => {
        const bandTop = yTop + 13 + lanes * lane + k * (20 + barsH);
        const base = bandTop + 20 + barsH;
        g.appendChild(svgEl(doc, "text", {x: 4, y: bandTop + 9, "font-size": 9, fill: COLORS.axis}, sr.label));
        g.appendChild(svgEl(doc, "line", {x1: 4, x2: 4 + plotW, y1: base, y2: base, stroke: "#cccccc"}));
        const vals = Object.entries(sr.values).filter(([yy]) => Number(yy) >= y0 && Number(yy) <= y1);
        const max = Math.max(1, ...vals.map(([, v]) => (typeof v === "number" ? v : 0)));
        for (const [yy, v] of vals) {
          const xa = x(`${yy}-01-01`) + 2, xb = x(`${Number(yy) + 1}-01-01`) - 2;
          const what = v === null ? "not given" : v === true ? "yes" : v === false ? "no" : String(v);
          // numbers: bars to scale; yes/no: a short pale bar for yes, none for no
          const bh = typeof v === "number" ? Math.max(v > 0 ? 2 : 0, (barsH * v) / max) : v === true ? 8 : 0;
          const bar = mark(doc, g, "rect", {x: xa, y: base - bh, width: Math.max(1, xb - xa), height: bh,
                                            fill: v === null ? "none" : v === true ? "#9bb7d4" : COLORS.series},
                           `${sr.label}: ${yy}: ${what} (${row.title})`, opts, {kind: "series", row, year: yy, value: v});
          bar.setAttribute("class", "fm-tl-bar");
          g.appendChild(svgEl(doc, "text", {x: (xa + xb) / 2, y: v === null ? base - 2 : base - bh - 2,
                                            "font-size": 9, "text-anchor": "middle", fill: COLORS.axis},
                              v === null ? "?" : what));
          addRow(doc, tbody, row.title, yy, `${sr.label}: ${what}`);
        }
      });
      yTop += h;
    }
    // year axis: a tick at each 1 January, the year's label in the middle of its span
    for (let yy = y0; yy <= y1; yy++) {
      const xa = x(`${yy}-01-01`), xb = x(`${yy + 1}-01-01`);
      svg.appendChild(svgEl(doc, "line", {x1: xa, x2: xa, y1: height - axisH, y2: height - axisH + 4,
                                          stroke: COLORS.axis}));
      svg.appendChild(svgEl(doc, "text", {x: (xa + xb) / 2, y: height - axisH + 13, "font-size": 10,
                                          "text-anchor": "middle", fill: COLORS.axis}, String(yy)));
    }
    fig.appendChild(svg);
    fig.appendChild(caption);
    fig.appendChild(table);
    return fig;
  }

  function nextDay(iso) {
    const d = new Date(day(iso) * 86400000 + 86400000);
    return d.toISOString().slice(0, 10);
  }

  /* A focusable mark with a <title> (its tooltip and accessible name) that calls opts.onMark on click/Enter. */
  function mark(doc, g, tag, attrs, title, opts, data) {
    const m = svgEl(doc, tag, attrs);
    m.appendChild(svgEl(doc, "title", {}, title));
    if (data.row && data.row.source) m.setAttribute("data-source", data.row.source);
    if (data.event && data.event.claim) m.setAttribute("data-claim", data.event.claim);
    if (opts.onMark) {
      m.setAttribute("tabindex", "0");
      m.setAttribute("role", "button");
      m.setAttribute("aria-label", title);
      m.style.cursor = "pointer";
      m.addEventListener("click", () => opts.onMark(data));
      m.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); opts.onMark(data); }
      });
    }
    g.appendChild(m);
    return m;
  }

  function addRow(doc, tbody, source, when, what) {
    const tr = el(doc, "tr");
    tr.appendChild(el(doc, "td", {}, source));
    tr.appendChild(el(doc, "td", {}, when));
    tr.appendChild(el(doc, "td", {}, what));
    tbody.appendChild(tr);
  }

  /* A site's state in a year: "yes", "no", "unknown", or null when the time rule does not apply to the site. */
  function siteState(time, siteId, year) {
    const s = time.sites[siteId];
    if (!s) return null;
    const i = time.years.indexOf(Number(year));
    if (i < 0) return "unknown";
    const v = s.exists[i];
    return v === true ? "yes" : v === false ? "no" : "unknown";
  }

  /* The year in a location hash such as "#t=2018" or "#site=s1&t=2018", if it is one of `years`. */
  function hashYear(hash, years) {
    const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
    const t = params.get("t");
    if (t === null || !/^\d{4}$/.test(t)) return null;
    return years.indexOf(Number(t)) >= 0 ? Number(t) : null;
  }

  /* The hash with t set to `year` (or removed when year is null), other parameters kept in their order. */
  function withHashYear(hash, year) {
    const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
    if (year === null || year === undefined) params.delete("t"); else params.set("t", String(year));
    const s = params.toString();
    return s ? "#" + s : "";
  }

  /* A labelled, keyboard-operable year slider: <input type=range> with an <output> showing the year and the
   * counts. opts: {label, value, onChange(year)}. Returns the wrapping element; its `fmSetYear(y)` sets it. */
  function yearSlider(doc, time, opts) {
    opts = opts || {};
    const id = "fm-year-" + (++uid);
    const years = time.years;
    const wrap = el(doc, "div", {class: "fm-time-control"});
    wrap.appendChild(el(doc, "label", {for: id}, opts.label || time.label || "Year"));
    const input = wrap.appendChild(el(doc, "input", {type: "range", id, min: years[0], max: years[years.length - 1],
                                                     step: 1, value: opts.value || years[years.length - 1]}));
    const out = wrap.appendChild(el(doc, "output", {for: id, "aria-live": "polite"}));
    function show(y) {
      const t = time.totals[String(y)] || {yes: 0, no: 0, unknown: 0};
      out.textContent = `${y}: ${t.yes} sites with evidence, ${t.unknown} of unknown date (shown, marked), ` +
        `${t.no} without`;
      input.setAttribute("aria-valuetext", String(y));
    }
    input.addEventListener("input", () => {
      const y = Number(input.value);
      show(y);
      if (opts.onChange) opts.onChange(y);
    });
    wrap.fmSetYear = (y) => { input.value = String(y); show(Number(input.value)); };
    show(Number(input.value));
    return wrap;
  }

  /* A small chart of counts per year, one group of bars per year and one bar per rule's source, with a table.
   * opts: {year (highlighted), titles: {slug: title}}. */
  function countsChart(doc, time, opts) {
    opts = opts || {};
    const id = "fm-counts-" + (++uid);
    const rules = time.rules, years = time.years;
    const width = opts.width || 260, height = opts.height || 110, bottom = 16, topPad = 12;
    let max = 1;
    for (const r of rules) for (const y of years) max = Math.max(max, time.counts[r.source][String(y)] || 0);
    const groupW = (width - 8) / years.length, barW = Math.max(2, (groupW - 6) / rules.length);
    const fig = el(doc, "figure", {class: "fm-counts", id});
    const svg = svgEl(doc, "svg", {width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                                   "aria-labelledby": id + "-cap", focusable: "false"});
    const shades = ["#5b7fa6", "#9bb7d4", "#c2410c", "#e7a77f", "#4d7c0f", "#a3c585"];
    years.forEach((y, i) => {
      const gx = 4 + i * groupW;
      const g = svg.appendChild(svgEl(doc, "g", {"data-year": y, class: "fm-counts-year"}));
      if (Number(opts.year) === y) {
        g.appendChild(svgEl(doc, "rect", {x: gx, y: 0, width: groupW, height: height - bottom + 2, fill: "#fff3c4",
                                          class: "fm-counts-selected"}));
      }
      rules.forEach((r, j) => {
        const n = time.counts[r.source][String(y)] || 0;
        const h = ((height - bottom - topPad) * n) / max;
        const bar = svgEl(doc, "rect", {x: gx + 3 + j * barW, y: height - bottom - h, width: barW - 1, height: h,
                                        fill: shades[j % shades.length], "data-source": r.source});
        bar.appendChild(svgEl(doc, "title", {}, `${r.label}: ${y}: ${n}`));
        g.appendChild(bar);
      });
      g.appendChild(svgEl(doc, "text", {x: gx + groupW / 2, y: height - 3, "font-size": 10, "text-anchor": "middle"},
                          String(y)));
    });
    fig.appendChild(svg);
    fig.appendChild(el(doc, "figcaption", {id: id + "-cap"}, opts.caption || "Sites per year, by source"));
    const table = fig.appendChild(el(doc, "table", {class: "fm-counts-table"}));
    table.appendChild(el(doc, "caption", {}, (opts.caption || "Sites per year, by source") + " (as a table)"));
    const head = el(doc, "tr");
    head.appendChild(el(doc, "th", {scope: "col"}, "Source"));
    for (const y of years) head.appendChild(el(doc, "th", {scope: "col"}, String(y)));
    table.appendChild(el(doc, "thead")).appendChild(head);
    const tb = table.appendChild(el(doc, "tbody"));
    rules.forEach((r, j) => {
      const tr = el(doc, "tr");
      const th = tr.appendChild(el(doc, "th", {scope: "row"}));
      const key = th.appendChild(el(doc, "span", {"aria-hidden": "true", class: "fm-counts-key"}, "\u25a0 "));
      key.style.color = shades[j % shades.length];  // the bar colour: the table is the chart's legend
      th.appendChild(doc.createTextNode(r.label));
      for (const y of years) tr.appendChild(el(doc, "td", {}, String(time.counts[r.source][String(y)] || 0)));
      tb.appendChild(tr);
    });
    return fig;
  }

  return {panelTimeline, yearSlider, countsChart, siteState, hashYear, withHashYear, rowYears};
})();
