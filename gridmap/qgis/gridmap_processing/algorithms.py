"""Processing algorithms: gridmap partition, audit and export on project layers, through the gridmap command line.

QGIS runs its own Python, where gridmap is usually not installed; the algorithms therefore hand the
layers (as files) to the ``gridmap`` command of the environment it is installed in, and load the
results. The run's ``grids.gpkg`` carries QGIS styles, so the grids open coloured and labelled.
"""

import os
import tempfile

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputFolder,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsVectorFileWriter,
)

from . import commands

GPKG = ["gpkg", "shp", "geojson"]


class _Gridmap(QgsProcessingAlgorithm):
    """Shared parts: the gridmap executable parameter, layer hand-over and running the command."""

    def group(self):
        """Return the toolbox group."""
        return "网格 grids"

    def groupId(self):  # noqa: N802 (QGIS's name)
        """Return the toolbox group id."""
        return "grids"

    def createInstance(self):  # noqa: N802 (QGIS's name)
        """Return a new instance (QGIS runs each in its own)."""
        return type(self)()

    def _exe_param(self):
        self.addParameter(
            QgsProcessingParameterString(
                "GRIDMAP",
                "gridmap 命令 command, e.g. /home/me/.venv/bin/gridmap (empty: $GRIDMAP_CLI, else gridmap on the PATH)",
                optional=True,
            )
        )

    def _exe(self, parameters, context):
        try:
            return commands.gridmap_executable(self.parameterAsString(parameters, "GRIDMAP", context))
        except FileNotFoundError as exc:
            raise QgsProcessingException(str(exc)) from exc

    def _out(self, parameters, context):
        """Return the OUTPUT folder, removed when Processing made it empty (gridmap creates its folder itself)."""
        out = self.parameterAsString(parameters, "OUTPUT", context)
        if os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)
        return out

    def _source(self, parameters, name, context, feedback):
        """(path, layer) of a feature-source parameter, exported to a GeoPackage when not a file."""
        path, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, name, context, GPKG, "gpkg", feedback
        )
        if not path:
            return None
        return path, layer or ""

    def _run(self, cmd, feedback):
        try:
            return commands.run(cmd, echo=feedback.pushInfo)
        except commands.CommandError as exc:
            raise QgsProcessingException(str(exc)) from exc


class PartitionAlgorithm(_Gridmap):
    """gridmap partition: coded grids from address points and village/community boundaries."""

    def name(self):
        """Return the algorithm id (``gridmap:partition``)."""
        return "partition"

    def displayName(self):  # noqa: N802 (QGIS's name)
        """Return the name shown in the toolbox."""
        return "划分网格 Partition into grids"

    def shortHelpString(self):  # noqa: N802 (QGIS's name)
        """Return the help shown beside the dialog."""
        return (
            "把村/社区划分为网格并编码（15 位）。Divides villages/communities into coded management grids: "
            "urban communities by a household band (300–500 by default), villages one grid per 村民小组. "
            "Writes a run folder (grids.gpkg styled for QGIS, map.html, report.html, roster.csv) and loads the grids."
        )

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        """Declare the parameters."""
        self.addParameter(
            QgsProcessingParameterFeatureSource("ADDRESSES", "地址点 Address points", [QgsProcessing.TypeVectorPoint])
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "BOUNDARIES", "村/社区边界 Village/community boundaries", [QgsProcessing.TypeVectorPolygon]
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "EXCLUSIVE", "专属区域 Exclusive areas", [QgsProcessing.TypeVectorPolygon], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                "BARRIERS", "道路、河流 Barriers (roads, rivers)", QgsProcessing.TypeVectorLine, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                "HOUSEHOLDS", "户数字段 Households field", parentLayerParameterName="ADDRESSES", optional=True
            )
        )
        for key, label in (("MIN", "最少户数 Minimum households"), ("MAX", "最多户数 Maximum households")):
            # empty: gridmap's own default band (300-500), so the band is written in one place
            self.addParameter(
                QgsProcessingParameterNumber(
                    key, label, QgsProcessingParameterNumber.Integer, None, optional=True, minValue=1
                )
            )
        self.addParameter(QgsProcessingParameterString("NAME", "名称 Run name", optional=True))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", "覆盖 Replace an earlier run", False))
        self._exe_param()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "运行文件夹 Run folder"))
        self.addOutput(QgsProcessingOutputVectorLayer("GRIDS", "网格 Grids", QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS's name)
        """Hand the layers to ``gridmap partition`` and return the run folder and its grids layer."""
        exe = self._exe(parameters, context)
        out = self._out(parameters, context)
        tmp = tempfile.mkdtemp(prefix="gridmap-qgis-")
        barriers = []
        for i, layer in enumerate(self.parameterAsLayerList(parameters, "BARRIERS", context)):
            path = os.path.join(tmp, f"barriers_{i}.gpkg")
            options = QgsVectorFileWriter.SaveVectorOptions()
            options.driverName, options.layerName = "GPKG", "barriers"
            err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, context.transformContext(), options)
            if err[0] != QgsVectorFileWriter.NoError:
                raise QgsProcessingException(f"{layer.name()}: could not be written for gridmap ({err[1]}).")
            barriers.append(path)
        cmd = commands.partition_command(
            exe,
            addresses=self._source(parameters, "ADDRESSES", context, feedback),
            boundaries=self._source(parameters, "BOUNDARIES", context, feedback),
            exclusive=self._source(parameters, "EXCLUSIVE", context, feedback),
            barriers=barriers,
            barriers_layer="barriers",
            min_households=_optional_int(self, parameters, "MIN", context),
            max_households=_optional_int(self, parameters, "MAX", context),
            households_col=self.parameterAsString(parameters, "HOUSEHOLDS", context),
            name=self.parameterAsString(parameters, "NAME", context),
            overwrite=self.parameterAsBool(parameters, "OVERWRITE", context),
            out=out,
        )
        self._run(cmd, feedback)
        return {"OUTPUT": out, "GRIDS": os.path.join(out, "grids.gpkg") + "|layername=grids"}


class AuditAlgorithm(_Gridmap):
    """gridmap audit: gaps, overlaps, households outside the band and bad codes of an existing grid layer."""

    def name(self):
        """Return the algorithm id (``gridmap:audit``)."""
        return "audit"

    def displayName(self):  # noqa: N802 (QGIS's name)
        """Return the name shown in the toolbox."""
        return "检查现有网格 Audit a grid layer"

    def shortHelpString(self):  # noqa: N802 (QGIS's name)
        """Return the help shown beside the dialog."""
        return (
            "检查已有网格图层：缝隙、重叠、户数、编码。"
            "Audits an existing grid layer (gaps, overlaps, households, codes)."
        )

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        """Declare the parameters."""
        self.addParameter(QgsProcessingParameterFeatureSource("GRIDS", "网格 Grids", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(
            QgsProcessingParameterField("GRID_CODE", "网格编码字段 Grid code field", parentLayerParameterName="GRIDS")
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource("ADDRESSES", "地址点 Address points", [QgsProcessing.TypeVectorPoint])
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "BOUNDARIES", "村/社区边界 Village/community boundaries", [QgsProcessing.TypeVectorPolygon]
            )
        )
        for key, label in (("MIN", "最少户数 Minimum households"), ("MAX", "最多户数 Maximum households")):
            # empty: gridmap's own default band (300-500), so the band is written in one place
            self.addParameter(
                QgsProcessingParameterNumber(
                    key, label, QgsProcessingParameterNumber.Integer, None, optional=True, minValue=1
                )
            )
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", "覆盖 Replace an earlier audit", False))
        self._exe_param()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "检查结果文件夹 Audit folder"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS's name)
        """Hand the layers to ``gridmap audit`` and return its folder."""
        exe = self._exe(parameters, context)
        out = self._out(parameters, context)
        cmd = commands.audit_command(
            exe,
            grids=self._source(parameters, "GRIDS", context, feedback),
            grid_code_col=self.parameterAsString(parameters, "GRID_CODE", context),
            addresses=self._source(parameters, "ADDRESSES", context, feedback),
            boundaries=self._source(parameters, "BOUNDARIES", context, feedback),
            min_households=_optional_int(self, parameters, "MIN", context),
            max_households=_optional_int(self, parameters, "MAX", context),
            overwrite=self.parameterAsBool(parameters, "OVERWRITE", context),
            out=out,
        )
        self._run(cmd, feedback)
        return {"OUTPUT": out}


class ExportAlgorithm(_Gridmap):
    """gridmap export: a run folder as Shapefile, KML, XLSX/CSV rosters, GeoJSON or GeoPackage."""

    def name(self):
        """Return the algorithm id (``gridmap:export``)."""
        return "export"

    def displayName(self):  # noqa: N802 (QGIS's name)
        """Return the name shown in the toolbox."""
        return "导出 Export a run"

    def shortHelpString(self):  # noqa: N802 (QGIS's name)
        """Return the help shown beside the dialog."""
        return (
            "导出运行结果。"
            "Exports a run folder: Shapefile (GBK for older GIS), KML, XLSX/CSV rosters, GeoJSON, GeoPackage."
        )

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        """Declare the parameters."""
        self.addParameter(
            QgsProcessingParameterFile("RUN", "运行文件夹 Run folder", behavior=QgsProcessingParameterFile.Folder)
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "FORMATS", "格式 Formats", list(commands.FORMATS), allowMultiple=True, defaultValue=[2]
            )
        )
        self.addParameter(QgsProcessingParameterString("ENCODING", "Shapefile 编码 encoding", "UTF-8"))
        self._exe_param()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "导出文件夹 Export folder"))
        self.addOutput(QgsProcessingOutputFolder("FOLDER", "导出文件夹 Export folder"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS's name)
        """Run ``gridmap export`` and return its folder."""
        exe = self._exe(parameters, context)
        out = self._out(parameters, context)
        formats = [commands.FORMATS[i] for i in self.parameterAsEnums(parameters, "FORMATS", context)]
        cmd = commands.export_command(
            exe,
            run=self.parameterAsFile(parameters, "RUN", context),
            formats=formats,
            out=out,
            encoding=self.parameterAsString(parameters, "ENCODING", context),
        )
        self._run(cmd, feedback)
        return {"OUTPUT": out, "FOLDER": out}


def _optional_int(alg, parameters, key, context):
    """Return the whole number given for an optional parameter, or None when it was left empty."""
    if parameters.get(key) in (None, ""):
        return None
    return alg.parameterAsInt(parameters, key, context)
