"""Files vendored in facilitymap/vendor/, read only after their sha256 matches vendor/manifest.json.

The manifest records each package's version, origin and licence; a file that was changed by hand (or a partial
refresh) stops the build instead of shipping silently.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

VENDOR = Path(__file__).parent / "vendor"


@lru_cache(maxsize=1)
def manifest() -> dict:
    return json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))


def package(name: str) -> dict:
    """The manifest entry of a vendored package (version, source, licence, files)."""
    for entry in manifest()["packages"]:
        if entry["package"] == name:
            return entry
    raise KeyError(f"{name!r} is not in vendor/manifest.json")


def read_bytes(name: str, filename: str) -> bytes:
    """A vendored file's bytes, checked against the manifest's sha256."""
    entry = package(name)
    data = (VENDOR / entry["path"] / filename).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["files"][filename]:
        raise RuntimeError(f"vendor/{entry['path']}/{filename} does not match vendor/manifest.json")
    return data
