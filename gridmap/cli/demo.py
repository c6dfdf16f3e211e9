"""``gridmap demo``: the whole pipeline on the bundled sample township."""

from __future__ import annotations

from pathlib import Path

import click

from geodata.errors import OutputExistsError
from geodata.io import is_gridmap_folder
from gridmap.cli.options import liaison_option, options_object
from gridmap.cli.partition import grid_and_write
from gridmap.options import Options


@click.command()
@click.option("--out", default="outputs/demo", show_default=True, type=click.Path(file_okay=False), help="Run folder.")
@liaison_option(default="10-15")
@options_object
@click.pass_context
def demo(ctx: click.Context, out: str, options: Options) -> None:
    """Run the whole pipeline on the bundled sample township (regenerates an earlier demo folder, nothing else)."""
    from gridmap.inputs import read_inputs, sample_layers

    inputs = read_inputs(**sample_layers())
    out_path = Path(out)
    # data loss: only an earlier demo run is replaced; any other folder (a real run) is refused
    replace = _demo_run(out_path)
    if out_path.exists() and not replace:
        what = "is a gridmap run, not an earlier demo run" if is_gridmap_folder(out_path) else "was not made by gridmap"
        msg = f"{out_path} {what}; the demo replaces only its own earlier run."
        raise OutputExistsError(msg, fix="choose another --out for the demo (default outputs/demo).")
    if replace and not ctx.obj.get("quiet"):
        click.echo(f"Replacing the earlier demo run in {out_path} (demo output is regenerated each time).", err=True)
    grid_and_write(ctx, inputs, out_path, options=options.replace(name=DEMO_NAME), overwrite=replace)


DEMO_NAME = "demo · 示例街镇"


def _demo_run(out: Path) -> bool:
    """Whether `out` is a run folder `gridmap demo` wrote (gridmap's, named as the demo, from the sample)."""
    import json

    from geodata.sample import sample_path

    if not is_gridmap_folder(out):
        return False
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    source = (manifest.get("inputs") or {}).get("addresses") or {}
    return manifest.get("name") == DEMO_NAME and Path(str(source.get("path", ""))).name == sample_path().name
