"""The `gridmap` command line: thin wrappers that parse options and call the library."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from geodata.errors import GridmapError

FIELD_OPTS = (
    ("households", "Households per address point [default: 1 per point]."),
    ("population", "Population per address point (optional)."),
    ("group", "村民小组 (village group) of each household, for rural villages."),
    ("building", "Building id: points with the same id stay in one grid."),
    ("compound", "Compound (小区) id: kept whole when it fits in the band."),
    ("village-code", "12-digit code of each point's village (else found by location)."),
    ("code", "12-digit code (统计用区划代码) of each boundary."),
    ("name", "Name of each boundary."),
    ("urban-rural", "3-digit 城乡分类代码 of each boundary (1xx urban, 2xx rural)."),
    ("kind", "'community' or 'village' of each boundary."),
    ("grid-code", "Grid code column of a previous/existing grid layer."),
    ("type", "Type of each exclusive area (school, hospital, ...)."),
)


def _layer_spec(value: str | None, layer: str | None):
    from gridmap.pipeline import LayerSpec

    return None if value is None else LayerSpec(Path(value), layer)


class _Progress:
    """Console progress: a line per stage, a bar for the per-village stage."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.last = None

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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gridmap")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
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
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


def _fields(kwargs: dict) -> dict[str, str]:
    out = {}
    for opt, _ in FIELD_OPTS:
        key = opt.replace("-", "_") + "_col"
        value = kwargs.pop(key, None)
        if value:
            out[opt.replace("-", "_")] = value
    return out


def field_options(func):
    for opt, helptext in reversed(FIELD_OPTS):
        func = click.option(f"--{opt}-col", metavar="NAME", help=helptext)(func)
    return func


def _run(ctx, config, out: Path, overwrite: bool, *, resume: bool = False) -> None:
    import shutil

    from geodata.io import check_output
    from gridmap.pipeline import run_partition, write_run

    check_output(out, overwrite=overwrite)  # fail before the work, not after it
    parts = out.with_name(f".{out.name}.parts")
    if parts.exists() and not resume:
        shutil.rmtree(parts)
    progress = _Progress(ctx.obj.get("quiet", False))
    result = run_partition(config, progress=progress, resume_dir=parts)
    progress("write", 0, 1)
    write_run(result, out, overwrite=overwrite)
    shutil.rmtree(parts, ignore_errors=True)
    g = result.grids
    band = g[g["rule"].eq("household_band")]
    in_band = band["households"].between(band["min_households"], band["max_households"]).mean() if len(band) else float("nan")
    if not ctx.obj.get("quiet"):
        click.echo(
            f"{len(g)} grids for {result.manifest['counts']['villages']} villages/communities, "
            f"{int(g['households'].sum()):,} households; in band {in_band:.1%}; "
            f"flagged {int(g['status'].ne('ok').sum())}."
        )
        click.echo(f"Run folder: {out}\nMap: {out / 'map.html'}\nReport: {out / 'report.html'}")


@main.command()
@click.option("--addresses", required=True, type=click.Path(exists=True, dir_okay=False), help="Household address points (CSV, GeoJSON, GPKG, SHP, zipped SHP).")
@click.option("--addresses-layer", help="Layer of --addresses in a multi-layer file.")
@click.option("--boundaries", required=True, type=click.Path(exists=True, dir_okay=False), help="Village/community polygons with a 12-digit code.")
@click.option("--boundaries-layer", help="Layer of --boundaries.")
@click.option("--units", type=click.Path(exists=True, dir_okay=False), help="Unit polygons (buildings, parcels, blocks) that tile the area.")
@click.option("--units-layer", help="Layer of --units.")
@click.option("--exclusive", type=click.Path(exists=True, dir_okay=False), help="Exclusive areas (专属网格): schools, hospitals, ...")
@click.option("--exclusive-layer", help="Layer of --exclusive.")
@click.option("--barriers", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Roads/rivers/railways grids should not cross (repeatable).")
@click.option("--barriers-layer", help="Layer of every --barriers file.")
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), help="TOML rules file.")
@click.option("--min-households", type=int, help="Lower end of the household band [300].")
@click.option("--max-households", type=int, help="Upper end of the household band [500].")
@click.option("--previous", type=click.Path(exists=True, dir_okay=False), help="Grids of an earlier run: their codes are inherited.")
@click.option("--keep-valid", is_flag=True, help="With --previous: keep grids that still follow the rules exactly; regrid only the rest.")
@click.option("--keep-tolerance", type=float, default=0.1, show_default=True, help="Largest change of a kept grid's households (share).")
@click.option("--liaison", metavar="MIN-MAX", help="Also make household-liaison groups (联户), e.g. 10-15.")
@click.option("--input-crs", help="CRS of the inputs: EPSG code, or gcj02 / bd09 [from the files].")
@click.option("--output-crs", help="CRS of the outputs (gcj02/bd09 allowed) [input CRS; WGS 84 for gcj02/bd09 inputs].")
@click.option("--work-crs", help="Metric CRS for geometry work [UTM zone of the data].")
@click.option("--x-col", help="CSV longitude/x column [lon, lng, longitude, x, 经度].")
@click.option("--y-col", help="CSV latitude/y column [lat, latitude, y, 纬度].")
@click.option("--encoding", help="Text encoding of CSV/Shapefile attributes [auto: UTF-8, then GBK].")
@field_options
@click.option("--name", help="Run name [the --out folder name].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder to create.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder.")
@click.option("--workers", type=int, help="Processes for the per-village work [all cores].")
@click.option("--scheduler", metavar="ADDRESS", help="Run on Dask: 'local' or a scheduler address such as tcp://10.0.0.5:8786.")
@click.option("--dask", "dask_mode", type=click.Choice(["local"]), help="Same as --scheduler local.")
@click.option("--resume", is_flag=True, help="Reuse the villages an interrupted run of the same inputs already finished.")
@click.pass_context
def partition(ctx, **kw) -> None:
    """Make coded grids from address points and village/community boundaries.

    \b
    Example:
      gridmap partition --addresses hh.gpkg --addresses-layer addresses \\
          --boundaries hh.gpkg --boundaries-layer boundaries \\
          --barriers roads.shp --exclusive schools.geojson --out outputs/town
    """
    from gridmap.execute import default_workers
    from gridmap.pipeline import GridConfig, read_rules
    from partition.rules import RuleSet

    fields = _fields(kw)
    mn, mx = kw["min_households"], kw["max_households"]
    if kw["rules_path"]:
        rules = read_rules(kw["rules_path"], min_households=mn, max_households=mx)
    else:
        rules = RuleSet.from_dict({}, min_households=mn, max_households=mx)
    liaison = None
    if kw["liaison"]:
        try:
            lo, hi = (int(v) for v in kw["liaison"].split("-"))
        except ValueError as exc:
            raise click.BadParameter("expected MIN-MAX, e.g. 10-15", param_hint="--liaison") from exc
        liaison = (lo, hi)
    out = Path(kw["out"])
    config = GridConfig(
        addresses=_layer_spec(kw["addresses"], kw["addresses_layer"]),
        boundaries=_layer_spec(kw["boundaries"], kw["boundaries_layer"]),
        units=_layer_spec(kw["units"], kw["units_layer"]),
        exclusive=_layer_spec(kw["exclusive"], kw["exclusive_layer"]),
        barriers=tuple(_layer_spec(b, kw["barriers_layer"]) for b in kw["barriers"]),
        previous=_layer_spec(kw["previous"], "grids" if kw["previous"] else None),
        rules=rules,
        fields=fields,
        input_crs=kw["input_crs"],
        output_crs=kw["output_crs"],
        work_crs=kw["work_crs"],
        x_col=kw["x_col"],
        y_col=kw["y_col"],
        encoding=kw["encoding"],
        liaison=liaison,
        name=kw["name"] or out.name,
        keep_valid=kw["keep_valid"],
        keep_tolerance=kw["keep_tolerance"],
        workers=kw["workers"] or default_workers(),
        scheduler=kw["scheduler"] or kw["dask_mode"],
    )
    if kw["keep_valid"] and not kw["previous"]:
        raise click.UsageError("--keep-valid needs --previous (the grids to keep).")
    _run(ctx, config, out, kw["overwrite"], resume=kw["resume"])


@main.command()
@click.option("--out", default="outputs/demo", show_default=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--liaison", default="10-15", show_default=True, help="Household-liaison group size (联户).")
@click.pass_context
def demo(ctx, out: str, liaison: str) -> None:
    """Run the whole pipeline on the bundled sample township (always regenerates the demo folder)."""
    from geodata.sample import sample_path
    from gridmap.pipeline import GridConfig, LayerSpec

    p = sample_path()
    lo, hi = (int(v) for v in liaison.split("-"))
    config = GridConfig(
        addresses=LayerSpec(p, "addresses"),
        boundaries=LayerSpec(p, "boundaries"),
        exclusive=LayerSpec(p, "exclusive"),
        barriers=(LayerSpec(p, "barriers"),),
        liaison=(lo, hi),
        name="demo · 示例街镇",
    )
    out_path = Path(out)
    if out_path.exists() and not ctx.obj.get("quiet"):
        click.echo(f"Replacing the earlier demo run in {out_path} (demo output is regenerated each time).", err=True)
    _run(ctx, config, out_path, overwrite=True)


@main.command("map")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--basemap", type=click.Choice(["osm", "gaode", "tianditu"]), default="osm", show_default=True,
              help="Base map; gaode shifts the display copy to GCJ-02 so grids sit on Gaode's streets.")
@click.option("--tianditu-key", envvar="TIANDITU_KEY", help="Tianditu key [env TIANDITU_KEY].")
@click.option("--simplify", type=float, default=1.0, show_default=True, help="Display simplification in metres (0: none).")
@click.option("--offline", is_flag=True, help="Inline every script/style from installed packages (run `gridmap assets` once).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="HTML file [RUN_DIR/map_<basemap>[_offline].html].")
@click.option("--overwrite", is_flag=True, help="Replace an existing HTML file.")
@click.pass_context
def map_cmd(ctx, run_dir, basemap, tianditu_key, simplify, offline, out_file, overwrite) -> None:
    """Re-render the interactive map of a run folder.

    \b
    Examples:
      gridmap map outputs/demo --basemap gaode
      gridmap map outputs/demo --offline --out outputs/demo/map_offline.html
    """
    from geodata.io import check_output
    from gridmap.maps import write_map
    from gridmap.pipeline import load_run

    run_path = Path(run_dir)
    default = f"map_{basemap}{'_offline' if offline else ''}.html"
    out = Path(out_file) if out_file else run_path / default
    check_output(out, overwrite=overwrite)
    result = load_run(run_path)
    write_map(result, out, basemap=basemap, tianditu_key=tianditu_key, tolerance_m=simplify, offline=offline)
    size = out.stat().st_size / 1e6
    if not ctx.obj.get("quiet"):
        click.echo(f"Map: {out} ({size:.1f} MB, {len(result.grids)} grids)")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "formats", multiple=True, type=click.Choice(["gpkg", "geojson", "shp", "kml", "xlsx", "csv"]),
              required=True, help="Format to write (repeatable).")
@click.option("--encoding", default="UTF-8", show_default=True, help="Shapefile text encoding (GBK for older Chinese GIS).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder [RUN_DIR/export].")
@click.option("--overwrite", is_flag=True, help="Replace an existing export folder.")
@click.pass_context
def export(ctx, run_dir, formats, encoding, out_dir, overwrite) -> None:
    """Export a run's grids and rosters for other GIS and for grid workers.

    \b
    Formats: gpkg, geojson, shp (zipped, fields ≤ 10 characters, .cpg), kml, xlsx (one sheet
    per village/community), csv (UTF-8 with BOM).
    Example:
      gridmap export outputs/demo --format shp --format xlsx --encoding gbk
    """
    from geodata.io import atomic_dir
    from gridmap.export import write_export
    from gridmap.pipeline import load_run

    try:
        "".encode(encoding)
    except LookupError as exc:
        raise click.BadParameter(f"unknown encoding '{encoding}'", param_hint="--encoding") from exc
    result = load_run(Path(run_dir))
    out = Path(out_dir) if out_dir else Path(run_dir) / "export"
    files = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for fmt in formats:
            files += [out / f.name for f in write_export(result, tmp, fmt=fmt, encoding=encoding)]
    if not ctx.obj.get("quiet"):
        click.echo("\n".join(str(f) for f in files))


@main.command()
@click.option("--folder", type=click.Path(file_okay=False), help="Asset folder [$GRIDMAP_ASSETS or ~/.cache/gridmap/web].")
@click.pass_context
def assets(ctx, folder) -> None:
    """Install the map's JavaScript/CSS packages (npm) for `gridmap map --offline`.

    Needs npm and the npm registry once; copy the folder to offline machines and point
    GRIDMAP_ASSETS at it.
    """
    from gridmap.maps import sample_page
    from gridmap.offline import asset_dir, install_assets, needed_packages

    specs = needed_packages(sample_page())
    where = install_assets(specs, folder=Path(folder) if folder else asset_dir())
    if not ctx.obj.get("quiet"):
        click.echo(f"Installed {', '.join(specs)} into {where}")


@main.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--workers", "workers_csv", type=click.Path(exists=True, dir_okay=False), help="CSV/XLSX of grid_code → worker, for worker loads.")
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Grid code column of --workers.")
@click.option("--worker-col", default="worker", show_default=True, help="Worker column of --workers.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="HTML file [RUN_DIR/report.html].")
@click.pass_context
def report_cmd(ctx, run_dir, workers_csv, grid_code_col, worker_col, out_file) -> None:
    """Write the workload report of a run (summary, histogram, flagged grids, villages, workers).

    \b
    Example:
      gridmap report outputs/demo --workers workers.csv
    """
    from gridmap.analysis import read_workers, write_report
    from gridmap.pipeline import load_run

    result = load_run(Path(run_dir))
    workers = read_workers(workers_csv, grid_code_col=grid_code_col, worker_col=worker_col) if workers_csv else None
    out = Path(out_file) if out_file else Path(run_dir) / "report.html"
    write_report(result, out, workers=workers)
    if not ctx.obj.get("quiet"):
        click.echo(f"Report: {out}")


@main.command()
@click.option("--grids", "grids_path", required=True, type=click.Path(exists=True, dir_okay=False), help="The existing grid layer.")
@click.option("--grids-layer", help="Layer of --grids.")
@click.option("--addresses", required=True, type=click.Path(exists=True, dir_okay=False), help="Household address points.")
@click.option("--addresses-layer", help="Layer of --addresses.")
@click.option("--boundaries", type=click.Path(exists=True, dir_okay=False), help="Village/community polygons (finds gaps and border crossings).")
@click.option("--boundaries-layer", help="Layer of --boundaries.")
@click.option("--workers", "workers_csv", type=click.Path(exists=True, dir_okay=False), help="CSV/XLSX of grid_code → worker.")
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Grid code column of --grids (and --workers).")
@click.option("--households-col", default="households", show_default=True, help="Households column of --addresses.")
@click.option("--min-households", type=int, default=300, show_default=True)
@click.option("--max-households", type=int, default=500, show_default=True)
@click.option("--input-crs", help="CRS of the inputs when the files do not say (gcj02/bd09 allowed).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Audit folder to create.")
@click.option("--overwrite", is_flag=True, help="Replace an existing folder.")
@click.pass_context
def audit(ctx, grids_path, grids_layer, addresses, addresses_layer, boundaries, boundaries_layer, workers_csv,
          grid_code_col, households_col, min_households, max_households, input_crs, out, overwrite) -> None:
    """Audit grids not made by gridmap: households per grid, gaps, overlaps, border crossings, codes.

    \b
    Example:
      gridmap audit --grids old_grids.shp --grid-code-col WGBM --addresses hh.csv \\
          --boundaries villages.gpkg --workers workers.csv --out outputs/audit
    """
    from geodata.io import check_output
    from gridmap.analysis import read_workers, run_audit, write_audit

    check_output(Path(out), overwrite=overwrite)
    result = run_audit(
        grids=_layer_spec(grids_path, grids_layer), addresses=_layer_spec(addresses, addresses_layer),
        boundaries=_layer_spec(boundaries, boundaries_layer), grid_code_col=grid_code_col, households_col=households_col,
        min_households=min_households, max_households=max_households, input_crs=input_crs,
    )
    workers = read_workers(workers_csv, grid_code_col=grid_code_col) if workers_csv else None
    write_audit(result, out, overwrite=overwrite, workers=workers)
    if not ctx.obj.get("quiet"):
        found = ", ".join(f"{k} {v}" for k, v in result.manifest["findings"].items()) or "nothing"
        click.echo(f"{len(result.grids)} grids audited; findings: {found}.\nReport: {Path(out) / 'report.html'}")


@main.command()
@click.argument("old", type=click.Path(exists=True, dir_okay=False))
@click.argument("new", type=click.Path(exists=True, dir_okay=False))
@click.option("--addresses", required=True, type=click.Path(exists=True, dir_okay=False), help="Household address points.")
@click.option("--addresses-layer", help="Layer of --addresses.")
@click.option("--layer", default=None, help="Layer of OLD and NEW [grids when present].")
@click.option("--grid-code-col", default="grid_code", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to create.")
@click.option("--overwrite", is_flag=True)
@click.pass_context
def diff(ctx, old, new, addresses, addresses_layer, layer, grid_code_col, out, overwrite) -> None:
    """Compare two grid layers: which households change grid, what each grid gains and loses.

    \b
    Example:
      gridmap diff outputs/2025/grids.gpkg outputs/2026/grids.gpkg --addresses hh.gpkg --out outputs/diff
    """
    from geodata.io import check_output, layer_names
    from gridmap.analysis import run_diff

    check_output(Path(out), overwrite=overwrite)

    def spec(path):
        lyr = layer
        if lyr is None and path.lower().endswith(".gpkg") and "grids" in layer_names(path):
            lyr = "grids"
        return _layer_spec(path, lyr)

    d = run_diff(spec(old), spec(new), _layer_spec(addresses, addresses_layer), out, overwrite=overwrite, grid_code_col=grid_code_col)
    if not ctx.obj.get("quiet"):
        click.echo(f"{d.share_changed:.1%} of households change grid. Report: {Path(out) / 'report.html'}")


@main.command("check-codes")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer", default=None, help="Layer of FILE [grids when present].")
@click.option("--grid-code-col", default="grid_code", show_default=True, help="Column holding the grid codes.")
@click.option("--village-code-col", default="village_code", show_default=True, help="Column of the owning village's code (optional).")
@click.option("--type-col", default="grid_type", show_default=True, help="Column of the grid type (optional).")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the findings to this CSV.")
@click.pass_context
def check_codes_cmd(ctx, file, layer, grid_code_col, village_code_col, type_col, out) -> None:
    """Check grid codes: format, uniqueness, village prefix, sequence ranges, gaps.

    Exit code 0 when there are no errors (gaps are warnings), 1 otherwise.

    \b
    Example:
      gridmap check-codes outputs/town/grids.gpkg
      gridmap check-codes old_grids.shp --grid-code-col WGBM --village-code-col CJBM
    """
    import pyogrio

    from geodata.io import read_layer, write_csv
    from partition.coding import check_codes

    if layer is None and file.lower().endswith(".gpkg"):
        layers = [name for name, _ in pyogrio.list_layers(file)]
        layer = "grids" if "grids" in layers else None
    gdf = read_layer(Path(file), layer=layer)
    if grid_code_col not in gdf.columns:
        raise click.BadParameter(f"{file} has no column '{grid_code_col}' (columns: {', '.join(map(str, gdf.columns))}).", param_hint="--grid-code-col")
    frame = gdf.rename(columns={grid_code_col: "grid_code"})
    frame = frame.rename(columns={c: n for c, n in ((village_code_col, "village_code"), (type_col, "grid_type")) if c in frame.columns})
    found = check_codes(frame)
    errors = found[found["severity"].eq("error")]
    click.echo(f"{len(frame)} grids checked: {len(errors)} errors, {len(found) - len(errors)} warnings.")
    for row in found.itertuples():
        click.echo(f"  {row.severity:7} {row.check:7} {row.message}")
    if out:
        write_csv(Path(out), found)
    ctx.exit(1 if len(errors) else 0)


@main.command()
@click.argument("run_folder", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; off loopback every request needs the token.")
@click.option("--token", help="Secret that every edit (and, off loopback, every read) must carry [default: generated].")
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
def edit(run_folder, port, host, token, no_browser) -> None:
    """Adjust the grids of RUN by hand in the browser; save writes a new run folder.

    \b
    Example:
      gridmap edit outputs/demo                # opens http://127.0.0.1:8765/?token=...
    """
    from gridmap.edit.server import serve

    serve(run_folder, host=host, port=port, token=token, open_browser=not no_browser, echo=lambda m: click.echo(m, err=True))


def run() -> None:
    """Entry point that turns gridmap's own errors into a clear message and exit code 2."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GridmapError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
