"""``gridmap demo``: the whole pipeline on the bundled sample township."""

from __future__ import annotations

from pathlib import Path

import click

from gridmap.cli.options import liaison_option, options_object
from gridmap.cli.partition import grid_and_write
from gridmap.options import Options


@click.command()
@click.option("--out", default="outputs/demo", show_default=True, type=click.Path(file_okay=False), help="Run folder.")
@liaison_option(default="10-15")
@options_object
@click.pass_context
def demo(ctx: click.Context, out: str, options: Options) -> None:
    """Run the whole pipeline on the bundled sample township (always regenerates the demo folder)."""
    from geodata.sample import sample_path
    from gridmap.inputs import LayerSpec, read_inputs

    p = sample_path()
    inputs = read_inputs(
        LayerSpec(p, "addresses"),
        LayerSpec(p, "boundaries"),
        exclusive=LayerSpec(p, "exclusive"),
        barriers=[LayerSpec(p, "barriers")],
    )
    out_path = Path(out)
    if out_path.exists():
        if not ctx.obj.get("quiet"):
            click.echo(
                f"Replacing the earlier demo run in {out_path} (demo output is regenerated each time).", err=True
            )
    grid_and_write(ctx, inputs, out_path, options=options.replace(name="demo · 示例街镇"), overwrite=True)
