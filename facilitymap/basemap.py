"""Basemaps: the tile layers a page may show, the modes `--basemap` (or a spec's `basemap:`) selects, and what each
mode needs from the page's Content-Security-Policy, as data.

Modes: `default` (OpenStreetMap, Esri imagery in the layer control), `osm`, `satellite` (Esri first), `none` (no
request at all), `consent[:default|osm|satellite]` (the same tiles after the reader clicks) and `pmtiles:PATH` (a
self-hosted vector archive copied beside the page). The context layer (context.py) is drawn under every one.
Each provider's terms are linked in its attribution (TERMS) and explained in the README.
"""
from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Basemap:
    """A raster tile layer; attribution is required so it cannot be forgotten."""

    key: str
    name: str
    url: str
    attribution: str
    max_zoom: int
    max_native_zoom: int
    provider: str = ""  # who receives the reader's requests, named in the consent button

    @property
    def origin(self) -> str:
        """scheme://host of the tile URL, for the Content-Security-Policy."""
        return re.match(r"^https://[^/]+", self.url).group(0)


OSM = Basemap(
    "osm",
    "OpenStreetMap",
    "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    19,
    19,
    "OpenStreetMap",
)
ESRI = Basemap(
    "esri",
    "Satellite (Esri World Imagery)",
    "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
    "Tiles &copy; Esri &mdash; Source: Esri, i-cubed, USDA, USGS, AEX, GeoEye, Getmapping, Aerogrid, IGN, IGP, "
    "UPR-EGP, and the GIS User Community",
    19,
    18,
    "Esri",
)
BASEMAPS: dict[str, tuple[Basemap, ...]] = {
    "default": (OSM, ESRI),
    "osm": (OSM,),
    "satellite": (ESRI, OSM),
    "none": (),
}
# Which tile layers carry their own place names: over them the context layer's borders and labels are hidden
# once their tiles have loaded (until then, or when the tile host is blocked, the context layer shows).
LABELLED = {"osm": True, "esri": False}
# The terms each provider sets, shown in the layer control's attribution and documented in the README.
TERMS = {
    "osm": ("https://operations.osmfoundation.org/policies/tiles/", "OSM tile usage policy"),
    "esri": ("https://www.arcgis.com/home/item.html?id=10df2279f9684e4a9f6a7f08febac2a9", "Esri terms of use"),
}
PMTILES_FILE = "basemap.pmtiles"  # the archive of a `pmtiles:PATH` basemap, beside the page
PMTILES_ATTRIBUTION = ('<a href="https://protomaps.com">Protomaps</a> &copy; '
                       '<a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors')
CONSENT_PREFIX = "consent"


@dataclass(frozen=True)
class BasemapMode:
    """What `--basemap` (or the spec's `basemap:`) selects: the tile layers, how the page offers them, and what
    the Content-Security-Policy must allow for them (`csp`, plain data a CSP builder consumes).

    tiles: third-party raster layers (the first is shown at start unless `consent`);
    consent: the page starts on the context layer and loads `tiles` only after the reader clicks;
    pmtiles: the file name of a self-hosted PMTiles archive beside the page (drawn with protomaps-leaflet);
    source: the archive's path as given (`pmtiles:PATH`), for the builder to copy.
    """

    key: str
    tiles: tuple[Basemap, ...] = ()
    consent: bool = False
    pmtiles: str | None = None
    source: str | None = None

    @property
    def csp(self) -> dict[str, tuple[str, ...]]:
        """Sources per CSP directive this mode needs beyond the page's own: tile hosts for images; 'self' for
        the range requests of a PMTiles archive."""
        return {"img-src": tuple(b.origin for b in self.tiles),
                "connect-src": ("'self'",) if self.pmtiles else ()}

    def page_config(self) -> dict:
        """What the page script needs to know (cfg.basemap): the mode, and the layers it makes itself."""
        cfg = {"mode": "pmtiles" if self.pmtiles else CONSENT_PREFIX if self.consent else self.key,
               "layers": [{"key": b.key, "name": b.name, "labelled": LABELLED.get(b.key, False)}
                          for b in self.tiles]}
        if self.consent:
            cfg["key"] = self.key  # remembered consent is kept per mode
            for entry, b in zip(cfg["layers"], self.tiles):
                entry.update(url=b.url, attribution=attribution(b), max_zoom=b.max_zoom,
                             max_native_zoom=b.max_native_zoom, provider=b.provider or b.name)
        if self.pmtiles:
            info = archive_info(self.source)
            cfg.update(url=self.pmtiles, attribution=info["attribution"], name="Map (self-hosted)",
                       max_data_zoom=info["max_zoom"])
        return cfg

    def copy_archive(self, out_dir: Path) -> Path | None:
        """Copy a `pmtiles:` mode's archive beside the page (out_dir/basemap.pmtiles); None for other modes."""
        if not self.pmtiles:
            return None
        archive_info(self.source)  # a file that is not a vector PMTiles archive stops here
        dest = Path(out_dir) / self.pmtiles
        shutil.copyfile(self.source, dest)
        return dest


class BasemapError(ValueError):
    """A basemap value or archive that cannot be used; the message says why."""


def archive_info(path: str | Path) -> dict:
    """{"max_zoom", "attribution"} of a PMTiles v3 archive of vector (MVT) tiles, read with the `pmtiles` package.

    The archive's own attribution (its metadata) is shown as text, never as markup: an archive may come from
    anyone. Without one, Protomaps and OpenStreetMap are credited (what `pmtiles extract` of a Protomaps build
    holds)."""
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import TileType

    path = Path(path)
    if not path.is_file():
        raise BasemapError(f"pmtiles:{path}: no such file")
    with path.open("rb") as fh:
        if fh.read(7) != b"PMTiles":
            raise BasemapError(f"pmtiles:{path}: not a PMTiles archive")
        fh.seek(0)
        try:
            reader = Reader(MmapSource(fh))
            header = reader.header()
            meta = reader.metadata()
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad archive, said with its path
            raise BasemapError(f"pmtiles:{path}: cannot read the archive ({exc})") from None
    if header.get("version") != 3 or header.get("tile_type") != TileType.MVT:
        raise BasemapError(f"pmtiles:{path}: protomaps-leaflet draws PMTiles v3 archives of vector (MVT) tiles")
    text = meta.get("attribution") if isinstance(meta, dict) else None
    credit = html.escape(re.sub(r"<[^>]*>", "", text)) if isinstance(text, str) and text.strip() else PMTILES_ATTRIBUTION
    return {"max_zoom": int(header["max_zoom"]), "attribution": credit}


def attribution(b: Basemap) -> str:
    """The tile layer's attribution, with its provider's terms linked."""
    url, text = TERMS.get(b.key, (None, None))
    return b.attribution + (f' (<a href="{url}">{text}</a>)' if url else "")


def basemap_mode(value: str) -> BasemapMode:
    """Parse a basemap value: default, osm, satellite, none, consent[:default|osm|satellite], pmtiles:PATH."""
    value = str(value or "default")
    if value.startswith("pmtiles:"):
        path = value[len("pmtiles:"):]
        if not path or not path.endswith(".pmtiles"):
            raise BasemapError(f"basemap {value!r}: give the archive as pmtiles:PATH, PATH ending in .pmtiles")
        return BasemapMode(value, pmtiles=PMTILES_FILE, source=path)
    if value == CONSENT_PREFIX or value.startswith(CONSENT_PREFIX + ":"):
        inner = value.partition(":")[2] or "default"
        if inner not in BASEMAPS or inner == "none":
            raise BasemapError(f"unknown basemap {value!r}; consent takes default, osm or satellite")
        return BasemapMode(value, tiles=BASEMAPS[inner], consent=True)
    if value not in BASEMAPS:
        raise BasemapError(f"unknown basemap {value!r}; choose one of {', '.join(sorted(BASEMAPS))}, "
                         "consent[:default|osm|satellite] or pmtiles:PATH")
    return BasemapMode(value, tiles=BASEMAPS[value])
