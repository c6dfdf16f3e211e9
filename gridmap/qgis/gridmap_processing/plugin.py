"""The plugin object: registers the gridmap provider with QGIS Processing."""

from qgis.core import QgsApplication

from .provider import GridmapProvider


class GridmapPlugin:
    """Adds the gridmap algorithms to the Processing toolbox (and to ``qgis_process``)."""

    def __init__(self):
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        """Register the provider (called by QGIS, also headless)."""
        self.provider = GridmapProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802 (QGIS's name)
        """Register the provider when the desktop loads the plugin."""
        self.initProcessing()

    def unload(self):
        """Remove the provider."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
