"""facilitymap: sourced, embeddable maps of facilities from open datasets and public satellite footprints.

The public surface is small:

- :func:`build` turns the source folders and a map spec into ``maps/<map>/`` (page, embed snippet, exports, report);
- :func:`load_sources` and :func:`validate_sources` read and check ``sources/*/datapackage.json``;
- :func:`read_source` reads one source into records; :func:`reconcile` merges records into sites.

Everything else is an implementation detail of the modules named in DESIGN.md.
"""

__version__ = "0.1.0"

__all__ = ["build", "load_sources", "validate_sources", "read_source", "reconcile", "__version__"]

_LAZY = {
    "build": ("builder", "build"),
    "load_sources": ("registry", "load_sources"),
    "validate_sources": ("registry", "validate_sources"),
    "read_source": ("readers", "read_source"),
    "reconcile": ("reconcile", "reconcile"),
}


def __getattr__(name: str):
    # Lazy so that `facilitymap --help` does not pay for importing geopandas.
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(name)
