"""QGIS plugin: the gridmap Processing provider (partition, audit, export) for the toolbox and ``qgis_process``."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Return the plugin object QGIS loads (its ``initProcessing`` registers the provider)."""
    from .plugin import GridmapPlugin

    return GridmapPlugin()
