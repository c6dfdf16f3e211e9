"""The `gridmap` command line: one thin function per command (read → library → write)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from geodata.errors import GridmapError
from gridmap.export import FORMATS
from gridmap.fields import INPUT_FIELDS
from gridmap.maps import BASEMAPS, COLORINGS, LANGS, TILE_CRS
from gridmap.province import MAP_LEVELS

F = Callable[..., Any]
_state = {"verbose": 0}


# ---------------------------------------------------------------- shared options


def _compose(*decorators: F) -> Callable[[F], F]:
    def wrap(func: F) -> F:
        for dec in reversed(decorators):
            func = dec(func)
        return func

    return wrap


def input_option(
    role: str, help: str, *, required: bool = False, multiple: bool = False, sheet: bool = False
) -> Callable[[F], F]:
    """Add the options of one input layer (file or PostGIS).

    ``--ROLE PATH|URL``, ``--ROLE-layer NAME``, ``--ROLE-sql SELECT``, ``--ROLE-crs CRS`` (and ``--ROLE-sheet``).
    """
    every = "every " if multiple else ""
    options = [
        click.option(
            f"--{role}",
            required=required,
            multiple=multiple,
            metavar="FILE|URL",
            help=f"{help} A file, or postgresql://USER@HOST:PORT/DB with --{role}-layer or --{role}-sql.",
        ),
        click.option(
            f"--{role}-layer", help=f"Layer of {every}--{role} in a multi-layer file (SCHEMA.TABLE for a URL)."
        ),
        click.option(f"--{role}-sql", metavar="SELECT", help=f"Query giving --{role} when it is a postgresql:// URL."),
        click.option(
            f"--{role}-crs",
            metavar="CRS",
            help=f"CRS of {every}--{role} whatever the file says, e.g. EPSG:4490 when its .prj is wrong [the "
            "file's; else --input-crs].",
        ),
    ]
    if sheet:
        options.append(
            click.option(f"--{role}-sheet", metavar="NAME", help=f"Sheet of an .xlsx/.xls --{role} [the first].")
        )
    return _compose(*options)


def field_options(func: F) -> F:
    """``--<field>-col NAME`` for every remappable input field (:data:`gridmap.INPUT_FIELDS`)."""
    for name, helptext in reversed(INPUT_FIELDS.items()):
        func = click.option(f"--{name.replace('_', '-')}-col", f"{name}_col", metavar="NAME", help=helptext)(func)
    return func


input_crs_option = click.option(
    "--input-crs",
    metavar="CRS",
    help="CRS of the inputs that do not declare one (CSV, Excel, SHP without .prj): EPSG code, or gcj02 / bd09. "
    "Files that declare a CRS keep it; use --<input>-crs to override one file.",
)
out_dir_option = click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to create.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing output that gridmap made.")
run_options = _compose(
    click.option("--name", help="Run name [the --out folder name]."),
    click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder to create."),
    overwrite_option,
    click.option("--workers", type=int, help="Worker processes for the per-village work [all cores]."),
    click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run on Dask: 'local' or a scheduler address such as tcp://10.0.0.5:8786.",
    ),
)
"""Where a run goes and what runs it: --name, --out, --overwrite, --workers, --scheduler."""
csv_options = _compose(
    click.option("--x-col", help="CSV longitude/x column [lon, lng, longitude, x, 经度]."),
    click.option("--y-col", help="CSV latitude/y column [lat, latitude, y, 纬度]."),
    click.option("--encoding", help="Text encoding of CSV/Shapefile attributes [auto: UTF-8, then GBK]."),
)
run_dir_argument = click.argument("run_dir", type=click.Path(exists=True, file_okay=False))


def _spec(path: str | None, layer: str | None, sql: str | None = None, *, option: str = "input"):
    """Return a file path, or a PostGIS URL with a layer (SCHEMA.TABLE) or a query (geodata/postgis.py)."""
    from geodata.postgis import DbSource, is_db_url
    from gridmap.inputs import LayerSpec

    if path is None:
        return None
    if is_db_url(path):
        if (layer is None) == (sql is None):
            raise click.UsageError(
                f'{option} is a database: give {option}-layer SCHEMA.TABLE or {option}-sql "SELECT …" (one of them).'
            )
        return LayerSpec(DbSource(path, layer, sql), layer)
    if sql is not None:
        raise click.UsageError(f"{option}-sql needs {option} postgresql://USER@HOST:PORT/DB.")
    if not Path(path).is_file():
        raise click.BadParameter(
            f"file '{path}' does not exist (or pass a postgresql:// URL).", param_hint=f"'{option}'"
        )
    return LayerSpec(Path(path), layer)


def _previous_spec(path: str | None, layer: str | None, sql: str | None):
    """--previous: a file, or a published schema's grids (default gridmap.grids_current) and its code ledger."""
    from geodata.postgis import is_db_url

    if path is not None and is_db_url(path) and layer is None and sql is None:
        layer = "gridmap.grids_current"
    return _spec(path, layer, sql, option="--previous")


RUN_FILES = (
    "grids.gpkg",
    "grids.geojson",
    "roster.csv",
    "code_changes.csv",
    "manifest.json",
    "map.html",
    "map.png",
    "report.html",
    "audit.gpkg",
    "findings.csv",
    "diff.gpkg",
    "households.csv",
    "grids.csv",
)
"""Files of a run, audit or diff folder that other commands never replace."""


def _fields(kw: dict[str, Any]) -> dict[str, str]:
    """Pop the ``--<field>-col`` options out of `kw`; return the ones given."""
    return {name: value for name in INPUT_FIELDS if (value := kw.pop(f"{name}_col", None))}


def _echo(ctx: click.Context, text: str) -> None:
    if not ctx.obj.get("quiet"):
        click.echo(text)


class _Progress:
    """Console progress: a line per stage, a bar for the per-village stage."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.last: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage != self.last:
            if self.bar is not None:
                self.bar.render_finish()
                self.bar = None
            self.last = stage
            if total > 1:
                self.bar = click.progressbar(length=total, label=f"{stage:>10}", file=sys.stderr, show_pos=True)
                self.bar.render_progress()
            else:
                click.echo(f"{stage:>10} …", err=True)
        if self.bar is not None:
            self.bar.update(done - self.bar.pos)
            if done >= total:
                self.bar.render_finish()
                self.bar = None


# ---------------------------------------------------------------- the group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gridmap")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug); errors show their traceback.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """gridmap: divide villages and communities into coded management grids (网格划分).

    \b
    Examples:
      gridmap demo                                   # the bundled sample → outputs/demo/
      gridmap partition --addresses hh.csv --input-crs gcj02 \\
          --boundaries villages.gpkg --out outputs/town
      gridmap map outputs/town --basemap gaode       # re-render the map on Gaode tiles
      gridmap check-codes outputs/town/grids.gpkg
    """
    level = logging.ERROR if quiet else max(logging.DEBUG, logging.WARNING - 10 * verbose)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FlagFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    _state["verbose"] = verbose


def _grid(ctx: click.Context, inputs, out: Path, *, overwrite: bool, resume: bool = False, **options: Any) -> None:
    """Make the grids of `inputs` with `options` and write the run folder `out` (shared by partition/demo)."""
    import shutil

    from geodata.io import check_output
    from gridmap.make import make_grids
    from partition.measures import band_share

    check_output(out, overwrite=overwrite, inputs=_input_paths(inputs))  # fail before the work, not after it
    parts = out.with_name(f".{out.name}.parts")
    if parts.exists() and not resume:
        shutil.rmtree(parts)
    progress = _Progress(ctx.obj.get("quiet", False))
    result = make_grids(**inputs.frames(), progress=progress, resume_dir=parts, **options)
    progress("write", 0, 1)
    result.save(out, overwrite=overwrite)
    shutil.rmtree(parts, ignore_errors=True)
    g = result.grids
    _echo(
        ctx,
        (
            f"{len(g)} grids for {result.manifest['counts']['villages']} villages/communities, "
            f"{int(g['households'].sum()):,} households; household-band grids in band {band_share(g):.1%}; "
            f"flagged {int(g['status'].ne('ok').sum())}.\n"
            f"Run folder: {out}\nMap: {out / 'map.html'}\nReport: {out / 'report.html'}"
        ),
    )


def _input_paths(inputs) -> list[Path]:
    return [Path(s.label) for s in inputs.sources.values() if Path(s.label).exists()]


# ---------------------------------------------------------------- commands


@main.command()
@input_option(
    "addresses", "Household address points (CSV, XLSX/XLS, GeoJSON, GPKG, SHP, zipped SHP).", required=True, sheet=True
)
@input_option("boundaries", "Village/community polygons with a 12-digit code.", required=True)
@input_option("units", "Unit polygons (buildings, parcels, blocks) that tile the area.")
@input_option("exclusive", "Exclusive areas (专属网格): schools, hospitals, ...")
@input_option("barriers", "Roads/rivers/railways grids should not cross (repeatable).", multiple=True)
@click.option(
    "--previous",
    metavar="FILE|URL",
    help="Grids of an earlier run, or a database where runs were published (its grids_current and code ledger): "
    "codes are inherited.",
)
@click.option("--previous-layer", help="Layer of --previous [grids; gridmap.grids_current for a URL].")
@click.option("--previous-sql", metavar="SELECT", help="Query giving --previous when it is a postgresql:// URL.")
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), help="TOML rules file.")
@click.option("--min-households", type=int, help="Lower end of the household band [300].")
@click.option("--max-households", type=int, help="Upper end of the household band [500].")
@click.option(
    "--keep-valid",
    is_flag=True,
    help="With --previous: keep grids that still follow the rules exactly; regrid only the rest.",
)
@click.option(
    "--keep-tolerance",
    type=float,
    default=0.1,
    show_default=True,
    help="Largest change of a kept grid's households (share).",
)
@click.option("--liaison", metavar="MIN-MAX", help="Also make household-liaison groups (联户), e.g. 10-15.")
@click.option("--dedupe", is_flag=True, help="Drop address rows that repeat an earlier row exactly (always reported).")
@click.option(
    "--strict", is_flag=True, help="Refuse addresses outside every boundary or in a hole [kept and reported]."
)
@input_crs_option
@click.option("--output-crs", help="CRS of the outputs (gcj02/bd09 allowed) [input CRS; WGS 84 for gcj02/bd09 inputs].")
@click.option("--work-crs", help="Metric CRS for geometry work [UTM zone of the data].")
@csv_options
@field_options
@run_options
@click.option("--dask", "dask_mode", type=click.Choice(["local"]), help="Same as --scheduler local.")
@click.option(
    "--resume", is_flag=True, help="Reuse the villages an interrupted run of the same inputs already finished."
)
@click.pass_context
def partition(ctx: click.Context, **kw: Any) -> None:
    """Make coded grids from address points and village/community boundaries.

    \b
    Example:
      gridmap partition --addresses hh.gpkg --addresses-layer addresses \\
          --boundaries hh.gpkg --boundaries-layer boundaries \\
          --barriers roads.shp --exclusive schools.geojson --out outputs/town
    """
    from gridmap.config import parse_range, read_rules
    from gridmap.execute import default_workers
    from gridmap.inputs import read_inputs

    fields = _fields(kw)
    if kw["keep_valid"] and not kw["previous"]:
        raise click.UsageError("--keep-valid needs --previous (the grids to keep).")
    rules = read_rules(kw["rules_path"], min_households=kw["min_households"], max_households=kw["max_households"])
    liaison = parse_range(kw["liaison"], option="--liaison") if kw["liaison"] else None
    inputs = read_inputs(
        *(_spec(kw[r], kw[f"{r}_layer"], kw[f"{r}_sql"], option=f"--{r}") for r in ("addresses", "boundaries")),
        units=_spec(kw["units"], kw["units_layer"], kw["units_sql"], option="--units"),
        exclusive=_spec(kw["exclusive"], kw["exclusive_layer"], kw["exclusive_sql"], option="--exclusive"),
        barriers=[_spec(b, kw["barriers_layer"], kw["barriers_sql"], option="--barriers") for b in kw["barriers"]],
        previous=_previous_spec(kw["previous"], kw["previous_layer"], kw["previous_sql"]),
        input_crs=kw["input_crs"],
        x_col=kw["x_col"],
        y_col=kw["y_col"],
        encoding=kw["encoding"],
        addresses_crs=kw["addresses_crs"],
        boundaries_crs=kw["boundaries_crs"],
        units_crs=kw["units_crs"],
        exclusive_crs=kw["exclusive_crs"],
        barriers_crs=kw["barriers_crs"],
        addresses_sheet=kw["addresses_sheet"],
    )
    out = Path(kw["out"])
    _grid(
        ctx,
        inputs,
        out,
        overwrite=kw["overwrite"],
        resume=kw["resume"],
        rules=rules,
        fields=fields,
        keep_valid=kw["keep_valid"],
        keep_tolerance=kw["keep_tolerance"],
        liaison=liaison,
        dedupe=kw["dedupe"],
        strict=kw["strict"],
        output_crs=kw["output_crs"],
        work_crs=kw["work_crs"],
        name=kw["name"] or out.name,
        workers=default_workers() if kw["workers"] is None else kw["workers"],
        scheduler=kw["scheduler"] or kw["dask_mode"],
    )


@main.command()
@click.option(
    "--addresses",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Address points: GeoParquet or GPKG.",
)
@click.option("--addresses-layer", help="Layer of a GeoPackage --addresses.")
@click.option("--addresses-crs", metavar="CRS", help="CRS of --addresses whatever the file says (gcj02/bd09 allowed).")
@click.option("--boundaries", required=True, type=click.Path(exists=True), help="Village/community polygons.")
@click.option("--boundaries-layer", help="Layer of a multi-layer --boundaries.")
@click.option("--boundaries-crs", metavar="CRS", help="CRS of --boundaries whatever the file says.")
@click.option("--units", type=click.Path(exists=True), help="Unit polygons (buildings, parcels, blocks).")
@click.option("--units-layer", help="Layer of --units.")
@click.option("--exclusive", type=click.Path(exists=True), help="Exclusive areas (专属网格).")
@click.option("--exclusive-layer", help="Layer of --exclusive.")
@click.option("--barriers", multiple=True, type=click.Path(exists=True), help="Barrier lines (repeatable).")
@click.option("--barriers-layer", help="Layer of every --barriers.")
@input_crs_option
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), help="TOML rules file.")
@click.option("--min-households", type=int, help="Lower end of the household band [300].")
@click.option("--max-households", type=int, help="Upper end of the household band [500].")
@click.option("--liaison", metavar="MIN-MAX", help="Also make household-liaison groups (联户), e.g. 10-15.")
@click.option("--dedupe", is_flag=True, help="Drop address rows that repeat an earlier row exactly (always counted).")
@click.option("--output-crs", help="CRS of the outputs [the boundaries'].")
@click.option("--work-crs", help="Metric CRS for geometry work [UTM zone of the boundaries].")
@field_options
@click.option(
    "--map-level",
    type=click.Choice(list(MAP_LEVELS)),
    default="township",
    show_default=True,
    help="One map and report page per county (6-digit prefix) or township (9-digit), with an index page.",
)
@click.option("--no-maps", is_flag=True, help="Skip the map and report pages (the slowest outputs).")
@run_options
@click.pass_context
def province(ctx: click.Context, **kw: Any) -> None:
    """Grid a province village by village: addresses are read by window in each task, never all at once.

    Output: grids.gpkg, a partitioned GeoParquet dataset (dataset/), roster.csv, one map and report per
    county or township (maps/, reports/), index.html and manifest.json.

    \b
    Example:
      gridmap province --addresses province.parquet --boundaries villages.gpkg \\
          --scheduler tcp://10.0.0.5:8786 --out outputs/province
    """
    from geodata.io import check_output
    from gridmap.config import parse_range, read_rules
    from gridmap.execute import default_workers
    from gridmap.inputs import LayerSpec
    from gridmap.province import grid_province

    fields = _fields(kw)
    out = Path(kw["out"])
    check_output(out, overwrite=kw["overwrite"], inputs=[Path(kw["addresses"]), Path(kw["boundaries"])])
    rules = read_rules(kw["rules_path"], min_households=kw["min_households"], max_households=kw["max_households"])
    result = grid_province(
        LayerSpec(kw["addresses"], kw["addresses_layer"]),
        LayerSpec(kw["boundaries"], kw["boundaries_layer"]),
        out,
        units=LayerSpec(kw["units"], kw["units_layer"]) if kw["units"] else None,
        exclusive=LayerSpec(kw["exclusive"], kw["exclusive_layer"]) if kw["exclusive"] else None,
        barriers=[LayerSpec(b, kw["barriers_layer"]) for b in kw["barriers"]],
        rules=rules,
        fields=fields,
        input_crs=kw["input_crs"],
        addresses_crs=kw["addresses_crs"],
        boundaries_crs=kw["boundaries_crs"],
        liaison=parse_range(kw["liaison"], option="--liaison") if kw["liaison"] else None,
        dedupe=kw["dedupe"],
        output_crs=kw["output_crs"],
        work_crs=kw["work_crs"],
        map_level=kw["map_level"],
        maps=not kw["no_maps"],
        workers=default_workers() if kw["workers"] is None else kw["workers"],
        scheduler=kw["scheduler"],
        overwrite=kw["overwrite"],
        name=kw["name"] or out.name,
        progress=_Progress(ctx.obj.get("quiet", False)),
    )
    c, mem = result.manifest["counts"], result.manifest["memory_mib"]
    _echo(
        ctx,
        f"{c['grids']} grids for {c['villages']} villages/communities in {c['counties']} "
        f"{result.manifest['map_level']} page(s), {int(c['households']):,} households; flagged {c['flagged_grids']}.\n"
        f"Peak memory: driver {mem['driver_peak']:.0f} MiB, largest worker "
        f"{max(mem['worker_peaks'].values(), default=0):.0f} MiB.\n"
        f"Run folder: {out}\nIndex: {out / 'index.html'}",
    )


@main.command()
@click.option("--out", default="outputs/demo", show_default=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option(
    "--liaison", default="10-15", show_default=True, metavar="MIN-MAX", help="Household-liaison group size (联户)."
)
@click.pass_context
def demo(ctx: click.Context, out: str, liaison: str) -> None:
    """Run the whole pipeline on the bundled sample township (always regenerates the demo folder)."""
    from geodata.sample import sample_path
    from gridmap.config import parse_range
    from gridmap.inputs import LayerSpec, read_inputs

    p = sample_path()
    size = parse_range(liaison, option="--liaison")
    inputs = read_inputs(
        LayerSpec(p, "addresses"),
        LayerSpec(p, "boundaries"),
        exclusive=LayerSpec(p, "exclusive"),
        barriers=[LayerSpec(p, "barriers")],
    )
    out_path = Path(out)
    if out_path.exists() and not ctx.obj.get("quiet"):
        click.echo(f"Replacing the earlier demo run in {out_path} (demo output is regenerated each time).", err=True)
    _grid(ctx, inputs, out_path, overwrite=True, liaison=size, name="demo · 示例街镇")


@main.command("map")
@run_dir_argument
@click.option(
    "--basemap",
    type=click.Choice(BASEMAPS),
    default="osm",
    show_default=True,
    help="Base map; gaode shifts the display copy to GCJ-02 so grids sit on Gaode's streets.",
)
@click.option(
    "--tianditu-key",
    envvar="TIANDITU_KEY",
    help="Tianditu key [env TIANDITU_KEY, else tianditu_key in ~/.config/gridmap/config.toml]; written into the page.",
)
# ---- issue 25: office base maps and grid colours (map options; library: gridmap.basemaps, gridmap.maps)
@click.option(
    "--tiles",
    metavar="URL",
    help="Your own tile server instead of --basemap: XYZ template http://host/{z}/{x}/{y}.png or a WMTS "
    "GetTile template with {TileMatrix}/{TileRow}/{TileCol} (Web Mercator); or a local .mbtiles file, "
    "whose tiles over the run are carried inside the page.",
)
@click.option(
    "--tiles-crs",
    type=click.Choice(TILE_CRS),
    default="wgs84",
    show_default=True,
    help="Datum of --tiles; gcj02 shifts the grids to match.",
)
@click.option("--tiles-attribution", default="", help="Attribution of --tiles shown on the map.")
@click.option(
    "--colors",
    type=click.Choice(COLORINGS),
    default="status",
    show_default=True,
    help="Grid colouring shown first: workload status, a distinct colour per grid, or households.",
)
@click.option(
    "--print",
    "print_paper",
    type=click.Choice(["A4", "A3"], case_sensitive=False),
    help="Write a print layout instead of the web page (title, legend, scale bar, north arrow, date, "
    "source): --out map.pdf or map.png (300 dpi) [RUN_DIR/map_<paper>.pdf].",
)
@click.option(
    "--orientation",
    type=click.Choice(["landscape", "portrait"]),
    default="landscape",
    show_default=True,
    help="Paper orientation of --print.",
)
@click.option(
    "--pages-by",
    type=click.Choice(["township", "village"]),
    help="--print one page per township or per village/community (PDF).",
)
@click.option("--dpi", type=int, default=300, show_default=True, help="Resolution of a --print PNG.")
# ---- end issue 25
@click.option(
    "--simplify", type=float, default=1.0, show_default=True, help="Display simplification in metres (0: none)."
)
@click.option(
    "--lang",
    type=click.Choice(LANGS),
    default="zh",
    show_default=True,
    help="Language shown first (labels are bilingual).",
)
@click.option(
    "--cdn", is_flag=True, help="Link Leaflet from a CDN instead of inlining it (the default page works offline)."
)
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False), help="HTML file [RUN_DIR/map_<basemap>[_en][_cdn].html]."
)
@overwrite_option
@click.pass_context
def map_cmd(
    ctx: click.Context,
    run_dir: str,
    basemap: str,
    tianditu_key: str | None,
    tiles: str | None,
    tiles_crs: str,
    tiles_attribution: str,
    colors: str,
    print_paper: str | None,
    orientation: str,
    pages_by: str | None,
    dpi: int,
    simplify: float,
    lang: str,
    cdn: bool,
    out_file: str | None,
    overwrite: bool,
) -> None:
    """Re-render the interactive map of a run folder.

    \b
    Examples:
      gridmap map outputs/demo --basemap gaode
      gridmap map outputs/demo --lang en --out outputs/demo/map_en.html
      gridmap map outputs/demo --tiles 'http://tiles.intranet/{z}/{x}/{y}.png' --tiles-attribution 区测绘院
      gridmap map outputs/demo --print A3 --out outputs/demo/map.pdf --pages-by village
    """
    from geodata.io import check_output_file
    from gridmap.maps import write_map
    from gridmap.runfolder import read_run

    run_path = Path(run_dir)
    if print_paper:  # issue 25: print layout
        from gridmap.printmap import write_print

        out = Path(out_file) if out_file else run_path / f"map_{print_paper.upper()}.pdf"
        check_output_file(out, overwrite=overwrite, protected=RUN_FILES)
        result = read_run(run_path)
        write_print(result, out, paper=print_paper, orientation=orientation, by=pages_by, dpi=dpi)
        _echo(ctx, f"Print: {out} ({print_paper.upper()} {orientation}, {len(result.grids)} grids)")
        return
    out = (
        Path(out_file)
        if out_file
        else run_path
        / f"map_{'tiles' if tiles else basemap}{'_en' if lang == 'en' else ''}{'_cdn' if cdn else ''}.html"
    )
    check_output_file(out, overwrite=overwrite, protected=RUN_FILES)
    result = read_run(run_path)
    tile_opts = {"tiles": tiles, "tiles_crs": tiles_crs, "tiles_attribution": tiles_attribution, "colors": colors}
    write_map(
        result, out, basemap=basemap, tianditu_key=tianditu_key, tolerance_m=simplify, lang=lang, cdn=cdn, **tile_opts
    )
    _echo(ctx, f"Map: {out} ({out.stat().st_size / 1e6:.1f} MB, {len(result.grids)} grids)")


@main.command()
@run_dir_argument
@click.option(
    "--format",
    "formats",
    multiple=True,
    required=True,
    help="Format to write (repeatable).",
    type=click.Choice(FORMATS),
)
@click.option(
    "--encoding", default="UTF-8", show_default=True, help="Shapefile text encoding (GBK for older Chinese GIS)."
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder [RUN_DIR/export].")
@overwrite_option
@click.option(
    "--workers",
    "workers_csv",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV/XLSX of grid_code → worker: adds a worker column to rosters and grid layers.",
)
@click.pass_context
def export(
    ctx: click.Context,
    run_dir: str,
    formats: tuple[str, ...],
    encoding: str,
    out_dir: str | None,
    overwrite: bool,
    workers_csv: str | None,
) -> None:
    """Export a run's grids and rosters for other GIS and for grid workers.

    \b
    Formats: gpkg, geojson, shp (zipped, fields ≤ 10 characters, .cpg), kml, xlsx (one sheet
    per village/community), csv (UTF-8 with BOM).
    Example:
      gridmap export outputs/demo --format shp --format xlsx --encoding gbk
    """
    from geodata.io import atomic_dir
    from gridmap.analysis import read_workers
    from gridmap.export import write_export
    from gridmap.runfolder import read_run

    try:
        "".encode(encoding)
    except LookupError as exc:
        raise click.BadParameter(f"unknown encoding '{encoding}'", param_hint="--encoding") from exc
    result = read_run(Path(run_dir))
    workers = read_workers(workers_csv) if workers_csv else None
    out = Path(out_dir) if out_dir else Path(run_dir) / "export"
    files: list[Path] = []
    with atomic_dir(out, overwrite=overwrite, inputs=[run_dir]) as tmp:
        for fmt in formats:
            files += [out / f.name for f in write_export(result, tmp, fmt=fmt, encoding=encoding, workers=workers)]
    _echo(ctx, "\n".join(str(f) for f in files))


workers_option = _compose(
    click.option(
        "--workers",
        "workers_csv",
        type=click.Path(exists=True, dir_okay=False),
        help="CSV/XLSX of grid_code → worker, for worker loads.",
    ),
    click.option("--workers-sheet", metavar="NAME", help="Sheet of an .xlsx/.xls --workers [the first]."),
)


@main.command("report")
@run_dir_argument
@workers_option
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Grid code column of --workers.")
@click.option("--worker-col", default="worker", show_default=True, help="Worker column of --workers.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="HTML file [RUN_DIR/report.html].")
@click.pass_context
def report_cmd(
    ctx: click.Context,
    run_dir: str,
    workers_csv: str | None,
    workers_sheet: str | None,
    grid_code_col: str,
    worker_col: str,
    out_file: str | None,
) -> None:
    """Write the workload report of a run (summary, histogram, flagged grids, villages, workers).

    \b
    Example:
      gridmap report outputs/demo --workers workers.csv
    """
    from geodata.io import check_output_file, write_text
    from gridmap.analysis import read_workers, report_page
    from gridmap.runfolder import read_run

    out = Path(out_file) if out_file else Path(run_dir) / "report.html"
    # the report is regenerated in place; every other file of the run (and the workers table) is left alone
    check_output_file(
        out,
        overwrite=True,
        inputs=[workers_csv] if workers_csv else [],
        protected=[f for f in RUN_FILES if f != "report.html"],
    )
    result = read_run(Path(run_dir))
    workers = (
        read_workers(workers_csv, grid_code_col=grid_code_col, worker_col=worker_col, sheet=workers_sheet)
        if workers_csv
        else None
    )
    write_text(out, report_page(result, workers=workers))
    _echo(ctx, f"Report: {out}")


@main.command()
@input_option("grids", "The existing grid layer.", required=True)
@input_option("addresses", "Household address points.", required=True, sheet=True)
@input_option("boundaries", "Village/community polygons (finds gaps and border crossings).")
@workers_option
@click.option(
    "--grid-code-col", default="grid_code", show_default=True, help="Grid code column of --grids (and --workers)."
)
@click.option("--households-col", default="households", show_default=True, help="Households column of --addresses.")
@click.option("--min-households", type=int, default=300, show_default=True, help="Lower end of the household band.")
@click.option("--max-households", type=int, default=500, show_default=True, help="Upper end of the household band.")
@input_crs_option
@out_dir_option
@overwrite_option
@click.pass_context
def audit(ctx: click.Context, **kw: Any) -> None:
    """Audit grids not made by gridmap: households per grid, gaps, overlaps, border crossings, codes.

    \b
    Example:
      gridmap audit --grids old_grids.shp --grid-code-col WGBM --addresses hh.csv \\
          --boundaries villages.gpkg --workers workers.csv --out outputs/audit
    """
    from geodata.io import check_output
    from geodata.postgis import is_db_url
    from gridmap.analysis import audit as audit_layer
    from gridmap.analysis import read_workers, write_audit
    from gridmap.inputs import read_input

    out = Path(kw["out"])
    paths = [p for p in (kw["grids"], kw["addresses"], kw["boundaries"], kw["workers_csv"]) if p and not is_db_url(p)]
    check_output(out, overwrite=kw["overwrite"], inputs=paths)
    specs = {
        r: _spec(kw[r], kw[f"{r}_layer"], kw[f"{r}_sql"], option=f"--{r}") for r in ("grids", "addresses", "boundaries")
    }
    grids, _ = read_input(specs["grids"], role="grids", input_crs=kw["input_crs"], crs=kw["grids_crs"])
    addresses, _ = read_input(
        specs["addresses"],
        role="addresses",
        input_crs=kw["input_crs"],
        crs=kw["addresses_crs"],
        sheet=kw["addresses_sheet"],
    )
    boundaries = None
    if kw["boundaries"]:
        boundaries, _ = read_input(
            specs["boundaries"], role="boundaries", input_crs=kw["input_crs"], crs=kw["boundaries_crs"]
        )
    result = audit_layer(
        grids,
        addresses,
        boundaries,
        grid_code_col=kw["grid_code_col"],
        households_col=kw["households_col"],
        min_households=kw["min_households"],
        max_households=kw["max_households"],
        name=f"audit of {specs['grids'].path.name}",
    )
    workers = (
        read_workers(kw["workers_csv"], grid_code_col=kw["grid_code_col"], sheet=kw["workers_sheet"])
        if kw["workers_csv"]
        else None
    )
    write_audit(result, out, overwrite=kw["overwrite"], workers=workers)
    found = ", ".join(f"{k} {v}" for k, v in result.manifest["findings"].items()) or "nothing"
    _echo(ctx, f"{len(result.grids)} grids audited; findings: {found}.\nReport: {out / 'report.html'}")


@main.command()
@click.argument("old")
@click.argument("new")
@input_option("addresses", "Household address points.", required=True, sheet=True)
@click.option(
    "--layer", default=None, help="Layer of OLD and NEW [grids when present; gridmap.grids_current for a URL]."
)
@click.option(
    "--old-sql",
    metavar="SELECT",
    help="Query giving OLD when it is a postgresql:// URL (e.g. the grids of one published run).",
)
@click.option("--new-sql", metavar="SELECT", help="Query giving NEW when it is a postgresql:// URL.")
@click.option(
    "--grids-crs", metavar="CRS", help="CRS of OLD and NEW whatever the files say [the files'; else --input-crs]."
)
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Grid code column of OLD and NEW.")
@input_crs_option
@out_dir_option
@overwrite_option
@click.pass_context
def diff(
    ctx: click.Context,
    old: str,
    new: str,
    addresses: str,
    addresses_layer: str | None,
    addresses_sql: str | None,
    addresses_crs: str | None,
    addresses_sheet: str | None,
    layer: str | None,
    old_sql: str | None,
    new_sql: str | None,
    grids_crs: str | None,
    grid_code_col: str,
    input_crs: str | None,
    out: str,
    overwrite: bool,
) -> None:
    """Compare two grid layers: which households change grid, what each grid gains and loses.

    \b
    Examples:
      gridmap diff outputs/2025/grids.gpkg outputs/2026/grids.gpkg --addresses hh.gpkg --out outputs/diff
      gridmap diff outputs/2025/grids.gpkg postgresql://gis@db/county --addresses hh.gpkg --out outputs/diff
    """
    from geodata.io import check_output, layer_names
    from geodata.postgis import is_db_url
    from gridmap.analysis import diff as diff_layers
    from gridmap.analysis import write_diff
    from gridmap.inputs import read_input

    check_output(Path(out), overwrite=overwrite, inputs=[p for p in (old, new, addresses) if not is_db_url(p)])

    def spec(path: str, sql: str | None, name: str):
        lyr = layer
        if is_db_url(path):
            return _spec(path, None if sql else (lyr or "gridmap.grids_current"), sql, option=name)
        if lyr is None and path.lower().endswith(".gpkg") and Path(path).is_file() and "grids" in layer_names(path):
            lyr = "grids"
        return _spec(path, lyr, sql, option=name)

    old_spec, new_spec = spec(old, old_sql, "OLD"), spec(new, new_sql, "NEW")
    a = read_input(old_spec, role="grids", input_crs=input_crs, crs=grids_crs)[0]
    b = read_input(new_spec, role="grids", input_crs=input_crs, crs=grids_crs)[0]
    points, _ = read_input(
        _spec(addresses, addresses_layer, addresses_sql, option="--addresses"),
        role="addresses",
        input_crs=input_crs,
        crs=addresses_crs,
        sheet=addresses_sheet,
    )
    d = diff_layers(a, b, points, grid_code_col=grid_code_col)
    write_diff(d, out, crs=a.crs, old=str(old_spec.path), new=str(new_spec.path), overwrite=overwrite)
    _echo(ctx, f"{d.share_changed:.1%} of households change grid. Report: {Path(out) / 'report.html'}")


@main.command()
@run_dir_argument
@click.option(
    "--db",
    "url",
    required=True,
    envvar="GRIDMAP_DB",
    metavar="URL",
    help="postgresql://USER@HOST:PORT/DB [env GRIDMAP_DB]; password from the URL, PGPASSWORD, ~/.pgpass or a "
    "service file.",
)
@click.option(
    "--schema", default="gridmap", show_default=True, help="Schema holding grids, grids_current, code_ledger, runs, ..."
)
@click.pass_context
def publish(ctx: click.Context, run_dir: str, url: str, schema: str) -> None:
    """Publish a run folder into PostgreSQL/PostGIS in one transaction (all or nothing).

    Grids are versioned (valid_from_run/valid_to_run; view grids_current), every code ever
    issued is kept in code_ledger, and the database refuses a retired code. Only the run's
    villages/communities are replaced.

    \b
    Examples:
      gridmap publish outputs/town --db postgresql://gis@db.example.cn:5432/county
      gridmap partition ... --previous postgresql://gis@db.example.cn/county --out outputs/town-2026
      gridmap publish outputs/town-2026 --db postgresql://gis@db.example.cn/county
    """
    from gridmap.publish import publish_run
    from gridmap.runfolder import read_run

    done = publish_run(read_run(Path(run_dir)), url, schema=schema)
    _echo(ctx, done.summary())


@main.command("check-codes")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer", default=None, help="Layer of FILE [grids when present].")
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Column holding the grid codes.")
@click.option(
    "--village-code-col",
    default="village_code",
    show_default=True,
    help="Column of the owning village's code (optional).",
)
@click.option("--type-col", default="grid_type", show_default=True, help="Column of the grid type (optional).")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the findings to this CSV.")
@click.pass_context
def check_codes_cmd(
    ctx: click.Context,
    file: str,
    layer: str | None,
    grid_code_col: str,
    village_code_col: str,
    type_col: str,
    out: str | None,
) -> None:
    """Check grid codes: format, uniqueness, village prefix, sequence ranges, gaps.

    Exit code 0 when there are no errors (gaps are warnings), 1 otherwise.

    \b
    Example:
      gridmap check-codes outputs/town/grids.gpkg
      gridmap check-codes old_grids.shp --grid-code-col WGBM --village-code-col CJBM
    """
    from geodata.io import check_output_file, layer_names, read_layer, write_csv
    from partition.coding import check_codes

    if out:
        check_output_file(out, overwrite=True, inputs=[file], protected=RUN_FILES)

    if layer is None and file.lower().endswith(".gpkg"):
        layer = "grids" if "grids" in layer_names(file) else None
    gdf = read_layer(Path(file), layer=layer)
    if grid_code_col not in gdf.columns:
        raise click.BadParameter(
            f"{file} has no column '{grid_code_col}' (columns: {', '.join(map(str, gdf.columns))}).",
            param_hint="--grid-code-col",
        )
    frame = gdf.rename(columns={grid_code_col: "grid_code"})
    frame = frame.rename(
        columns={c: n for c, n in ((village_code_col, "village_code"), (type_col, "grid_type")) if c in frame.columns}
    )
    found = check_codes(frame)
    errors = found[found["severity"].eq("error")]
    click.echo(f"{len(frame)} grids checked: {len(errors)} errors, {len(found) - len(errors)} warnings.")
    for row in found.itertuples():
        click.echo(f"  {row.severity:7} {row.check:7} {row.message}")
    if out:
        write_csv(Path(out), found)
    ctx.exit(1 if len(errors) else 0)


@main.command()
@run_dir_argument
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; off loopback every request needs the token.",
)
@click.option("--token", help="Secret that every edit (and, off loopback, every read) must carry [default: generated].")
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
def edit(run_dir, port, host, token, no_browser) -> None:
    """Adjust the grids of RUN_DIR by hand in the browser; save writes a new run folder.

    \b
    Example:
      gridmap edit outputs/demo                # opens http://127.0.0.1:8765/?token=...
    """
    from gridmap.edit.server import serve

    serve(
        run_dir, host=host, port=port, token=token, open_browser=not no_browser, echo=lambda m: click.echo(m, err=True)
    )


def _flags(text: str) -> str:
    """Name library parameters (```x_col```) as this command line's flags (``--x-col``)."""
    import re

    names = {
        p.name: p.opts[0]
        for cmd in main.commands.values()
        for p in cmd.params
        if isinstance(p, click.Option) and p.opts[0].startswith("--")
    }
    names.update({"crs": "--<input>-crs", "workers": "--workers"})
    text = re.sub(r"`(--[a-z][a-z-]*)`", r"\1", text)
    return re.sub(r"`([a-z_]+)`", lambda m: names.get(m[1], m[0]), text)


class _FlagFormatter(logging.Formatter):
    """Log lines with library parameter names shown as command-line flags."""

    def format(self, record: logging.LogRecord) -> str:
        return _flags(super().format(record))


def run() -> None:
    """Entry point: gridmap's own errors become a clear message and exit code 2 (``-v``: with traceback)."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted; no output was written.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GridmapError as exc:
        if _state["verbose"]:
            import traceback

            traceback.print_exc()
        click.echo(f"Error: {_flags(str(exc))}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
