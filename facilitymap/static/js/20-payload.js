/* Part 20: the payload (page.build_payload, as render.py writes it) decoded into app.sites, app.sources,
 * app.claims and their lookups.
 *
 * The sites come as a row of core properties per site, parsed now; the rest of a site (attributes, records,
 * disagreements, imagery...) sits in fm-detail-<n> blocks parsed when a panel first needs them.
 */
(function (app) {
  "use strict";
  const { has, norm } = app;

  const at = (row, col, name) => (col.has(name) && row[col.get(name)] !== undefined ? row[col.get(name)] : null);

  app.loadPayload = function (data) {
    app.data = data;
    app.fields = data.fields || {};
    app.meta = data.map || {};
    app.sources = data.sources || [];
    app.sourceBySlug = new Map(app.sources.map((s) => [s.slug, s]));
    app.claims = data.claims || [];
    app.claimById = new Map(app.claims.map((c) => [c.id, c]));
    app.layers = data.layers || [];

    const SD = data.sites || {};
    const col = new Map((SD.cols || []).map((c, k) => [c, k]));
    const core = (SD.cols || []).filter((c) => c.charAt(0) !== "_");
    const slugs = SD.slugs || [];
    app.siteData = { links: SD.links, chunk: SD.chunk || 1, chunks: new Map() };
    app.sites = (SD.rows || []).map((row, i) => {
      const p = Object.create(null);  // keyed by field names from the data: no inherited "constructor" etc.
      core.forEach((c) => { p[c] = row[col.get(c)]; });
      const src = (row[col.get("_src")] || []).map((k) => slugs[k]);
      const g = row[col.get("_geom")];
      const geometry = g === 0 ? null : g === null || g === undefined ? { type: "Point", coordinates: [p.lon, p.lat] } : g;
      const text = [p.name, p.name_en, p.name_zh, p.name_ug, p.county, p.prefecture, p.site_id].concat(row[col.get("_alt")] || []);
      return {
        i: i, id: String(p.site_id), p: p, f: { geometry: geometry },
        layer: at(row, col, "_layer"), cls: at(row, col, "_class"), outlineLayer: at(row, col, "_outline"),
        title: p.name || p.name_en || String(p.site_id),  // the reconciled name (priority source) first
        search: text.filter(has).map(norm).join("\n"),
        sources: src
      };
    });
    app.siteById = new Map(app.sites.map((s) => [s.id, s]));
  };

  /* The label of a field, from payload.fields. */
  app.label = function (field) {
    const f = Object.prototype.hasOwnProperty.call(app.fields, field) ? app.fields[field] : null;
    if (f && f.label) return f.label;
    const lang = /^name_([a-z]{2,3}(?:_[a-z0-9]{2,8})*)$/.exec(field);  // the role name_<tag> (fields.role)
    return lang ? "Name (" + lang[1].replace(/_/g, "-") + ")" : field;
  };

  /* A short name for a source: the abbreviation in its publisher's name ("... (ABC)"), or the publisher. */
  app.sourceShort = function (slug) {
    const s = app.sourceBySlug.get(slug);
    if (!s) return slug;
    const pub = String(s.publisher || "").split(";")[0].trim();
    const m = /^([^(]+?)\s*\(([^()]+)\)/.exec(pub);
    if (m) return /^[A-Z][A-Za-z0-9&.-]{1,9}$/.test(m[2]) ? m[2] : m[1];
    return pub || s.title || slug;
  };

  /* A value [value, record index] stands for {value, source, record_id} of that record. */
  function expandAttributes(attrs, recs) {
    const out = Object.create(null);
    Object.keys(attrs).forEach((k) => {
      out[k] = Array.isArray(attrs[k]) ? attrs[k].map((a) => {
        if (!Array.isArray(a)) return a;
        const r = recs[a[1]] || {};
        return { value: a[0], source: r.source, record_id: r.record_id };
      }) : attrs[k];
    });
    return out;
  }

  /* "Search imagery here" links from the payload's link templates: the site's lon/lat with 6 decimals and,
     when dated, the first and last instant of the day or month (as footprints.coverage writes them). */
  app.fillLinks = function (templates, lon, lat, date) {
    const list = (templates && (date ? templates.dated : templates.plain)) || [];
    let from = "", to = "";
    if (date) {
      const y = parseInt(date.slice(0, 4), 10), m = parseInt(date.slice(5, 7), 10), dd = date.length >= 10 ? parseInt(date.slice(8, 10), 10) : 0;
      const last = dd || new Date(Date.UTC(y, m, 0)).getUTCDate();
      const ymd = app.pad(y, 4) + "-" + app.pad(m, 2) + "-";
      from = encodeURIComponent(ymd + app.pad(dd || 1, 2) + "T00:00:00.000Z");
      to = encodeURIComponent(ymd + app.pad(last, 2) + "T23:59:59.999Z");
    }
    return list.map((t) => ({
      label: t[0],
      url: t[1].split("{lat}").join(Number(lat).toFixed(6)).split("{lon}").join(Number(lon).toFixed(6))
        .split("{from}").join(from).split("{to}").join(to)
    }));
  };

  /* The site's whole properties (as in sites.geojson), parsing its detail block the first time. */
  app.fullSite = function (s) {
    if (s.full) return s.p;
    const sd = app.siteData, n = Math.floor(s.i / sd.chunk);
    if (!sd.chunks.has(n)) {
      const el = document.getElementById("fm-detail-" + n);
      sd.chunks.set(n, el ? JSON.parse(el.textContent) : []);
    }
    const d = sd.chunks.get(n)[s.i % sd.chunk] || {}, p = s.p;
    Object.keys(d).forEach((k) => {
      if (k === "~absent") d[k].forEach((c) => { delete p[c]; });
      else if (k === "~feature") s.feature = d[k];
      else if (k === "~review") s.review = d[k];  // to_review entries about the site: beside its properties
      else if (k === "~time") s.timeline = d[k];  // its panel timeline rows (timeline.site_rows), not a property
      else if (k === "attributes" && d[k] && typeof d[k] === "object") p[k] = expandAttributes(d[k], d.records || []);
      else if (k === "imagery" && d[k] && d[k].links && !Array.isArray(d[k].links) && typeof d[k].links === "object") {
        p[k] = Object.assign({}, d[k], { links: app.fillLinks(sd.links, p.lon, p.lat, d[k].links.t) });
      } else p[k] = d[k];
    });
    s.full = true;
    return p;
  };

  app.parsedDetailBlocks = () => Array.from(app.siteData.chunks.keys()).sort((a, b) => a - b);

  /* A site as its sites.geojson Feature (tests compare the two). */
  app.siteFeature = function (id) {
    const s = app.siteById.get(id);
    if (!s) return null;
    return Object.assign({ type: "Feature", properties: app.fullSite(s), geometry: s.f.geometry }, s.feature || {});
  };
})(window.FacilityMap);
