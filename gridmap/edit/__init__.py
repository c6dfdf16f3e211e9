"""Adjust grids by hand: an in-memory edit session, its JSON API and the browser page (`gridmap edit`)."""

from gridmap.edit.session import OPS, EditSession, replay

__all__ = ["OPS", "EditSession", "replay"]
