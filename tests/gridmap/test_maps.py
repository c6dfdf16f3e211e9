"""The map page and its assets: pinned, checksum-verified Leaflet; inlined by default, CDN with SRI on request."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

import pandas as pd
import pytest

from geodata.errors import OptionError
from gridmap import offline
from gridmap.maps import (
    EXCLUSIVE_COLOR,
    GROUP_COLOR,
    STATUS_COLORS,
    build_map,
    status_colors,
)


def fake_tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def opener_for(data: bytes):
    return lambda url: io.BytesIO(data)


@pytest.fixture
def one_package(monkeypatch):
    files = {"dist/x.js": b"var x = 1;", "LICENSE": b"BSD"}
    data = fake_tarball(files)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    spec = {
        "version": "1.0.0",
        "tarball": "https://registry.npmjs.org/x/-/x-1.0.0.tgz",
        "integrity": integrity,
        "license": "MIT",
        "homepage": "https://example.org",
        "files": tuple(files),
    }
    monkeypatch.setattr(offline, "ASSETS", {"x": spec})
    return data, files


def test_fetch_extracts_the_listed_files_of_a_matching_tarball(one_package, tmp_path):
    data, files = one_package
    (folder,) = offline.fetch_assets(tmp_path, opener=opener_for(data))
    assert (folder / "dist/x.js").read_bytes() == files["dist/x.js"]
    assert json.loads((tmp_path / "LICENSES.json").read_text())["x"]["license"] == "MIT"
    # a second build finds the verified copy and downloads nothing
    offline.fetch_assets(tmp_path, opener=lambda url: pytest.fail("downloaded again"))


def test_fetch_refuses_a_tarball_that_does_not_match_its_checksum(one_package, tmp_path):
    data, _ = one_package
    with pytest.raises(RuntimeError, match="refusing"):
        offline.fetch_assets(tmp_path, opener=opener_for(data + b"tampered"))
    assert not (tmp_path / "x-1.0.0").exists()


def test_installed_leaflet_is_the_pinned_one():
    folder = offline.package_dir("leaflet")
    assert (folder / ".integrity").read_text().strip() == offline.ASSETS["leaflet"]["integrity"]
    assert 't.version="1.9.4"' in (folder / "dist/leaflet.js").read_text(encoding="utf-8")


def test_default_page_inlines_everything_and_cdn_page_pins_with_integrity(hostile_run):
    result, _ = hostile_run
    page = build_map(result).get_root().render()
    assert "<script src=" not in page and '<link rel="stylesheet"' not in page
    assert "cdn.jsdelivr.net" not in page and "unpkg" not in page
    assert "url(images/" not in page  # Leaflet's images are data URIs
    cdn = build_map(result, cdn=True).get_root().render()
    js = offline.cdn_url("leaflet", "dist/leaflet.js")
    assert f'<script src="{js}" integrity="{offline.sri("leaflet", "dist/leaflet.js")}"' in cdn
    assert len(cdn) < len(page) - 100_000


@pytest.mark.parametrize("kw", [{"basemap": "bing"}, {"lang": "fr"}, {"basemap": "tianditu", "tianditu_key": ""}])
def test_bad_map_options_are_refused_with_the_choices(hostile_run, kw, monkeypatch):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(OptionError):
        build_map(hostile_run[0], **kw)


def test_status_colour_states_the_rule():
    g = pd.DataFrame(
        {
            "rule": ["household_band", "household_band", "village_group", "exclusive", "village_group"],
            "grid_type": ["base", "base", "base", "exclusive/school", "base"],
            "status": ["ok", "over_max", "ok", "ok", "enclave"],
        }
    )
    assert list(status_colors(g)) == [
        STATUS_COLORS["ok"],
        STATUS_COLORS["over_max"],
        GROUP_COLOR,
        EXCLUSIVE_COLOR,
        STATUS_COLORS["enclave"],
    ]
