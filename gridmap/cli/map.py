"""``gridmap map``: re-render the interactive map of a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from geodata.io import RUN_FILES
from gridmap.cli.console import echo
from gridmap.cli.options import overwrite_option, run_dir_argument
from gridmap.maps import BASEMAPS, LANGS


@click.command("map")
@run_dir_argument
@click.option(
    "--basemap",
    type=click.Choice(BASEMAPS),
    default="osm",
    show_default=True,
    help="Base map; gaode shifts the display copy to GCJ-02 so grids sit on Gaode's streets.",
)
@click.option("--tianditu-key", envvar="TIANDITU_KEY", help="Tianditu key [env TIANDITU_KEY].")
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
    """
    from geodata.io import check_output_file
    from gridmap.maps import write_map
    from gridmap.result import read_run

    run_path = Path(run_dir)
    out = (
        Path(out_file)
        if out_file
        else run_path / f"map_{basemap}{'_en' if lang == 'en' else ''}{'_cdn' if cdn else ''}.html"
    )
    check_output_file(out, overwrite=overwrite, protected=RUN_FILES)
    result = read_run(run_path)
    write_map(result, out, basemap=basemap, tianditu_key=tianditu_key, tolerance_m=simplify, lang=lang, cdn=cdn)
    echo(ctx, f"Map: {out} ({out.stat().st_size / 1e6:.1f} MB, {len(result.grids)} grids)")
