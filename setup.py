"""Build hook only (metadata is in pyproject.toml): fetch the map's pinned, sha512-checked web assets.

``build_py`` (run by ``pip install .``, ``pip install -e .`` and wheel builds) downloads the npm
tarballs listed in ``gridmap/offline.py:ASSETS`` into ``gridmap/web/`` before packaging.
"""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithAssets(build_py):
    """``build_py`` that first fetches the map's web assets into the source tree."""

    def run(self):
        spec = importlib.util.spec_from_file_location("_gridmap_offline", HERE / "gridmap" / "offline.py")
        offline = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(offline)
        offline.fetch_assets(HERE / "gridmap" / "web")
        super().run()


setup(cmdclass={"build_py": BuildPyWithAssets})
