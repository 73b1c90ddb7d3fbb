/* Part 45: how the records of a site were linked (issue 9, "scores are evidence"). A section of the site panel
 * says, for every record after the first, in plain words from its sites.geojson `match` entry: the method, the
 * probability and its evidence, the record it was compared with, whether the publisher's crosswalk and the matcher
 * agree, a forced link's reason, a second listing; and the build report's links "to review" (payload `review`,
 * kept beside the site by 20-payload.js as `site.review`). */
(function (app) {
  "use strict";
  const { h, has, show } = app;

  const refKey = (source, id) => JSON.stringify([show(source), show(id)]);

  /* "98 %" as linkage.percent writes it. */
  app.percent = function (p) {
    if (typeof p !== "number" || !isFinite(p)) return "";
    if (p >= 0.9995) return "> 99.9 %";
    if (p < 0.0005) return "< 0.1 %";
    return (p >= 0.01 && p <= 0.99 ? (p * 100).toFixed(0) : (p * 100).toFixed(1)) + " %";
  };

  function metres(d) {
    if (typeof d !== "number" || !isFinite(d)) return "";
    if (d < 1) return "under 1 m";
    return d < 1000 ? d.toFixed(0) + " m" : (d / 1000).toFixed(1) + " km";
  }

  /* "same place: 98 % — 40 m apart, ..." : the entry's evidence, else its probability alone. */
  function scoreText(m) {
    if (has(m.evidence)) return show(m.evidence);
    if (typeof m.probability === "number") return "same place: " + app.percent(m.probability);
    return "";
  }

  /* A source's short name, or the head of its title when another source of the open panel has the same short
     name (two lists of one publisher). */
  let shortNames = new Map();
  function sourceName(slug) {
    return shortNames.get(show(slug)) || app.sourceShort(slug);
  }
  function setShortNames(slugs) {
    const byShort = new Map();
    slugs.forEach((slug) => {
      const k = app.sourceShort(slug);
      if (!byShort.has(k)) byShort.set(k, []);
      if (byShort.get(k).indexOf(slug) < 0) byShort.get(k).push(slug);
    });
    shortNames = new Map();
    byShort.forEach((list, k) => {
      list.forEach((slug) => {
        const src = app.sourceBySlug.get(slug);
        // the title up to its first ":" or " (": "Example Institute map markers"
        const title = src && src.title ? String(src.title).split(/:| \(/)[0].trim() : "";
        shortNames.set(show(slug), list.length > 1 && title ? title : k);
      });
    });
  }

  /* "Example Org record 3201" with its footnote. */
  function recordRef(ref, cites) {
    if (!ref || typeof ref !== "object") return h("span", { text: "another record of this site" });
    const node = h("span", null, [sourceName(ref.source) + " record ", h("bdi", { text: show(ref.record_id) })]);
    if (ref.source) node.appendChild(cites.mark(cites.source(ref.source)));
    return node;
  }

  /* The sentence(s) for one match entry, appended to `li`. */
  function describe(m, li, cites, earlier) {
    const add = (x) => { li.appendChild(typeof x === "string" ? document.createTextNode(x) : x); };
    const dist = typeof m.distance_m === "number" ? metres(m.distance_m) + " apart" : "";
    const score = scoreText(m);
    const method = show(m.method);
    li.setAttribute("data-method", method);
    if (method === "probabilistic") {
      add("Matched by the record-linkage model");
      if (m.compared_with) { add(" against "); add(recordRef(m.compared_with, cites)); }
      add(score ? ": " + score + "." : ".");
    } else if (method === "same-id") {
      add("Same record id as ");
      add(recordRef(m.compared_with, cites));
      add(", another release of the same list" + (dist ? ", " + dist : "") + ".");
      if (score) add(" The model's score: " + score + ".");
    } else if (method === "crosswalk") {
      add("The publisher's list links this record to ");
      add(recordRef(m.compared_with, cites));
      if (has(m.cited)) {
        const cited = show(m.cited), own = show(m.source) + " ";
        add(" (its column \u201c"); add(h("bdi", { text: cited.indexOf(own) === 0 ? cited.slice(own.length) : cited })); add("\u201d)");
      }
      if (m.matcher_agrees === true) add("; the matcher agrees" + (score ? " (" + score + ")" : "") + ".");
      else if (m.matcher_agrees === false) {
        add("; the matcher did not find this link" + (score ? " (" + score + ")" : "") + ".");
        add(" ");
        add(h("strong", { className: "fm-disagree", text: "Publisher and matcher disagree." }));
      } else add(".");
    } else if (method === "forced") {
      add("Linked by the map's authors");
      if (m.compared_with) { add(" to "); add(recordRef(m.compared_with, cites)); }
      add((dist ? ", " + dist : "") + ", whatever the matcher says: ");
      add(h("q", null, [h("bdi", { text: has(m.reason) ? show(m.reason) : "no reason given" })]));
      add(score ? " (the matcher's score: " + score + ")." : ".");
    } else if (method === "containment") {
      add("Its outline contains the site's point.");
    } else if (method === "outline-distance") {
      add("Its outline lies " + metres(m.distance_m) + " from the site's point.");
    } else if (method === "name") {
      add("Same name as the site's record" + (dist ? ", " + dist : "") + ".");
    } else if (method === "distance") {
      add("Matched on distance" + (dist ? ": " + dist : "") +
          (m.county_agrees === true ? ", same county" : m.county_agrees === false ? ", the county differs" : "") + ".");
    } else {
      add("Linked (" + method + ")" + (dist ? ", " + dist : "") + (score ? ": " + score : "") + ".");
    }
    const second = Array.isArray(m.second_listing_of) ? m.second_listing_of.map(show) : earlier;
    if (second.length) {
      add(" A second listing in " + sourceName(m.source) + ": this site already holds its record" +
          (second.length > 1 ? "s " : " "));
      add(h("bdi", { text: second.join(", ") }));
      add(Array.isArray(m.second_listing_of) ? " under the same name." : ".");
    }
  }

  /* "Example Org record 134 “Nordby - 4” (Nordby)" for one side of a pair to review. */
  function side(r, cites) {
    const parts = [recordRef(r, cites), " "];
    parts.push(has(r.name) ? h("q", null, [h("bdi", { text: show(r.name) })]) : "(no name)");
    if (has(r.county)) parts.push(" (", h("bdi", { text: show(r.county) }), ")");
    return h("span", null, parts);
  }

  function siteButton(id) {
    const s = app.siteById.get(id);
    if (!s) return null;
    const b = h("button", { type: "button", className: "fm-linkbtn" }, [h("bdi", { text: s.title })]);
    b.addEventListener("click", () => { app.openSite(s.id, { from: "review" }); });
    return b;
  }

  app.renderMatching = function (s, body, cites) {
    const p = app.fullSite(s);
    const recs = Array.isArray(p.records) ? p.records : [];
    const match = Array.isArray(p.match) ? p.match : [];
    const review = Array.isArray(s.review) ? s.review : [];
    if (!match.length && !review.length) return;
    const slugs = recs.map((r) => r && r.source);
    review.forEach((x) => { (Array.isArray(x && x.records) ? x.records : []).forEach((r) => { slugs.push(r && r.source); }); });
    setShortNames(slugs.filter(has));
    const entryOf = new Map(), reviewOf = new Map();
    match.forEach((m) => { if (m && typeof m === "object") entryOf.set(refKey(m.source, m.record_id), m); });
    review.forEach((x) => { if (x && x.linked && x.site_id === s.id) reviewOf.set(refKey(x.source, x.record_id), x); });

    const section = h("section", { className: "fm-matching", "aria-label": "How the records were linked" });
    section.appendChild(h("h3", { text: "How the records were linked" }));
    const ul = h("ul", { className: "fm-list-plain" });
    const seen = new Map();  // source -> record ids already in the site (in the records' order)
    recs.forEach((r) => {
      if (!r || typeof r !== "object") return;
      const key = refKey(r.source, r.record_id), m = entryOf.get(key);
      const li = h("li", { "data-record": show(r.source) + ":" + show(r.record_id) },
        [h("strong", null, [sourceName(r.source) + " record ", h("bdi", { text: show(r.record_id) })])]);
      li.appendChild(cites.mark(cites.source(r.source)));
      li.appendChild(document.createTextNode(": "));
      const earlier = (seen.get(show(r.source)) || []).slice();
      if (m) describe(m, li, cites, earlier);
      else li.appendChild(document.createTextNode(earlier.length ? "A further listing in the same list." : "The site's first record; the others were matched to it."));
      const x = reviewOf.get(key);
      if (x) {
        li.appendChild(document.createTextNode(" "));
        li.appendChild(h("strong", { className: "fm-review", text: "To review:" }));
        li.appendChild(document.createTextNode(" linked with a probability under the review threshold, for a person to check."));
      }
      if (!seen.has(show(r.source))) seen.set(show(r.source), []);
      seen.get(show(r.source)).push(show(r.record_id));
      ul.appendChild(li);
    });
    section.appendChild(ul);

    const misses = review.filter((x) => x && !(x.linked && x.site_id === s.id));
    if (misses.length) {
      section.appendChild(h("h4", { text: "To review" }));
      const ml = h("ul", { className: "fm-list-plain" });
      misses.forEach((x) => {
        const li = h("li", { className: "fm-review-pair" }, [h("strong", { className: "fm-review", text: x.linked ? "Taken, to review: " : "Not linked, to review: " })]);
        const pair = Array.isArray(x.records) ? x.records : [];
        pair.forEach((r, k) => {
          if (k) li.appendChild(document.createTextNode(" and "));
          li.appendChild(side(r || {}, cites));
        });
        li.appendChild(document.createTextNode(": " + scoreText(x) + "."));
        const other = x.site_id === s.id ? x.record_site : x.site_id;
        const b = other && other !== s.id ? siteButton(other) : null;
        if (b) {
          li.appendChild(h("span", { className: "fm-note", text: " The other site:" }));
          li.appendChild(b);
        }
        ml.appendChild(li);
      });
      section.appendChild(ml);
    }
    section.appendChild(h("p", { className: "fm-note", text: "Probabilities come from a record-linkage model fitted to these lists (distance, place, facility number, name). Links under the review threshold are listed in the build report (matching.to_review) for a person to check." }));
    body.appendChild(section);
  };

  app.hooks.sitePanel.push(app.renderMatching);
})(window.FacilityMap);
