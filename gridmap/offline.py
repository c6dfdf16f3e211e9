"""Offline maps: replace the map page's CDN scripts and styles by the same files from installed packages.

Government intranets often have no internet, so a folium page that loads Leaflet from a CDN
shows nothing there. ``gridmap map RUN --offline`` inlines every script and style sheet into the
HTML instead. The files come from the npm packages of the same names and versions the CDN serves
(leaflet, jquery, bootstrap, leaflet.markercluster, leaflet-search, ...), installed once with
``gridmap assets`` into an asset folder (``$GRIDMAP_ASSETS`` or ``~/.cache/gridmap/web``); gridmap
keeps no copy of them. Images referenced by the style sheets are inlined as data URIs. Base-map
tiles still need a tile server (an intranet one can be given to folium as a URL).
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
import shutil
import subprocess
from pathlib import Path

from geodata.errors import GridmapError

# CDN address → (npm package spec, file inside the package). jsDelivr's /npm/ addresses map by rule.
CDN_FILES: dict[str, tuple[str, str]] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js": (
        "leaflet.markercluster@1.1.0", "dist/leaflet.markercluster.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css": (
        "leaflet.markercluster@1.1.0", "dist/MarkerCluster.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": (
        "leaflet.markercluster@1.1.0", "dist/MarkerCluster.Default.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": (
        "drmonty-leaflet-awesome-markers@2.0.2", "js/leaflet.awesome-markers.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": (
        "drmonty-leaflet-awesome-markers@2.0.2", "css/leaflet.awesome-markers.css"),
}
# Styles the grid map does not use (icon fonts for markers it does not draw): left out offline.
UNUSED = (
    "bootstrap-glyphicons.css",
    "leaflet.awesome.rotate.min.css",
    "fontawesome-free",
)
JSDELIVR_NPM = re.compile(r"https://cdn\.jsdelivr\.net/npm/(?P<pkg>(?:@[^/]+/)?[^/@]+)@(?P<ver>[^/]+)/(?P<path>.+)")
TAG = re.compile(
    r'<script src="(?P<js>https?://[^"]+)"></script>|<link rel="stylesheet" href="(?P<css>https?://[^"]+)"\s*/?>'
)


def asset_dir() -> Path:
    """Folder holding the installed npm packages (``$GRIDMAP_ASSETS`` or ``~/.cache/gridmap/web``)."""
    return Path(os.environ.get("GRIDMAP_ASSETS") or Path.home() / ".cache" / "gridmap" / "web")


def resolve(url: str) -> tuple[str, str] | None:
    """The (npm package spec, file path) that holds the file a CDN `url` serves, or None."""
    if url in CDN_FILES:
        return CDN_FILES[url]
    m = JSDELIVR_NPM.fullmatch(url)
    if m:
        return f"{m['pkg']}@{m['ver']}", m["path"]
    return None


def needed_packages(html: str) -> list[str]:
    """npm package specs the page's CDN files come from."""
    specs = set()
    for m in TAG.finditer(html):
        url = m["js"] or m["css"]
        hit = resolve(url)
        if hit and not _unused(url):
            specs.add(hit[0])
    return sorted(specs)


def install_assets(specs: list[str], *, folder: Path | None = None) -> Path:
    """Install npm packages into `folder` (needs ``npm``; reaches the npm registry once)."""
    folder = Path(folder or asset_dir())
    npm = shutil.which("npm")
    if npm is None:
        msg = "npm is not installed: install Node.js (Debian: apt install npm), or copy an asset folder made elsewhere."
        raise GridmapError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(folder), *specs]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise GridmapError(f"npm install failed:\n{done.stderr[-2000:]}")
    return folder


def _unused(url: str) -> bool:
    return any(u in url for u in UNUSED)


def _file(url: str, folder: Path) -> Path | None:
    hit = resolve(url)
    if hit is None:
        return None
    spec, path = hit
    name = spec.rsplit("@", 1)[0] if not spec.startswith("@") or spec.count("@") > 1 else spec
    f = folder / "node_modules" / name / path
    return f if f.exists() else None


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css_urls(css: str, base: Path) -> str:
    def repl(m: re.Match) -> str:
        ref = m.group(2)
        if ref.startswith(("data:", "http:", "https:", "#")):
            return m.group(0)
        target = (base / ref.split("?")[0].split("#")[0]).resolve()
        return f"url({_data_uri(target)})" if target.exists() else m.group(0)

    return re.sub(r"url\((['\"]?)([^)'\"]+)\1\)", repl, css)


def inline_html(html: str, *, folder: Path | None = None) -> str:
    """Replace every CDN ``<script>``/style-sheet link of `html` by the file's contents.

    Raises
    ------
    GridmapError
        When a needed file is not installed; the message says how to install it.
    """
    folder = Path(folder or asset_dir())
    missing = []

    def repl(m: re.Match) -> str:
        url = m["js"] or m["css"]
        if _unused(url):
            return ""
        f = _file(url, folder)
        if f is None:
            missing.append(url)
            return m.group(0)
        text = f.read_text(encoding="utf-8")
        if m["js"]:
            return "<script>" + text.replace("</script", "<\\/script") + "</script>"
        return "<style>" + _inline_css_urls(text, f.parent) + "</style>"

    out = TAG.sub(repl, html)
    if missing:
        specs = " ".join(needed_packages(html))
        msg = (
            f"{len(missing)} map files are not installed in {folder} (first: {missing[0]}). "
            f"Fix: run `gridmap assets` once (npm install {specs}), or set GRIDMAP_ASSETS to a folder that has them."
        )
        raise GridmapError(msg)
    return out
