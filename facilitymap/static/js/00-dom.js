/* facilitymap page script, part 00: the `app` object every later part hooks into, and small DOM helpers.
 * The parts in static/js/ are concatenated in file-name order by render.py into one inline script; each part is
 * its own function scope and shares state only through `app` (window.FacilityMap). Untrusted text only ever
 * reaches the DOM through textContent / attribute properties; only http(s) URLs become links. No network request
 * is made here.
 */
(function () {
  "use strict";

  /* Hooks for parts added later (run in the order pushed):
     init(app)                      after the built-in layers, panels and legend exist, before the first draw;
     sitePanel(site, body, cites)   at the end of a site's panel (before its citations);
     about(body)                    at the end of the "About this map" panel;
     legend(body)                   at the end of the legend;
     filter(site) -> bool           a site is shown only when every filter returns true. */
  const app = {
    hooks: { init: [], sitePanel: [], about: [], legend: [], filter: [] }
  };
  window.FacilityMap = app;

  app.h = function h(tag, attrs, children) {
    const el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach((k) => {
        const v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") el.textContent = String(v);
        else if (k === "className") el.className = v;
        else if (k === "onclick") el.addEventListener("click", v);
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    (children || []).forEach((c) => {
      if (c === null || c === undefined || c === "") return;
      el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return el;
  };

  /* As registry.py checks links: http or https in any case, a host, no whitespace anywhere (the URL parser would
     drop a trailing newline or tab silently); nothing else becomes a link. */
  const HTTP_URL = /^https?:\/\/[^\s\/?#]+\S*$/i;

  app.safeUrl = function safeUrl(url) {
    if (typeof url !== "string" || !HTTP_URL.test(url)) return null;
    try {
      const u = new URL(url);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  };

  /* A link when the URL is http(s); otherwise the text (and the URL, shown as text). */
  app.link = function link(url, text) {
    const ok = app.safeUrl(url);
    if (!ok) return app.h("span", { text: text || url || "" });
    return app.h("a", { href: ok, target: "_blank", rel: "noopener noreferrer", text: text || url });
  };

  /* Source text inline among other text: a <bdi>, so bidi controls or right-to-left script in the value cannot
     reorder what stands around it. (Elements holding one value alone, like a <dd>, are their own paragraph.) */
  app.bdi = (v) => app.h("bdi", { text: app.show(v) });

  /* values (source text) as <bdi>s with `sep` (our text) between them. */
  app.joined = (values, sep) => {
    const out = [];
    values.forEach((v, i) => { if (i) out.push(sep); out.push(app.bdi(v)); });
    return out;
  };

  /* A status line: parts are our text (strings) or source text (wrapped in <bdi>). */
  app.say = function say(el, parts) {
    while (el.firstChild) el.removeChild(el.firstChild);
    parts.forEach((p) => { el.appendChild(typeof p === "object" ? p : document.createTextNode(p)); });
  };

  app.show = function show(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  };

  /* Text as search compares it: compatibility forms folded, lower case, Latin accents dropped ("Étienne" is found
     by "etienne"; only the combining marks U+0300-036F go, so other scripts' marks stay). */
  app.norm = (s) => app.show(s).normalize("NFKC").toLocaleLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").normalize("NFC");

  app.has = (v) => v !== null && v !== undefined && v !== "";

  app.day = (d) => String(d || "").slice(0, 10);

  app.pad = function pad(n, w) {
    let t = String(n);
    while (t.length < w) t = "0" + t;
    return t;
  };

  /* Fill "{name}" placeholders of a URL template from `values` (every occurrence); unknown names stay. */
  app.fill = function fill(template, values) {
    return String(template).replace(/\{([a-z_]+)\}/g, (m, k) => (Object.prototype.hasOwnProperty.call(values, k) ? String(values[k]) : m));
  };
})();
