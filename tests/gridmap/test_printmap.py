"""Print layouts read back as a person at the printer would: pages, paper size, the words on them, fonts.

PDFs are read with poppler's ``pdfinfo``/``pdftotext``/``pdffonts`` (Debian ``poppler-utils``,
installed by ``.ci/run``).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from geodata.errors import DependencyError, OptionError
from gridmap.cli import main
from gridmap.printmap import write_print

POPPLER = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (.ci/run installs it)")


def pdf(tool: str, path, *args: str) -> str:
    return subprocess.run([tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip


def info(path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in pdf("pdfinfo", path).splitlines() if ":" in line)


@POPPLER
def test_cli_prints_an_a3_page_with_title_legend_scale_north_date_and_source_in_chinese(sample_run_dir, tmp_path):
    out = tmp_path / "map.pdf"
    res = CliRunner().invoke(main, ["map", str(sample_run_dir), "--print", "A3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = info(out)
    assert meta["Pages"].strip() == "1"
    w, h = (float(v) for v in meta["Page size"].split("pts")[0].split(" x "))
    assert (round(w), round(h)) == (1191, 842)  # A3 landscape, in points
    text = pdf("pdftotext", out, "-layout")
    flat = re.sub(r"\s+", "", text)  # pdftotext spaces the words of a line as it sees fit
    for words in ("网格地图 grid map", "图例 legend", "社区边界", "比例尺 scale 1:", "N 北", "数据来源 Source"):
        assert words.replace(" ", "") in flat, words
    assert f"制图日期date{dt.date.today().isoformat()}" in flat
    assert re.search(r"\b\d+(\.\d+)? k?m\b", text)  # the scale bar's length
    assert "梅园一村居委会" in flat  # village names are drawn, in Chinese
    fonts = pdf("pdffonts", out).splitlines()[2:]
    assert any("CJK" in f for f in fonts) and all(f.split()[-3] == "yes" for f in fonts)  # embedded, Unicode-mapped


@POPPLER
def test_one_page_per_village_and_per_township(sample_run, tmp_path):
    out = write_print(sample_run, tmp_path / "villages.pdf", paper="A4", orientation="portrait", by="village")
    assert int(info(out)["Pages"]) == sample_run.grids["village_code"].nunique()
    pages = pdf("pdftotext", out).split("\f")
    for name, code in zip(sample_run.boundaries["name"], sample_run.boundaries["code"], strict=True):
        assert any(f"{name}{code}" in re.sub(r"\s+", "", p) for p in pages), name
    out = write_print(sample_run, tmp_path / "townships.pdf", by="township")
    assert int(info(out)["Pages"]) == sample_run.grids["village_code"].str[:9].nunique()


def test_png_is_300_dpi_on_the_paper_asked(sample_run, tmp_path):
    from PIL import Image

    out = write_print(sample_run, tmp_path / "map.png", paper="A4", orientation="landscape")
    with Image.open(out) as im:
        assert abs(im.size[0] - 3508) <= 2 and abs(im.size[1] - 2480) <= 2  # 297 × 210 mm at 300 dpi
    with pytest.raises(OptionError, match="a PNG holds one page"):
        write_print(sample_run, tmp_path / "villages.png", by="village")


def test_without_a_cjk_font_the_png_stops_naming_the_package(sample_run, tmp_path, monkeypatch):
    import matplotlib.font_manager as fm

    from gridmap.maps import write_static_map

    latin = [f for f in fm.fontManager.ttflist if not any(k in f.name for k in ("CJK", "Hei", "Han", "PingFang"))]
    monkeypatch.setattr(fm.fontManager, "ttflist", latin)
    with pytest.raises(DependencyError, match="fonts-noto-cjk"):
        write_static_map(sample_run, tmp_path / "map.png")
    assert not (tmp_path / "map.png").exists()  # never a map that silently lost its Chinese


@POPPLER
def test_hostile_names_print_literally(hostile_run, tmp_path):
    import dataclasses

    result, _ = hostile_run
    b = result.boundaries.copy()
    b.loc[b.index[0], "name"] = "$5村$ 税"  # would be mathtext in matplotlib
    out = write_print(dataclasses.replace(result, boundaries=b), tmp_path / "hostile.pdf")
    flat = re.sub(r"\s+", "", pdf("pdftotext", out))
    assert "崂山{{6*7}}二村" in flat and "$5村$税" in flat and "<imgsrc=xonerror=window.__pwned=1>" in flat


def test_a_grid_with_a_hole_is_drawn_with_the_hole_left_open():
    """A grid around another grid (an enclave) must not paint over it, whichever way its rings wind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import shapely

    from gridmap.printmap import _polygons

    shell = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
    hole = [(3, 3), (7, 3), (7, 7), (3, 7), (3, 3)]  # same winding as the shell: a fill rule alone fills it
    donut = shapely.Polygon(shell, [hole])
    fig = plt.figure(figsize=(1, 1), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.add_collection(_polygons(np.array([donut]), facecolors=np.array(["#e45756"]), edgecolor="#e45756", linewidth=0))
    fig.canvas.draw()
    px = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    assert tuple(px[50, 50]) == (255, 255, 255)  # the hole's centre: the paper shows through
    assert tuple(px[10, 10]) == (0xE4, 0x57, 0x56)  # the grid itself is filled
