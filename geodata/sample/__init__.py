"""The bundled sample township (see README.md in this folder for sources and licences)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_LAYERS = ("addresses", "boundaries", "exclusive", "barriers")


def sample_path() -> Path:
    """Return the path of ``township.gpkg``, the bundled sample (layers :data:`SAMPLE_LAYERS`)."""
    return Path(str(resources.files("geodata.sample").joinpath("township.gpkg")))
