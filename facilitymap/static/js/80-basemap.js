/* Part 80: the ground under the sites: the context layer (static/context.js: land, borders, towns from the
 * payload, no request) in every basemap mode, and the basemap modes the page script handles itself
 * (basemap.BasemapMode.page_config, in app.basemap):
 *   consent  the page starts on the context layer; tiles from a third party load only after the reader clicks
 *            "Show map tiles from <provider>"; the choice is kept (localStorage) only when the reader ticks
 *            "remember", and can be forgotten in About > Privacy;
 *   pmtiles  a self-hosted vector basemap (a PMTiles archive beside the page) drawn by protomaps-leaflet with
 *            range requests to the page's own server;
 *   others   folium made the tile layers; this part only keeps the context layer's labels out of the way of
 *            tiles that carry their own names (once they have loaded: a blocked tile host leaves them on).
 * Untrusted text: none here (provider names and attributions come from render.py, not from sources). */
(function (app) {
  "use strict";
  const { h } = app;
  const STORE = "facilitymap.tiles.";
  const NO_TILES = "No map tiles (borders and towns only)";

  function store(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(STORE + key);
      if (value === null) window.localStorage.removeItem(STORE + key);
      else window.localStorage.setItem(STORE + key, value);
    } catch (e) { /* storage blocked (sandboxed frame, privacy settings): nothing is remembered */ }
    return null;
  }

  /* Borders and labels follow the base layer: on over no tiles or imagery, off over tiles with their own names
     once at least one of their tiles has loaded. */
  function followBaseLayer(layer, labelled) {
    const ctx = app.context;
    if (!ctx || !ctx.setOverlay) return;
    if (!labelled) { ctx.setOverlay(true); return; }
    let loaded = 0;
    const onTile = () => { loaded += 1; };
    const onLoad = () => { if (loaded && app.map.hasLayer(layer)) ctx.setOverlay(false); };
    layer.on("tileload", onTile);
    layer.on("load", onLoad);
    layer.once("remove", () => { layer.off("tileload", onTile); layer.off("load", onLoad); });
  }

  function layerInfo(name) {
    return (app.basemap.layers || []).find((l) => l.name === name) || null;
  }

  function tileLayer(cfg) {
    return L.tileLayer(cfg.url, { attribution: cfg.attribution, maxZoom: cfg.max_zoom, maxNativeZoom: cfg.max_native_zoom });
  }

  function providers() {
    const names = [];
    (app.basemap.layers || []).forEach((l) => { if (names.indexOf(l.provider) < 0) names.push(l.provider); });
    return names.join(" and ");
  }

  /* consent: the tile layers join the layer control and the first one is shown. */
  function acceptTiles() {
    if (app.tilesShown) return;
    app.tilesShown = true;
    const map = app.map;
    let first = null;
    app.basemap.layers.forEach((l) => {
      const t = tileLayer(l);
      app.control.addBaseLayer(t, l.name);
      if (!first) first = t;
    });
    if (app.noTiles) map.removeLayer(app.noTiles);
    first.addTo(map);
    followBaseLayer(first, app.basemap.layers[0].labelled);
    if (app.consentBox) { app.consentBox.remove(); app.consentBox = null; }
    document.documentElement.dataset.tiles = "shown";
  }

  function consentControl() {
    const who = providers();
    const Box = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        const id = "fm-consent-remember";
        const btn = h("button", { type: "button", className: "fm-btn fm-consent-btn", id: "fm-consent-btn",
          text: "Show map tiles from " + who + " \u2014 this sends your IP address to " + who });
        const remember = h("input", { type: "checkbox", id: id });
        const box = h("div", { className: "fm-consent leaflet-control", role: "group", "aria-label": "Map tiles" }, [
          btn,
          h("label", { for: id }, [remember, " Remember my choice on this device"])
        ]);
        btn.addEventListener("click", () => {
          if (remember.checked) store(app.basemap.key || "consent", "yes");
          acceptTiles();
        });
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      }
    });
    app.consentBox = new Box().addTo(app.map);
  }

  function initConsent() {
    app.noTiles = L.layerGroup().addTo(app.map);
    app.control.addBaseLayer(app.noTiles, NO_TILES);
    document.documentElement.dataset.tiles = "waiting";
    if (store(app.basemap.key || "consent") === "yes") acceptTiles();
    else consentControl();
    app.hooks.about.push((body) => {
      if (store(app.basemap.key || "consent") !== "yes") return;
      body.appendChild(h("p", { className: "fm-note" }, [
        "You chose to remember showing map tiles from " + providers() + ". ",
        h("button", { type: "button", className: "fm-linkbtn", id: "fm-consent-forget", text: "Forget my choice",
          onclick: (e) => { store(app.basemap.key || "consent", null); e.target.textContent = "Forgotten: the next visit asks again."; } })
      ]));
    });
  }

  function initPmtiles() {
    const cfg = app.basemap;
    const layer = protomapsL.leafletLayer({ url: cfg.url, flavor: "light", lang: "en", attribution: cfg.attribution,
      maxDataZoom: cfg.max_data_zoom });
    layer.addTo(app.map);
    app.control.addBaseLayer(layer, cfg.name);
    app.noTiles = L.layerGroup();
    app.control.addBaseLayer(app.noTiles, NO_TILES);
    app.pmtilesLayer = layer;
    followBaseLayer(layer, true);
  }

  app.initBasemap = function () {
    const map = app.map, cfg = app.basemap = app.basemap || { mode: "none", layers: [] };
    app.context = window.FacilityContext ? FacilityContext.draw(map, app.data.context) : null;
    if (cfg.mode === "consent") initConsent();
    else if (cfg.mode === "pmtiles") initPmtiles();
    else {
      /* folium's tile layers: the first is on the map at start */
      map.eachLayer((l) => {
        if (l instanceof L.TileLayer && app.control._layers) {
          const entry = app.control._layers.find((e) => e.layer === l);
          if (entry) followBaseLayer(l, (layerInfo(entry.name) || {}).labelled);
        }
      });
      if ((cfg.layers || []).length) {
        app.noTiles = L.layerGroup();
        app.control.addBaseLayer(app.noTiles, NO_TILES);
      }
    }
    map.on("baselayerchange", (e) => {
      const info = layerInfo(e.name);
      followBaseLayer(e.layer, e.layer === app.pmtilesLayer || !!(info && info.labelled));
    });
  };

  app.hooks.init.push(() => app.initBasemap());
})(window.FacilityMap);
