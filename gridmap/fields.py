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
    "note_en": ("说明(英文)", "note (English)"),
    "reason": ("原因(数据)", "reason (JSON)"),
    "min_households": ("户数下限", "minimum households"),
    "max_households": ("户数上限", "maximum households"),
    "liaison_code": ("联户编码", "liaison group code"),
    "kept": ("沿用上次", "kept from the previous run"),
    "address_id": ("地址序号", "address id"),
    "group": ("村民小组", "village group"),
    "building": ("楼栋", "building"),
    "compound": ("小区", "compound"),
    "walk_m": ("最远步行距离(米)", "farthest walk (m)"),
    "walk_unreached": ("步行不可达户数", "households not reached on the streets"),
    "service_address": ("服务点地址序号", "service point address id"),
    "farthest_address": ("最远户地址序号", "farthest household address id"),
    "worker": ("网格员", "worker"),
    "township": ("乡镇/街道代码", "township code"),
    "capacity": ("工作能力(份额)", "capacity (share)"),
    "grids": ("网格数", "grids"),
    "load": ("综合工作量", "composite load"),
    "load_per_capacity": ("单位能力工作量", "load per capacity"),
    "pieces": ("片数", "pieces"),
}
"""Field name → (Chinese label, English label)."""

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
