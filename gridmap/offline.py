"""The map's web assets: pinned npm files fetched and checksum-verified at build time, read at render time.

County intranets have no internet, so ``map.html`` carries Leaflet inline by default. The files
are not kept in the repository: the package build (``setup.py``'s ``build_py``, also run by
``pip install -e .``) downloads each pinned npm tarball from the npm registry with the standard
library (no ``npm`` binary), checks it against the registry's sha512 ``integrity`` and writes the
listed files and the licence into ``gridmap/web/``. At render time :func:`asset_text` reads them;
``--cdn`` pages link the same versions on jsDelivr with Subresource Integrity hashes of the local
copies. This module imports only the standard library, so the build can load it by path.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

WEB = Path(__file__).with_name("web")
"""Folder the build writes the assets into (git-ignored; shipped as package data)."""

ASSETS: dict[str, dict] = {
    "leaflet": {
        "version": "1.9.4",
        "tarball": "https://registry.npmjs.org/leaflet/-/leaflet-1.9.4.tgz",
        "integrity": "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
        "license": "BSD-2-Clause",
        "homepage": "https://leafletjs.com",
        "files": (
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
            "LICENSE",
        ),
    },
}
"""npm package → pinned version, registry tarball, its sha512 integrity, licence and the files the map uses."""

SCRIPTS = (("leaflet", "dist/leaflet.js"),)
STYLES = (("leaflet", "dist/leaflet.css"),)


def package_dir(name: str, *, web: Path = WEB) -> Path:
    """Folder of one fetched package: ``web/<name>-<version>``."""
    return web / f"{name}-{ASSETS[name]['version']}"


def _stamp(folder: Path) -> Path:
    return folder / ".integrity"


def fetch_assets(web: Path = WEB, *, opener=urllib.request.urlopen) -> list[Path]:
    """Download every pinned package not yet present, verify its sha512, extract the listed files.

    Returns
    -------
    folders
        One folder per package.

    Raises
    ------
    RuntimeError
        When a download does not match its pinned checksum (nothing is written then).
    """
    folders = []
    for name, spec in ASSETS.items():
        folder = package_dir(name, web=web)
        folders.append(folder)
        stamp = _stamp(folder)
        if (
            stamp.exists()
            and stamp.read_text().strip() == spec["integrity"]
            and all((folder / f).exists() for f in spec["files"])
        ):
            continue
        with opener(spec["tarball"]) as resp:
            data = resp.read()
        algo, _, want = spec["integrity"].partition("-")
        got = base64.b64encode(hashlib.new(algo, data).digest()).decode("ascii")
        if got != want:
            msg = f"{spec['tarball']}: {algo} is {got}, expected {want}; refusing to use it."
            raise RuntimeError(msg)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for rel in spec["files"]:
                member = tar.extractfile(f"package/{rel}")
                if member is None:
                    msg = f"{spec['tarball']} has no file {rel}."
                    raise RuntimeError(msg)
                target = folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(member.read())
        stamp.write_text(spec["integrity"] + "\n")
    (web / "LICENSES.json").write_text(
        json.dumps(
            {
                n: {k: s[k] for k in ("version", "license", "homepage", "tarball", "integrity")}
                for n, s in ASSETS.items()
            },
            indent=2,
        )
        + "\n"
    )
    return folders


def asset_path(name: str, rel: str, *, web: Path = WEB) -> Path:
    """Path of an installed asset file.

    Raises
    ------
    GridmapError
        When the package was installed without its web assets; the message says how to fix it.
    """
    path = package_dir(name, web=web) / rel
    if not path.exists():
        from geodata.errors import GridmapError

        msg = (
            f"the map's web files are not installed ({path} is missing). Fix: reinstall gridmap "
            "(`pip install -e .` fetches them from the npm registry once), or pass --cdn to link them online."
        )
        raise GridmapError(msg)
    return path


def asset_text(name: str, rel: str, *, web: Path = WEB) -> str:
    """Text of an installed asset; CSS has its images inlined as data URIs."""
    path = asset_path(name, rel, web=web)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".css":
        import re

        def repl(m: re.Match) -> str:
            target = path.parent / m.group(2)
            if not target.exists():
                return m.group(0)
            uri = "data:image/png;base64," + base64.b64encode(target.read_bytes()).decode("ascii")
            return f"url({uri})"

        text = re.sub(r"url\((['\"]?)(images/[^)'\"]+\.png)\1\)", repl, text)
    return text


def cdn_url(name: str, rel: str) -> str:
    """JsDelivr address of the same pinned file."""
    return f"https://cdn.jsdelivr.net/npm/{name}@{ASSETS[name]['version']}/{rel}"


def sri(name: str, rel: str, *, web: Path = WEB) -> str:
    """Subresource Integrity value (sha384) of the installed copy, for the CDN variant."""
    data = asset_path(name, rel, web=web).read_bytes()
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def head_tags(*, cdn: bool = False) -> str:
    """``<script>``/``<style>`` tags of every asset: inlined (default) or CDN links with SRI."""
    out = []
    for name, rel in STYLES:
        if cdn:
            out.append(
                f'<link rel="stylesheet" href="{cdn_url(name, rel)}" integrity="{sri(name, rel)}" '
                'crossorigin="anonymous">'
            )
        else:
            out.append(f"<style>{asset_text(name, rel)}</style>")
    for name, rel in SCRIPTS:
        if cdn:
            out.append(
                f'<script src="{cdn_url(name, rel)}" integrity="{sri(name, rel)}" crossorigin="anonymous"></script>'
            )
        else:
            out.append("<script>" + asset_text(name, rel).replace("</script", "<\\/script") + "</script>")
    return "\n".join(out)
