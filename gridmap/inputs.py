"""Read input files or PostGIS layers into GeoDataFrames with their true CRS, remembering where each came from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import geopandas as gpd

from geodata import crs as gcrs
from geodata import io as gio
from geodata.errors import InputError, Problem
from geodata.postgis import DbSource, is_db_url
from geodata.sample import sample_path
from gridmap.options import Options
from gridmap.provenance import file_sha256, frame_sha256

PathLike = str | Path


class SampleLayers(TypedDict):
    """The layers of the sample, as :func:`read_inputs` takes them (:func:`sample_layers`)."""

    addresses: LayerSpec
    boundaries: LayerSpec
    exclusive: LayerSpec
    barriers: list[LayerSpec]


class Frames(TypedDict):
    """The keyword arguments of :func:`gridmap.make_grids` that read inputs fill (:meth:`Inputs.frames`)."""

    addresses: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    units: gpd.GeoDataFrame | None
    exclusive: gpd.GeoDataFrame | None
    barriers: list[gpd.GeoDataFrame] | None
    previous: gpd.GeoDataFrame | None
    history: list[str] | None
    sources: dict[str, Source]


@dataclass(frozen=True)
class LayerSpec:
    """Where one input layer is: a path and its layer, or a PostGIS table/view/query.

    A database source is a :class:`geodata.postgis.DbSource`; its text form masks the password.
    """

    path: Path | DbSource
    layer: str | None = None

    def __post_init__(self) -> None:
        if is_db_url(self.path):  # a URL given as text becomes a DbSource, whose text form hides the password
            object.__setattr__(self, "path", DbSource(str(self.path), self.layer))
        elif not isinstance(self.path, Path | DbSource):
            object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, value: PathLike | DbSource | LayerSpec, layer: str | None = None) -> LayerSpec:
        """Return `value` as a LayerSpec.

        A path becomes one with `layer`; a ``postgresql://`` URL becomes a database source with `layer` as
        its ``SCHEMA.TABLE``.
        """
        if isinstance(value, LayerSpec):
            return value
        if isinstance(value, DbSource):
            return cls(value, value.layer)
        if is_db_url(value):
            return cls(DbSource(str(value), layer), layer)
        return cls(Path(value), layer)


def _sha256(path: Path | DbSource, gdf: gpd.GeoDataFrame, checksums: Mapping[Path, Future[str]]) -> str:
    """Return the file's checksum (from `checksums` when it is being hashed); for a database, of the rows as read."""
    if isinstance(path, DbSource):
        return frame_sha256(gdf)
    return checksums[path].result() if path in checksums else file_sha256(path)


@dataclass(frozen=True)
class Source:
    """Where an input frame came from, for error messages and the manifest."""

    label: str
    layer: str | None = None
    sha256: str | None = None
    csv: bool = False
    input_crs: str | None = None


@dataclass
class Inputs:
    """Input layers read from files, each in its true CRS, ready for :func:`gridmap.make_grids`."""

    addresses: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    units: gpd.GeoDataFrame | None = None
    exclusive: gpd.GeoDataFrame | None = None
    barriers: list[gpd.GeoDataFrame] = field(default_factory=list)
    previous: gpd.GeoDataFrame | None = None
    history: list[str] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    input_crs: str | None = None

    def frames(self) -> Frames:
        """Return the keyword arguments of :func:`gridmap.make_grids` that these inputs fill."""
        return {
            "addresses": self.addresses,
            "boundaries": self.boundaries,
            "units": self.units,
            "exclusive": self.exclusive,
            "barriers": self.barriers or None,
            "previous": self.previous,
            "history": self.history,
            "sources": self.sources,
        }


def read_input(
    spec: PathLike | LayerSpec,
    *,
    role: str,
    input_crs: str | None = None,
    crs: str | None = None,
    x_col: str | None = None,
    y_col: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    checksums: Mapping[Path, Future[str]] | None = None,
) -> tuple[gpd.GeoDataFrame, Source]:
    """Read one input layer and give it its true CRS (GCJ-02/BD-09 converted to WGS 84).

    Parameters
    ----------
    spec
        The file (and layer).
    role
        What the layer is (``addresses``, ``boundaries``, ...): names its CRS option in messages.
    input_crs
        CRS when the file declares none.
    crs
        CRS of this file whatever it declares (``<role>_crs``).
    x_col, y_col, encoding, sheet
        Coordinate columns, text encoding and workbook sheet of a table.
    checksums
        SHA-256 of input files being hashed meanwhile (:func:`read_inputs`) [the file is hashed after
        it is read].

    Returns
    -------
    gdf, source
        The layer, and where it came from (label, layer, checksum, CSV or not).
    """
    spec = LayerSpec.of(spec)
    label = str(spec.path)
    gdf = gio.read_layer(spec.path, layer=spec.layer, encoding=encoding, x_col=x_col, y_col=y_col, sheet=sheet)
    declared = gdf.crs is not None
    gdf = gcrs.assign_input_crs(gdf, input_crs=input_crs, crs=crs, file=label, option=f"{role}_crs")
    csv = gdf.attrs.get("rows") == "csv"
    applied = crs or (None if declared else input_crs)
    return gdf, Source(label, spec.layer, _sha256(spec.path, gdf, checksums or {}), csv, applied)


def read_previous(spec: PathLike | LayerSpec) -> tuple[gpd.GeoDataFrame, list[str], Source]:
    """Read the grids of an earlier run and every code it ever issued (its ``code_history``).

    From a database (``postgresql://…``, default layer ``gridmap.grids_current``): the current
    grids published by ``gridmap publish`` and every code in the schema's ``code_ledger``.
    """
    spec = LayerSpec.of(spec)
    if isinstance(spec.path, DbSource):
        return _read_previous_db(spec.path)
    layer = spec.layer
    if layer is None and spec.path.suffix.lower() == ".gpkg" and "grids" in gio.layer_names(spec.path):
        layer = "grids"
    prev = gio.read_layer(spec.path, layer=layer)
    history: list[str] = []
    if spec.path.suffix.lower() == ".gpkg" and "code_history" in gio.layer_names(spec.path):
        history = [str(c) for c in gio.read_table(spec.path, layer="code_history")["grid_code"]]
    if prev.crs is None:
        raise InputError(
            Problem(
                str(spec.path),
                "does not say which coordinate system it is in.",
                "pass the grids.gpkg of an earlier gridmap run, or a layer with a CRS.",
            )
        )
    return prev, history, Source(str(spec.path), layer, file_sha256(spec.path))


def _read_previous_db(source: DbSource) -> tuple[gpd.GeoDataFrame, list[str], Source]:
    from gridmap.publish import ledger_codes

    if source.layer is None and source.sql is None:
        source = DbSource(source.url, "gridmap.grids_current")
    prev = source.read()
    if prev.crs is None:
        raise InputError(
            Problem(str(source), "has SRID 0 (no coordinate system).", "give the geometry column an SRID.")
        )
    return prev, ledger_codes(source), Source(str(source), source.layer, frame_sha256(prev))


def sample_layers(path: PathLike | None = None) -> SampleLayers:
    """Return the layers of the bundled sample township as :func:`read_inputs` takes them.

    Parameters
    ----------
    path
        A GeoPackage laid out like the sample (layers ``addresses``, ``boundaries``, ``exclusive``
        and ``barriers``); default: the bundled sample (:func:`gridmap.sample_path`).

    Examples
    --------
    >>> import gridmap
    >>> sorted(gridmap.sample_layers())
    ['addresses', 'barriers', 'boundaries', 'exclusive']
    >>> inputs = gridmap.read_inputs(**gridmap.sample_layers())
    """
    p = Path(path) if path is not None else sample_path()
    return {
        "addresses": LayerSpec(p, "addresses"),
        "boundaries": LayerSpec(p, "boundaries"),
        "exclusive": LayerSpec(p, "exclusive"),
        "barriers": [LayerSpec(p, "barriers")],
    }


def read_inputs(
    addresses: PathLike | LayerSpec,
    boundaries: PathLike | LayerSpec,
    *,
    units: PathLike | LayerSpec | None = None,
    exclusive: PathLike | LayerSpec | None = None,
    barriers: Sequence[PathLike | LayerSpec] = (),
    previous: PathLike | LayerSpec | None = None,
    options: Options | None = None,
) -> Inputs:
    """Read every input file of a run (CSV, Excel, GeoJSON, GeoPackage, Shapefile, zipped Shapefile).

    Parameters
    ----------
    addresses, boundaries
        Household address points and village/community polygons: a path, or a
        :class:`LayerSpec` naming the layer of a multi-layer file.
    units, exclusive, barriers, previous
        Optional layers: unit polygons, exclusive areas (专属网格), barrier lines, and the grids of
        an earlier run (with its ``code_history`` table when it is a gridmap GeoPackage).
    options
        How to read them (:class:`gridmap.Options`): ``input_crs`` for the files that **do not
        declare a CRS** (CSV, Excel, Shapefile without ``.prj``; ``gcj02``/``bd09`` are converted
        to WGS 84), ``layer_crs`` for one input whatever its file declares (e.g. ``gcj02`` for an
        Amap GeoJSON, which is tagged EPSG:4326), ``x_col``/``y_col``/``encoding`` of a table and
        ``sheet`` of an addresses workbook.

    Returns
    -------
    inputs
        The layers; pass ``**inputs.frames()`` to :func:`gridmap.make_grids`.

    Raises
    ------
    InputError, CRSError
        When a file is unusable; the message names file, row, column and the fix.

    Examples
    --------
    >>> from geodata.sample import sample_path
    >>> p = sample_path()
    >>> inputs = read_inputs(LayerSpec(p, "addresses"), LayerSpec(p, "boundaries"))
    >>> len(inputs.boundaries)
    6
    """
    o = options or Options()
    given = [addresses, boundaries, *(s for s in (units, exclusive) if s is not None), *barriers]
    files = dict.fromkeys(spec.path for spec in map(LayerSpec.of, given) if isinstance(spec.path, Path))
    kw = {"input_crs": o.input_crs, "x_col": o.x_col, "y_col": o.y_col, "encoding": o.encoding}
    # each file hashed once (addresses and boundaries often share one), on a thread while the layers are read
    with ThreadPoolExecutor(1) as pool:
        sums = {path: pool.submit(file_sha256, path) for path in files}
        addr, s_addr = read_input(
            addresses, role="addresses", crs=o.crs_of("addresses"), sheet=o.sheet, checksums=sums, **kw
        )
        bnd, s_bnd = read_input(boundaries, role="boundaries", crs=o.crs_of("boundaries"), checksums=sums, **kw)
        out = Inputs(
            addresses=addr, boundaries=bnd, sources={"addresses": s_addr, "boundaries": s_bnd}, input_crs=o.input_crs
        )
        for role, spec in (("units", units), ("exclusive", exclusive)):
            if spec is not None:
                gdf, src = read_input(spec, role=role, crs=o.crs_of(role), checksums=sums, **kw)
                setattr(out, role, gdf)
                out.sources[role] = src
        for i, spec in enumerate(barriers):
            gdf, src = read_input(spec, role="barriers", crs=o.crs_of("barriers"), checksums=sums, **kw)
            out.barriers.append(gdf)
            out.sources[f"barriers[{i}]"] = src
    if previous is not None:
        out.previous, out.history, out.sources["previous"] = read_previous(previous)
    return out
