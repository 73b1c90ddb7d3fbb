"""Local raster footprints on rasters made here with rasterio (synthetic, test-only)."""
import hashlib
import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.shutil
import shapely
from rasterio.transform import from_origin
from rasterio.warp import transform_geom

from facilitymap.footprints.raster import raster_footprints, write_raster_source

N = 400          # pixels a side
RES = 30.0       # metres


def _known(crs, geom_utm):
    """The known valid area in EPSG:4326, densified so reprojection keeps its edges true."""
    g = shapely.segmentize(geom_utm, 200)
    return shapely.geometry.shape(transform_geom(crs, "EPSG:4326", shapely.geometry.mapping(g)))


def _assert_close(got, known, tol=0.02):
    assert got.is_valid and not got.is_empty
    assert got.symmetric_difference(known).area / known.area < tol


def make_diamond(path: Path, crs="EPSG:32644", x0=500000.0, y0=4400000.0, tags=None):
    """One band, nodata 0 everywhere except a diamond touching the middle of each edge (half the bbox)."""
    rows, cols = np.mgrid[0:N, 0:N] + 0.5
    inside = np.abs(rows - N / 2) + np.abs(cols - N / 2) <= N / 2
    data = np.where(inside, (rows + cols).astype("uint16") + 1, 0).astype("uint16")
    t = from_origin(x0, y0, RES, RES)
    with rasterio.open(path, "w", driver="GTiff", width=N, height=N, count=1, dtype="uint16", crs=crs,
                       transform=t, nodata=0) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)
    s = N * RES
    diamond = shapely.Polygon([(x0 + s / 2, y0), (x0 + s, y0 - s / 2), (x0 + s / 2, y0 - s), (x0, y0 - s / 2)])
    return _known(crs, diamond)


def make_masked_rgb(path: Path, crs="EPSG:32645", x0=300000.0, y0=4500000.0, tags=None):
    """Three bands, tiled with overviews, an internal mask: valid = an inset rectangle (a nodata collar)."""
    data = np.random.default_rng(1).integers(1, 4000, size=(3, N, N)).astype("uint16")
    mask = np.zeros((N, N), dtype="uint8")
    mask[30:370, 50:350] = 255
    t = from_origin(x0, y0, RES, RES)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", driver="GTiff", width=N, height=N, count=3, dtype="uint16", crs=crs,
                           transform=t, tiled=True, blockxsize=128, blockysize=128) as dst:
            dst.write(data)
            dst.write_mask(mask)
            if tags:
                dst.update_tags(**tags)
        with rasterio.open(path, "r+") as dst:
            dst.build_overviews([2, 4], rasterio.enums.Resampling.nearest)
    rect = shapely.box(x0 + 50 * RES, y0 - 370 * RES, x0 + 350 * RES, y0 - 30 * RES)
    return _known(crs, rect)


def make_cog(path: Path, tmp: Path, crs="EPSG:32644", x0=600000.0, y0=4300000.0):
    """Four-band COG (GDAL's COG driver) with nodata 0 outside a rotated square (a triangle-cut diamond)."""
    rows, cols = np.mgrid[0:N, 0:N] + 0.5
    inside = (np.abs(rows - N / 2) + np.abs(cols - N / 2) <= N / 2) & (cols >= N / 4)
    data = np.stack([np.where(inside, (b + 1) * 100 + rows.astype("int"), 0) for b in range(4)]).astype("uint16")
    plain = tmp / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=N, height=N, count=4, dtype="uint16", crs=crs,
                       transform=from_origin(x0, y0, RES, RES), nodata=0) as dst:
        dst.write(data)
    rasterio.shutil.copy(plain, path, driver="COG", blocksize=128, overview_resampling="nearest")
    plain.unlink()
    s = N * RES
    shape = shapely.Polygon([(x0 + s / 2, y0), (x0 + s, y0 - s / 2), (x0 + s / 2, y0 - s), (x0 + s / 4, y0 - s * 3 / 4),
                             (x0 + s / 4, y0 - s / 4)])
    return _known(crs, shape)


def test_footprints_are_valid_data_not_bbox_in_two_utm_zones(tmp_path):
    k1 = make_diamond(tmp_path / "a.tif")
    k2 = make_masked_rgb(tmp_path / "b.tif")
    k3 = make_cog(tmp_path / "c.tif", tmp_path)
    gdf = raster_footprints([tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif"])
    assert gdf.crs.equals("EPSG:4326")
    assert gdf["id"].tolist() == ["a", "b", "c"]
    assert gdf["crs"].tolist() == ["EPSG:32644", "EPSG:32645", "EPSG:32644"]
    assert gdf["bands"].tolist() == [1, 3, 4]
    for path, geom, known in zip(gdf["path"], gdf.geometry, [k1, k2, k3]):
        _assert_close(geom, known)
        # clearly not the raster's extent
        with rasterio.open(path) as src:
            extent = _known(src.crs, shapely.box(*src.bounds))
        assert geom.area < 0.7 * extent.area
    # the diamond is half its raster's extent
    assert gdf.geometry.iloc[0].area == pytest.approx(shapely.box(*k1.bounds).area / 2, rel=0.03)
    # b's footprint lies in UTM 45 (east of 84E), a's in UTM 44
    assert gdf.geometry.iloc[1].centroid.x > 84 > gdf.geometry.iloc[0].centroid.x


def test_decimated_mask_still_matches(tmp_path):
    known = make_diamond(tmp_path / "a.tif")
    geom = raster_footprints([tmp_path / "a.tif"], max_size=50).geometry.iloc[0]
    _assert_close(geom, known, tol=0.05)
    assert shapely.get_num_coordinates(geom) < 200  # simplified, not a staircase of pixels


def test_fully_valid_raster_is_its_extent(tmp_path):
    path = tmp_path / "full.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=80, count=1, dtype="uint8", crs="EPSG:32644",
                       transform=from_origin(500000, 4400000, 10, 10)) as dst:
        dst.write(np.ones((1, 80, 100), dtype="uint8"))
    known = _known("EPSG:32644", shapely.box(500000, 4400000 - 800, 500000 + 1000, 4400000))
    _assert_close(raster_footprints([path]).geometry.iloc[0], known, tol=0.01)


def test_dates_from_metadata_and_from_file_name(tmp_path):
    make_diamond(tmp_path / "meta_tiff.tif", tags={"TIFFTAG_DATETIME": "2019:05:16 04:12:30"})
    make_diamond(tmp_path / "meta_acq.tif", tags={"ACQUISITIONDATETIME": "2021-07-02T05:06:07Z",
                                                 "TIFFTAG_DATETIME": "2024:01:01 00:00:00"})
    make_diamond(tmp_path / "kashgar_20200301_x.tif")
    make_diamond(tmp_path / "nodate.tif")
    paths = sorted(tmp_path.glob("*.tif"))
    plain = raster_footprints(paths).set_index("id")
    assert plain.loc["meta_tiff", "datetime"].isoformat() == "2019-05-16T04:12:30+00:00"
    assert plain.loc["meta_tiff", "datetime_source"] == "metadata:TIFFTAG_DATETIME"
    # the acquisition tag wins over the file-writing time
    assert plain.loc["meta_acq", "datetime"].isoformat() == "2021-07-02T05:06:07+00:00"
    assert plain.loc["meta_acq", "datetime_source"] == "metadata:ACQUISITIONDATETIME"
    assert plain["datetime"].isna()[["kashgar_20200301_x", "nodate"]].all()

    named = raster_footprints(paths, date_pattern="%Y%m%d").set_index("id")
    assert named.loc["kashgar_20200301_x", "datetime"].isoformat() == "2020-03-01T00:00:00+00:00"
    assert named.loc["kashgar_20200301_x", "datetime_source"] == "filename"
    # a name that does not match falls back to metadata
    assert named.loc["meta_tiff", "datetime_source"] == "metadata:TIFFTAG_DATETIME"
    assert pd_isna(named.loc["nodate", "datetime"])

    regex = raster_footprints([tmp_path / "kashgar_20200301_x.tif"],
                              date_pattern=r"_(?P<year>\d{4})(?P<month>\d\d)(?P<day>\d\d)_")
    assert regex["datetime"].iloc[0].isoformat() == "2020-03-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="named group"):
        raster_footprints([tmp_path / "kashgar_20200301_x.tif"], date_pattern=r"(?P<stamp>\d{8})")


def pd_isna(v):
    import pandas as pd
    return pd.isna(v)


def test_web_image_aligned_with_alpha_and_reproducible(tmp_path):
    make_diamond(tmp_path / "a.tif")
    make_masked_rgb(tmp_path / "b.tif")
    out1, out2 = tmp_path / "img1", tmp_path / "img2"
    g1 = raster_footprints([tmp_path / "a.tif", tmp_path / "b.tif"], image_dir=out1, max_size=128)
    raster_footprints([tmp_path / "a.tif", tmp_path / "b.tif"], image_dir=out2, max_size=128)
    for rid, geom, image, bounds in zip(g1["id"], g1.geometry, g1["image"], g1["image_bounds"]):
        png = out1 / image
        assert png.read_bytes() == (out2 / image).read_bytes()
        assert sorted(os.listdir(out1)) == ["a.png", "b.png"]
        (s, w), (n, e) = bounds
        minx, miny, maxx, maxy = geom.bounds
        assert w <= minx + 0.01 and e >= maxx - 0.01 and s <= miny + 0.01 and n >= maxy - 0.01
        with rasterio.open(png) as img:
            assert img.count == 4 and max(img.width, img.height) <= 128
            rgba = img.read()
        alpha = rgba[3]
        h, wd = alpha.shape
        assert alpha[h // 2, wd // 2] == 255
        assert alpha[1, 1] == 0  # nodata corner is transparent
        # valid pixels take the whole stretched range
        assert rgba[0][alpha > 0].min() <= 5 and rgba[0][alpha > 0].max() >= 250
        # transparent share ~ the nodata share of the image's extent (diamond: about half)
        if rid == "a":
            assert 0.35 < (alpha == 0).mean() < 0.65


def test_no_crs_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8") as dst:
        dst.write(np.ones((1, 10, 10), dtype="uint8"))
    with pytest.raises(ValueError, match="plain.tif: raster has no coordinate reference system"):
        raster_footprints([path])


def test_write_raster_source_atomic_with_hashes(tmp_path):
    make_diamond(tmp_path / "a_20190516.tif")
    make_masked_rgb(tmp_path / "b_20200601.tif")
    sources = tmp_path / "sources"
    folder = write_raster_source([tmp_path / "b_20200601.tif", tmp_path / "a_20190516.tif"], sources, "my-rasters",
                                 date_pattern="%Y%m%d", max_size=128)
    assert folder == sources / "my-rasters"
    assert sorted(os.listdir(sources)) == ["my-rasters"]  # no temp folder left behind
    desc = json.loads((folder / "datapackage.json").read_text())
    assert desc["name"] == "my-rasters"
    assert desc["licenses"][0]["name"] == "as-provided-by-the-user"
    assert desc["facilitymap"]["layer"] == "scenes" and desc["facilitymap"]["reader"] == "geoparquet"
    paths = {r["path"] for r in desc["resources"]}
    assert paths == {"scenes.parquet", "images/a_20190516.png", "images/b_20200601.png"}
    for r in desc["resources"]:
        data = (folder / r["path"]).read_bytes()
        assert r["bytes"] == len(data)
        assert r["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    scenes = gpd.read_parquet(folder / "scenes.parquet")
    assert scenes["id"].tolist() == ["a_20190516", "b_20200601"]
    assert scenes["datetime"].dt.strftime("%Y-%m-%d").tolist() == ["2019-05-16", "2020-06-01"]
    assert scenes["image"].tolist() == ["images/a_20190516.png", "images/b_20200601.png"]
    assert json.loads(scenes["image_bounds"].iloc[0])[0][0] < 40
    assert (folder / "README.md").read_text().count("as provided by the user") >= 1

    # the same inputs again give byte-identical files
    again = write_raster_source([tmp_path / "a_20190516.tif", tmp_path / "b_20200601.tif"], sources, "again",
                                date_pattern="%Y%m%d", max_size=128)
    for name in ("scenes.parquet", "images/a_20190516.png"):
        assert (again / name).read_bytes() == (folder / name).read_bytes()

    # an existing folder is refused, a failing input leaves nothing behind
    with pytest.raises(FileExistsError):
        write_raster_source([tmp_path / "a_20190516.tif"], sources, "my-rasters")
    with pytest.raises(Exception):
        write_raster_source([tmp_path / "a_20190516.tif", tmp_path / "missing.tif"], sources, "broken")
    assert sorted(os.listdir(sources)) == ["again", "my-rasters"]


def test_write_raster_source_from_footprint_table(tmp_path):
    make_diamond(tmp_path / "a.tif")
    gdf = raster_footprints([tmp_path / "a.tif"], image_dir=tmp_path / "imgs", max_size=64)
    folder = write_raster_source(gdf, tmp_path / "sources", "from-table")
    assert (folder / "images" / "a.png").read_bytes() == (tmp_path / "imgs" / "a.png").read_bytes()
    back = gpd.read_parquet(folder / "scenes.parquet")
    assert back.geometry.iloc[0].equals_exact(gdf.geometry.iloc[0], 1e-9)


def test_written_source_validates_and_warns_about_the_placeholder_licence(tmp_path):
    from facilitymap.registry import load_sources, source_warnings, validate_sources

    make_diamond(tmp_path / "a.tif")
    write_raster_source([tmp_path / "a.tif"], tmp_path / "sources", "mine", max_size=64)
    sources = load_sources(tmp_path / "sources")
    # no URL is known for the user's own files, and the descriptor says so (upstream null + upstream_note)
    assert validate_sources(sources) == []
    (warning,) = source_warnings(sources)
    assert "mine/datapackage.json: warning: licenses[0] is 'as-provided-by-the-user'" in warning
    # without the explicit note, the blank provenance is an error again
    d = json.loads(sources[0].descriptor_path.read_text())
    d["facilitymap"].pop("upstream_note")
    sources[0].descriptor_path.write_text(json.dumps(d))
    problems = validate_sources(load_sources(tmp_path / "sources"))
    assert len(problems) == 2
    assert "sources[0]: needs title and an http(s) path" in problems[0]
    assert "facilitymap.upstream is missing" in problems[1]


def test_dark_pixels_inside_and_specks_outside_are_not_holes_or_islands(tmp_path):
    path = tmp_path / "speckled.tif"
    known = make_diamond(path)
    with rasterio.open(path, "r+") as dst:
        data = dst.read(1)
        rng = np.random.default_rng(3)
        rows, cols = rng.integers(150, 250, 40), rng.integers(150, 250, 40)
        data[rows, cols] = 0          # single dark pixels equal to nodata, inside the valid area
        data[2, 2] = data[397, 3] = 7  # stray valid pixels in the nodata collar
        dst.write(data, 1)
    geom = raster_footprints([path]).geometry.iloc[0]
    assert geom.geom_type == "Polygon" and len(geom.interiors) == 0
    _assert_close(geom, known)
