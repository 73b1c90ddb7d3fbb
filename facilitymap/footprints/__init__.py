"""Satellite footprints: MGRS tiles per site, STAC harvests, local rasters, and the coverage join."""
