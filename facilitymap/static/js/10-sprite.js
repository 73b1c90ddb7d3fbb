/* Part 10: the canvas renderer that stamps circle sprites.
 *
 * Leaflet's canvas draws every circle as a path, filled and stroked (anti-aliased) one by one; with 20,000
 * circles in view each pan ended in a 100 ms redraw, mostly rasterising those paths. This renderer draws each
 * circle marker style once into a small sprite (the same fill and stroke, by the same canvas calls) and then
 * stamps the sprite at every circle of that style, in Leaflet's drawing order: the same picture, with each
 * circle centred on a whole pixel. Other shapes (outlines) are drawn as Leaflet draws them.
 */
(function (app) {
  "use strict";

  const CACHE_PIXELS = 8e6;

  app.SpriteCanvas = L.Canvas.extend({
    _sprite: function (layer, r) {
      const o = layer.options;
      const key = r + "|" + o.fill + "|" + (o.fillColor || o.color) + "|" + o.fillOpacity + "|" + o.stroke + "|" +
        o.color + "|" + o.weight + "|" + o.opacity;
      const sprites = this._sprites || (this._sprites = new Map());
      let sp = sprites.get(key);
      if (sp) return sp;
      const m = L.Browser.retina ? 2 : 1, half = r + Math.ceil((o.stroke ? o.weight : 0) / 2) + 1;
      const c = document.createElement("canvas");
      c.width = c.height = 2 * half * m;
      const ctx = c.getContext("2d");
      ctx.scale(m, m);
      ctx.beginPath();
      ctx.arc(half, half, r, 0, Math.PI * 2, false);
      L.Canvas.prototype._fillStroke.call(this, ctx, layer);
      sp = { canvas: c, half: half };
      sprites.set(key, sp);
      return sp;
    },
    _stampable: function (layer) {
      const r = Math.max(Math.round(layer._radius), 1);
      return (Math.max(Math.round(layer._radiusY), 1) || r) === r && !layer.options.dashArray;
    },
    _stamp: function (ctx, layer) {
      const p = layer._point, sp = this._sprite(layer, Math.max(Math.round(layer._radius), 1));
      ctx.globalAlpha = 1;
      ctx.drawImage(sp.canvas, Math.round(p.x) - sp.half, Math.round(p.y) - sp.half, 2 * sp.half, 2 * sp.half);
    },
    _updateCircle: function (layer) {
      if (!this._drawing || layer._empty()) return;
      if (!this._stampable(layer)) L.Canvas.prototype._updateCircle.call(this, layer);
      else this._stamp(this._ctx, layer);
    },

    /* Panning moves the map but not the circles relative to each other: the circles drawn first (the leading run
       of circle markers in Leaflet's drawing order: the sites) are stamped once into a cached image when it stays
       under CACHE_PIXELS, and every redraw copies that image, then draws the layers after the run (outlines,
       highlights, findings) as before. Any added, removed, restyled or reordered layer, a new zoom or pixel
       origin rebuilds it; without a cache the circles are stamped one by one. */
    _requestRedraw: function (layer) {
      this._fmDirty = true;
      L.Canvas.prototype._requestRedraw.call(this, layer);
    },
    _initPath: function (layer) {
      this._fmDirty = true;
      L.Canvas.prototype._initPath.call(this, layer);
    },
    _circleCache: function () {
      const map = this._map, zoom = map.getZoom(), origin = map.getPixelOrigin();
      let c = this._fmCache;
      if (c && !this._fmDirty && c.zoom === zoom && c.origin.equals(origin)) return c.canvas ? c : null;
      this._fmDirty = false;
      c = this._fmCache = { zoom: zoom, origin: origin, canvas: null, circles: [], after: null };
      let min = null, max = null, order;
      for (order = this._drawFirst; order; order = order.next) {
        const layer = order.layer;
        if (!(layer instanceof L.CircleMarker) || !this._stampable(layer) || !layer._pxBounds) break;
        c.circles.push(layer);
        const b = layer._pxBounds;
        min = min ? L.point(Math.min(min.x, b.min.x), Math.min(min.y, b.min.y)) : b.min;
        max = max ? L.point(Math.max(max.x, b.max.x), Math.max(max.y, b.max.y)) : b.max;
      }
      c.after = order;
      if (!c.circles.length) return null;
      const m = L.Browser.retina ? 2 : 1, pad = 4;
      c.x = Math.floor(min.x) - pad;
      c.y = Math.floor(min.y) - pad;
      c.w = Math.ceil(max.x) + pad - c.x;
      c.h = Math.ceil(max.y) + pad - c.y;
      if (c.w * c.h * m * m > CACHE_PIXELS) return null;
      const canvas = document.createElement("canvas");
      canvas.width = c.w * m;
      canvas.height = c.h * m;
      const ctx = canvas.getContext("2d");
      ctx.scale(m, m);
      ctx.translate(-c.x, -c.y);
      for (let i = 0; i < c.circles.length; i++) this._stamp(ctx, c.circles[i]);
      c.canvas = canvas;
      return c;
    },
    _draw: function () {
      const cache = this._circleCache();
      if (!cache) { L.Canvas.prototype._draw.call(this); return; }
      const bounds = this._redrawBounds, ctx = this._ctx;
      ctx.save();
      if (bounds) {
        const size = bounds.getSize();
        ctx.beginPath();
        ctx.rect(bounds.min.x, bounds.min.y, size.x, size.y);
        ctx.clip();
      }
      ctx.globalAlpha = 1;
      ctx.drawImage(cache.canvas, cache.x, cache.y, cache.w, cache.h);
      this._drawing = true;
      for (let order = cache.after; order; order = order.next) {
        const layer = order.layer;
        if (!bounds || (layer._pxBounds && layer._pxBounds.intersects(bounds))) layer._updatePath();
      }
      this._drawing = false;
      ctx.restore();
    }
  });
})(window.FacilityMap);
