"""Reasons as data: a kind and its values, kept as JSON text in a ``reason`` column (no words here)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from geodata.errors import OptionError
from partition.reasons import (
    VALUES,
    Reason,
    ReasonKind,
    UnitKind,
    UnitRef,
    decode,
    encode,
    unit_ref,
    unit_text,
)


def test_every_kind_lists_its_values_and_nothing_else_is_listed():
    assert set(VALUES) == set(ReasonKind)
    for kind, names in VALUES.items():
        assert len(set(names)) == len(names), kind
        Reason(kind, dict.fromkeys(names, 1))  # exactly its values: accepted


def test_a_reason_with_missing_or_extra_values_is_refused_naming_its_kind():
    with pytest.raises(OptionError, match=r"reason pieces takes values \('pieces',\), got \('households',\)"):
        Reason(ReasonKind.PIECES, {"households": 3})
    with pytest.raises(OptionError, match="takes values"):
        Reason.of(ReasonKind.BELOW_MIN, households=3)  # min missing
    with pytest.raises(OptionError, match="takes values"):
        Reason.of(ReasonKind.KEPT, households=3)  # a value the kind does not carry
    with pytest.raises(ValueError, match="no_such_kind"):
        Reason("no_such_kind", {})  # type: ignore[arg-type]


def test_values_become_plain_json_numbers_text_and_lists_of_text():
    r = Reason.of(
        ReasonKind.ADDRESS_IN_TWO_GRIDS, address=np.int64(7), grids=np.int32(2), codes=("310115005001001", 42)
    )
    assert r.values == {"address": 7, "grids": 2, "codes": ["310115005001001", "42"]}
    assert type(r.values["address"]) is int and type(r.values["grids"]) is int
    assert Reason.of(ReasonKind.BELOW_MIN, households=np.float64(12.5), min=300).values["households"] == 12.5
    assert Reason.of(ReasonKind.CODE_GAP, village_code="310115005001", missing=[], more=True).values["more"] is True
    assert Reason.of(ReasonKind.EXCLUSIVE, name=pd.Timestamp("2026-01-02")).values["name"] == "2026-01-02 00:00:00"
    assert r.to_dict() == {"kind": "address_in_two_grids", "address": 7, "grids": 2, "codes": ["310115005001001", "42"]}


def test_a_unit_is_kept_as_its_kind_and_id():
    r = Reason.of(ReasonKind.UNIT_OVER_MAX, unit="building 3号楼", households=520, max=500)
    assert (r.values["unit_kind"], r.values["unit"]) == ("building", "3号楼")
    assert unit_ref("compound 小区 A") == UnitRef("compound", "小区 A")  # the id keeps its spaces
    assert unit_ref(("feature", 4)) == UnitRef("feature", "4")
    assert unit_ref(UnitRef("point", "1, 2")) == UnitRef("point", "1, 2")
    assert unit_ref("river side") == UnitRef(UnitKind.NODE, "river side")  # not a unit kind: a graph node
    assert unit_ref("uncovered") == UnitRef("uncovered", "")
    for ref in (UnitRef("building", "3号楼"), UnitRef("uncovered", "")):
        assert unit_ref(unit_text(ref)) == ref  # text written for a table reads back
    assert unit_text(None) == "" and unit_text("building 1") == "building 1"


def test_encode_and_decode_are_inverse_and_keep_chinese_readable():
    reasons = (Reason.of(ReasonKind.VILLAGE_GROUP, group="三组"), Reason.of(ReasonKind.PIECES, pieces=2))
    text = encode(reasons)
    assert text == '[{"kind":"village_group","group":"三组"},{"kind":"pieces","pieces":2}]'
    assert decode(text) == reasons
    assert decode(json.loads(text)) == reasons  # as a JSON reader (GeoJSON, PostGIS jsonb) hands it back
    assert encode([]) is None
    for empty in (None, "", "  ", np.nan, pd.NA):
        assert decode(empty) == ()


@pytest.mark.parametrize(
    "cell", ["not json", '{"kind": "pieces"}', '[{"pieces": 2}]', '[{"kind": "nope"}]', '[{"kind": "pieces"}]', 3]
)
def test_a_cell_gridmap_did_not_write_is_one_clear_error(cell):
    with pytest.raises(OptionError, match="not the reasons gridmap writes") as err:
        decode(cell)
    assert "reason" in err.value.fix
