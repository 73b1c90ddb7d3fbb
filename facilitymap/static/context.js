/* facilitymap context layer: land, country borders and town labels from the page payload's `context`
   (facilitymap/context.py), drawn under the sites so that a map without tiles still shows where things are.
   No network request: everything comes from the payload. Land and borders are SVG (a few paths: no canvas to
   redraw on every pan, and about a third of the start-up cost of two more canvases). Panes:
     fmContextLand   (z 150, under the tile pane): land fill and coasts; tiles, once loaded, cover it;
     fmContextLines  (z 350, over tiles, under the overlay pane): country borders;
     fmContextLabels (z 360): town and city labels, DOM nodes filled with textContent.
   Usage: var ctx = FacilityContext.draw(map, payload.context, {labels: true, borders: true});
          ctx.setOverlay(false)   hides borders and labels (e.g. when a tile layer with its own labels is shown). */
(function (root) {
  "use strict";

  var STYLE = {
    // no outline: the clipped land's edge along the extent is not a coast; the fill against the sea shows coasts
    land: { fillColor: "#f4f1ea", fillOpacity: 1, stroke: false },
    // beyond the extent nothing is known: a neutral grey, unlike the sea
    beyond: { fillColor: "#e6e6e3", fillOpacity: 1, stroke: false },
    border: { color: "#5f6670", weight: 1.3, opacity: 0.9, dashArray: "5 3", fill: false }
  };
  // Smallest population labelled at a zoom level (labels that would overlap are dropped as well).
  var MIN_POPULATION = [[4, 1000000], [5, 500000], [6, 200000], [7, 100000], [8, 50000]];
  var MAX_LABELS = 250;

  function minPopulation(zoom) {
    for (var i = 0; i < MIN_POPULATION.length; i++) {
      if (zoom <= MIN_POPULATION[i][0]) return MIN_POPULATION[i][1];
    }
    return 0;
  }

  function pane(map, name, z) {
    var p = map.getPane(name) || map.createPane(name);
    p.style.zIndex = String(z);
    p.style.pointerEvents = "none";
    return p;
  }

  var Labels = L.Layer.extend({
    initialize: function (places, paneName) {
      this._places = places || [];
      this._paneName = paneName;
    },
    onAdd: function (map) {
      this._box = L.DomUtil.create("div", "fm-ctx-labels", map.getPane(this._paneName));
      this._box.setAttribute("aria-hidden", "true");
      map.on("zoomend moveend viewreset resize", this._update, this);
      this._update();
    },
    onRemove: function (map) {
      map.off("zoomend moveend viewreset resize", this._update, this);
      L.DomUtil.remove(this._box);
    },
    _update: function () {
      var map = this._map, box = this._box, size = map.getSize(), min = minPopulation(map.getZoom());
      var taken = [], shown = 0;
      while (box.firstChild) box.removeChild(box.firstChild);
      for (var i = 0; i < this._places.length && shown < MAX_LABELS; i++) {
        var pl = this._places[i], name = String(pl[0]);
        if (pl[3] < min) break; // places come most populous first
        var ll = L.latLng(pl[2], pl[1]), cp = map.latLngToContainerPoint(ll);
        var w = name.length * 7 + 10, hgt = 16;
        if (cp.x < -w || cp.y < -hgt || cp.x > size.x || cp.y > size.y + hgt) continue;
        var r = { x0: cp.x - 4, y0: cp.y - hgt / 2, x1: cp.x + w, y1: cp.y + hgt / 2 }, clash = false;
        for (var j = 0; j < taken.length && !clash; j++) {
          var t = taken[j];
          clash = r.x0 < t.x1 && r.x1 > t.x0 && r.y0 < t.y1 && r.y1 > t.y0;
        }
        if (clash) continue;
        taken.push(r);
        var el = L.DomUtil.create("div", "fm-ctx-label", box);
        el.style.cssText = "position:absolute;white-space:nowrap;font-size:12px;line-height:16px;color:#2b2f36;" +
          "margin-top:-8px;text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff;";
        var dot = L.DomUtil.create("span", "fm-ctx-dot", el);
        dot.style.cssText = "display:inline-block;width:5px;height:5px;border-radius:50%;background:#2b2f36;" +
          "margin:0 4px 1px -2px;vertical-align:middle;";
        el.appendChild(document.createTextNode(name));
        L.DomUtil.setPosition(el, map.latLngToLayerPoint(ll));
        shown++;
      }
      box.setAttribute("data-count", String(shown));
    }
  });

  function draw(map, context, options) {
    options = options || {};
    var out = { layers: [] };
    if (!context) return out;
    pane(map, "fmContextLand", 150);
    pane(map, "fmContextLines", 350);
    pane(map, "fmContextLabels", 360);
    var landRenderer = L.svg({ pane: "fmContextLand" });
    out.land = L.layerGroup([L.geoJSON(context.land, {
      pane: "fmContextLand", renderer: landRenderer, interactive: false, style: STYLE.land
    })]);
    if (context.extent) {
      var e = context.extent; // [w, s, e, n]: the world with the extent cut out
      out.land.addLayer(L.polygon([
        [[-90, -540], [90, -540], [90, 540], [-90, 540]],
        [[e[1], e[0]], [e[3], e[0]], [e[3], e[2]], [e[1], e[2]]]
      ], L.extend({ pane: "fmContextLand", renderer: landRenderer, interactive: false }, STYLE.beyond)));
    }
    out.land.addTo(map);
    out.overlay = [];
    if (options.borders !== false) {
      out.borders = L.geoJSON(context.borders, {
        pane: "fmContextLines", renderer: L.svg({ pane: "fmContextLines" }), interactive: false,
        style: STYLE.border
      });
      out.overlay.push(out.borders);
    }
    if (options.labels !== false) {
      out.labels = new Labels(context.places, "fmContextLabels");
      out.overlay.push(out.labels);
    }
    out.setOverlay = function (on) {
      out.overlay.forEach(function (l) { if (on) l.addTo(map); else map.removeLayer(l); });
    };
    out.setOverlay(true);
    out.remove = function () {
      map.removeLayer(out.land);
      out.setOverlay(false);
    };
    return out;
  }

  root.FacilityContext = { draw: draw, minPopulation: minPopulation };
})(typeof window !== "undefined" ? window : this);
