/* Part 90: FacilityMap.init, called by the page's folium script with the Leaflet map, its layer groups and
 * control, and the payload: builds every part in order, runs app.hooks.init, draws, opens the deep link. */
(function (app) {
  "use strict";

  app.init = function (map, cfg) {
    app.map = map;
    app.groups = Object.assign(Object.create(null), cfg.groups);  // looked up by layer ids from the spec
    app.control = cfg.control;
    app.basemap = cfg.basemap;
    app.loadPayload(cfg.data || {});
    app.initLayers();
    app.initClaims();
    app.initImagery();
    app.initPanel();
    app.initLegend();
    app.hooks.init.forEach((fn) => fn(app));

    const pts = app.sites.filter((s) => s.latlng).map((s) => s.latlng);
    if (pts.length) map.fitBounds(L.latLngBounds(pts), { padding: [20, 20], animate: false, maxZoom: 14 });
    else map.setView([20, 0], 2, { animate: false });
    const n = app.draw();
    app.statusEl.textContent = n + " sites on the map.";
    app.applyHash(false);  // after the count, so "no site with the id ..." stays readable
    requestAnimationFrame(() => {
      requestAnimationFrame(() => {
        document.documentElement.dataset.mapReady = "true";
      });
    });
  };
})(window.FacilityMap);
