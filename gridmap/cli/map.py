"""``gridmap map``: re-render the interactive map of a run folder, or print it (A4/A3 PDF or PNG)."""

from __future__ import annotations

from pathlib import Path

import click

from geodata.io import RUN_FILES
from gridmap.cli.console import echo
from gridmap.cli.options import overwrite_option, run_dir_argument
from gridmap.maps import BASEMAPS, COLORINGS, LANGS, TILE_CRS
from gridmap.printmap import ORIENTATIONS, PAGES_BY, PAPERS


@click.command("map")
@run_dir_argument
@click.option(
    "--basemap",
    type=click.Choice(BASEMAPS),
    default="auto",
    show_default=True,
    help="Base map; auto: 天地图 when a key is set and Gaode otherwise for places in China, OpenStreetMap elsewhere; "
    "gaode (roads, satellite) shifts the grids to GCJ-02 so they sit on Gaode's streets; "
    "tianditu: vector, imagery and annotation; none: the inputs' roads and rivers only.",
)
@click.option(
    "--tianditu-key",
    envvar="TIANDITU_KEY",
    help="Tianditu key [env TIANDITU_KEY, else tianditu_key in ~/.config/gridmap/config.toml]; written into the page.",
)
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
    type=click.Choice(list(PAPERS), case_sensitive=False),
    help="Write a print layout instead of the web page (title, legend, scale bar, north arrow, date, "
    "source): --out map.pdf or map.png (300 dpi) [RUN_DIR/map_<paper>.pdf].",
)
@click.option(
    "--orientation",
    type=click.Choice(ORIENTATIONS),
    default="landscape",
    show_default=True,
    help="Paper orientation of --print.",
)
@click.option(
    "--pages-by", type=click.Choice(PAGES_BY), help="--print one page per township or per village/community (PDF)."
)
@click.option("--dpi", type=int, default=300, show_default=True, help="Resolution of a --print PNG.")
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
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="HTML file [RUN_DIR/map_<basemap>[_en][_cdn].html], or the --print file.",
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
    """Re-render the interactive map of a run folder, or print it.

    \b
    Examples:
      gridmap map outputs/demo --basemap gaode
      gridmap map outputs/demo --lang en --out outputs/demo/map_en.html
      gridmap map outputs/demo --tiles 'http://tiles.intranet/{z}/{x}/{y}.png' --tiles-attribution 区测绘院
      gridmap map outputs/demo --print A3 --out outputs/demo/map.pdf --pages-by village
    """
    from geodata.io import check_output_file
    from gridmap.maps import write_map
    from gridmap.printmap import write_print
    from gridmap.result import read_run

    run_path = Path(run_dir)
    if print_paper:
        out = Path(out_file) if out_file else run_path / f"map_{print_paper.upper()}.pdf"
        check_output_file(out, overwrite=overwrite, protected=RUN_FILES)
        result = read_run(run_path)
        write_print(result, out, paper=print_paper, orientation=orientation, by=pages_by, dpi=dpi)
        echo(ctx, f"Print: {out} ({print_paper.upper()} {orientation}, {len(result.grids)} grids)")
        return
    name = "tiles" if tiles else basemap
    out = (
        Path(out_file)
        if out_file
        else run_path / f"map_{name}{'_en' if lang == 'en' else ''}{'_cdn' if cdn else ''}.html"
    )
    check_output_file(out, overwrite=overwrite, protected=RUN_FILES)
    result = read_run(run_path)
    write_map(
        result,
        out,
        basemap=basemap,
        tiles=tiles,
        tiles_crs=tiles_crs,
        tiles_attribution=tiles_attribution,
        tianditu_key=tianditu_key,
        colors=colors,
        tolerance_m=simplify,
        lang=lang,
        cdn=cdn,
    )
    echo(ctx, f"Map: {out} ({out.stat().st_size / 1e6:.1f} MB, {len(result.grids)} grids)")
