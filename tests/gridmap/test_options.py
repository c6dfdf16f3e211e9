"""One options object: checked once when made, the same for the library and the CLI, recorded in the manifest."""

from __future__ import annotations

import json

import pytest

import gridmap
from geodata.errors import OptionError
from tests.test_bad_inputs import _cli


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"liaison": (15, 10)}, "liaison"),
        ({"liaison": (0, 0)}, "liaison"),
        ({"liaison": (10.5, 15)}, "liaison"),
        ({"liaison": (True, 15)}, "liaison"),
        ({"keep_tolerance": 1.5}, "keep_tolerance"),
        ({"keep_tolerance": -0.1}, "keep_tolerance"),
        ({"workers": 0}, "workers"),
        ({"dedupe": "yes"}, "dedupe"),
        ({"fields": {"housholds": "户数"}}, "housholds"),
        ({"fields": {"households": ""}}, "households"),
        ({"layer_crs": {"adresses": "gcj02"}}, "adresses"),
        ({"rules": {"min_households": 300}}, "rules"),
    ],
)
def test_impossible_options_are_refused_when_made(options, message):
    with pytest.raises(OptionError, match=message):
        gridmap.Options(**options)


def test_library_and_command_line_refuse_the_same_liaison(tmp_path):
    with pytest.raises(OptionError, match="0 < MIN <= MAX"):
        gridmap.Options(liaison=(15, 10))
    code, text = _cli(["demo", "--out", str(tmp_path / "d"), "--liaison", "15-10"])
    assert code == 2 and "0 < MIN <= MAX" in text and "Traceback" not in text
    assert not (tmp_path / "d").exists()


def test_the_run_records_its_options_and_gives_them_back(sample_run, sample_run_dir):
    options = gridmap.Options(liaison=(10, 15), name="sample")
    manifest = json.loads((sample_run_dir / "manifest.json").read_text(encoding="utf-8"))
    back = gridmap.Options.from_record(manifest)
    assert back.record() == {**options.record(), "work_crs": sample_run.work_crs}
    assert back.liaison == (10, 15) and back.name == "sample" and back.rules == gridmap.read_rules()


def test_a_band_from_the_command_line_reaches_the_rules(tmp_path):
    from click.testing import CliRunner

    from gridmap.cli import main

    out = tmp_path / "run"
    sample = gridmap.sample_path()
    res = CliRunner().invoke(
        main,
        [
            "-q",
            "partition",
            "--addresses",
            str(sample),
            "--addresses-layer",
            "addresses",
            "--boundaries",
            str(sample),
            "--boundaries-layer",
            "boundaries",
            "--min-households",
            "250",
            "--max-households",
            "450",
            "--households-col",
            "households",
            "--workers",
            "1",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    recorded = gridmap.Options.from_record(json.loads((out / "manifest.json").read_text(encoding="utf-8")))
    assert (recorded.rules.urban.min_households, recorded.rules.urban.max_households) == (250, 450)
    assert recorded.fields == {"households": "households"} and recorded.name == "run"
