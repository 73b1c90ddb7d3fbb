"""Shared fixtures: the shipped sources, and a factory for small source folders built in the test."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sources_dir() -> Path:
    """The repository's sources/ folder (the shipped snapshots)."""
    return REPO / "sources"


@pytest.fixture(scope="session")
def xinjiang_vocab():
    """The field vocabulary of the shipped map (roles + the fields maps/xinjiang.yaml declares)."""
    from facilitymap.fields import vocabulary
    from facilitymap.spec import load_map_spec

    return vocabulary(load_map_spec(REPO / "maps", "xinjiang"))


def vocab_of(**declared):
    """A vocabulary of a map declaring these fields, e.g. ``vocab_of(tier={"label": "Tier", "type": "integer"})``."""
    from facilitymap.fields import vocabulary

    return vocabulary({"fields": declared})


@pytest.fixture
def make_source(tmp_path):
    """Write ``tmp_path/sources/<slug>/`` with one data file and a correct descriptor; return the Source.

    ``fm`` is merged into the facilitymap block; ``resource`` into the resource (e.g. a wrong ``hash`` or
    ``bytes``, or a ``dialect``). The data file is written as given (bytes, or str encoded as ``encoding``).
    """
    from facilitymap.registry import load_sources

    def make(content, *, reader, fields, filename=None, fmt=None, encoding="utf-8", layer="sites",
             kind="detention", slug="test-src", fm=None, resource=None, write_file=True):
        folder = tmp_path / "sources" / slug
        folder.mkdir(parents=True, exist_ok=True)
        fmt = fmt or {"csv": "csv", "geojson": "geojson", "osm": "osm", "geoparquet": "parquet"}[reader]
        filename = filename or f"data.{fmt}"
        raw = content if isinstance(content, bytes) else content.encode(encoding)
        if write_file:
            (folder / filename).write_bytes(raw)
        res = {"name": "data", "path": filename, "format": fmt, "mediatype": "text/plain", "encoding": encoding,
               "bytes": len(raw), "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}
        res.update(resource or {})
        block = {"layer": layer, "reader": reader, "resource": "data", "publisher": "Test publisher",
                 "citation": "Test data made in the test", "retrieved": "2024-01-01",
                 "upstream": "https://example.org/data", "kind": kind, "fields": fields}
        block.update(fm or {})
        desc = {"name": slug, "title": f"Test source {slug}", "description": "made in a test",
                "licenses": [{"name": "CC0-1.0", "title": "Public domain dedication",
                              "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
                "sources": [{"title": "Test", "path": "https://example.org/"}],
                "contributors": [{"title": "Test publisher", "role": "publisher"}],
                "resources": [res], "facilitymap": block}
        (folder / "datapackage.json").write_text(json.dumps(desc, indent=2), encoding="utf-8")
        return next(s for s in load_sources(tmp_path / "sources") if s.slug == slug)

    return make
