"""Field names: output fields in Chinese and English (the input fields users may remap are in geodata.schema)."""

from __future__ import annotations

FIELDS: dict[str, tuple[str, str]] = {
    "grid_code": ("网格编码", "grid code"),
    "village_code": ("村/社区代码", "village/community code"),
    "village_name": ("村/社区名称", "village/community name"),
    "seq": ("网格序号", "sequence"),
    "grid_type": ("网格类型", "grid type"),
    "rule": ("划分规则", "rule"),
    "households": ("户数", "households"),
    "population": ("人口", "population"),
    "units": ("楼栋/单元数", "units (buildings)"),
    "area_m2": ("面积(平方米)", "area (m²)"),
    "compactness": ("紧凑度", "compactness (Polsby-Popper)"),
    "status": ("状态", "status"),
    "flag": ("标记原因", "flag reason"),
    "note": ("说明", "note"),
    "min_households": ("户数下限", "minimum households"),
    "max_households": ("户数上限", "maximum households"),
    "liaison_code": ("联户编码", "liaison group code"),
    "kept": ("沿用上次", "kept from the previous run"),
    "address_id": ("地址序号", "address id"),
    "group": ("村民小组", "village group"),
    "building": ("楼栋", "building"),
    "compound": ("小区", "compound"),
}
"""Field name → (Chinese label, English label)."""

STATUS: dict[str, tuple[str, str]] = {
    "ok": ("正常", "within rules"),
    "under_min": ("户数不足", "below minimum households"),
    "over_max": ("户数超限", "above maximum households"),
    "enclave": ("飞地", "in several pieces"),
}

FLAGS: dict[str, tuple[str, str]] = {
    "unit_over_max": ("单体超限", "one indivisible unit exceeds the maximum"),
    "no_feasible_k": ("总户数无法成格", "the area's households fit no number of grids"),
    "unbalanced": ("无法均衡", "indivisible units prevented balancing"),
    "enclave": ("飞地", "in several pieces"),
}
"""Flag reason → (Chinese, English) explanation."""

GRID_TYPES: dict[str, str] = {
    "base": "基础网格",
    "exclusive/school": "专属网格·学校",
    "exclusive/hospital": "专属网格·医院",
    "exclusive/enterprise": "专属网格·企业",
    "exclusive/park": "专属网格·园区",
    "exclusive/market": "专属网格·市场",
    "exclusive/agency": "专属网格·机关",
    "exclusive/compound": "专属网格·小区",
    "exclusive/rental": "专属网格·出租房",
    "exclusive/other": "专属网格·其他",
}


def bilingual(name: str) -> str:
    """Return ``"中文 (English)"`` for a field name, or the name itself when unknown."""
    zh, en = FIELDS.get(name, (name, name))
    return f"{zh} ({en})" if zh != en else name


RULES: dict[str, tuple[str, str]] = {
    "household_band": ("户数区间", "household band"),
    "village_group": ("一村民小组一格", "one grid per village group"),
    "exclusive": ("专属网格", "exclusive area"),
    "single": ("整村一格", "single grid"),
}
"""Rule name → (Chinese, English)."""

GRID_TYPES_EN: dict[str, str] = {
    "base": "base grid",
    **{
        f"exclusive/{t}": f"exclusive grid: {t}"
        for t in ("school", "hospital", "enterprise", "park", "market", "agency", "compound", "rental", "other")
    },
}

_UNIT_ZH = (("building ", "楼栋 "), ("compound ", "小区 "), ("unit ", "单元 "))
_NOTES: tuple[tuple[str, str], ...] = (
    (
        r"(?P<u>.+?) alone has (?P<n>[\d.]+) households, above the maximum (?P<mx>[\d.]+); it is indivisible, so "
        r"it is its own grid\.",
        "{u} 单独有 {n} 户，超过上限 {mx} 户；不可拆分，单独成格。",
    ),
    (
        r"the connected area holds (?P<n>[\d.]+) households: no number of grids puts every grid within "
        r"(?P<mn>[\d.]+)-(?P<mx>[\d.]+)\.",
        "连通区域共 {n} 户：无论划为几个网格，都无法使每格户数在 {mn}–{mx} 之间。",
    ),
    (
        r"(?P<n>[\d.]+) households could not be balanced within (?P<mn>[\d.]+)-(?P<mx>[\d.]+) without splitting an "
        r"indivisible unit "
        r"\(largest here: (?P<u>.+?), (?P<w>[\d.]+) households\)\.",
        "{n} 户不拆分不可分单元就无法均衡到 {mn}–{mx} 户（其中最大：{u}，{w} 户）。",
    ),
    (
        r"The grid is in several pieces: its area is cut by water, an exclusive area or the boundary\.",
        "网格由几块组成：被水域、专属区域或边界隔开。",
    ),
    (r"exclusive area \(专属网格\): (?P<u>.*)", "专属网格：{u}"),
    (
        r"no households in this area: it is one grid until people live here\.",
        "该区域暂无住户：先作为一个网格，有住户后再划分。",
    ),
    (r"in (?P<n>\d+) separate pieces\.", "分为 {n} 块。"),
    (
        r"the community has (?P<n>[\d.]+) households in its base area, fewer than the minimum (?P<mn>[\d.]+)\.",
        "社区基础区域共 {n} 户，少于下限 {mn} 户。",
    ),
    (r"households outside the band (?P<mn>[\d.]+)-(?P<mx>[\d.]+)", "户数不在 {mn}–{mx} 之间"),
)


def _unit_zh(text: str) -> str:
    for en, zh in _UNIT_ZH:
        if text.startswith(en):
            return zh + text[len(en) :]
    return text


def note_zh(note: str) -> str:
    """Chinese wording of a grid note made by gridmap (user names and ids kept as they are).

    Sentences gridmap does not recognise (e.g. notes typed by a user) are returned unchanged.
    """
    import re

    out = note or ""
    for pattern, zh in _NOTES:
        out = re.sub(
            pattern,
            lambda m, zh=zh: zh.format(**{k: _unit_zh(v) if k == "u" else v for k, v in m.groupdict().items()}),  # type: ignore[misc]
            out,
        )
    return out


def note_en(note: str) -> str:
    """English wording of a grid note (group notes are made in Chinese)."""
    import re

    return re.sub(r"^村民小组 (.*)$", r"village group \1", note or "")


def bilingual_text(zh: str, en: str) -> str:
    """``"中文 / English"``, or one of them when both say the same."""
    if not zh or zh == en:
        return en or zh
    if not en:
        return zh
    return f"{zh} / {en}"


def status_text(status: str) -> str:
    """Status in Chinese with English beside, e.g. ``户数超限 / above maximum households (over_max)``."""
    zh, en = STATUS.get(status, (status, status))
    return f"{zh} / {en}" if status in STATUS else status


def flag_text(flag: str) -> str:
    """Flag reason in Chinese with English beside, or '' for none."""
    if not flag:
        return ""
    zh, en = FLAGS.get(flag, (flag, flag))
    return f"{zh} / {en}"


def note_text(note: str) -> str:
    """Return a grid note in Chinese with the English beside."""
    return bilingual_text(note_zh(note), note_en(note))
