"""The gridmap Processing provider: partition, audit and export."""

from qgis.core import QgsProcessingProvider

from .algorithms import AuditAlgorithm, ExportAlgorithm, PartitionAlgorithm


class GridmapProvider(QgsProcessingProvider):
    """Algorithms that run the gridmap command line on project layers."""

    def id(self):
        """Return the provider id used in ``gridmap:partition``."""
        return "gridmap"

    def name(self):
        """Return the name shown in the toolbox."""
        return "gridmap 网格划分"

    def loadAlgorithms(self):  # noqa: N802 (QGIS's name)
        """Add the algorithms."""
        for alg in (PartitionAlgorithm(), AuditAlgorithm(), ExportAlgorithm()):
            self.addAlgorithm(alg)
