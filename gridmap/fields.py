"""Field names: the input fields users may remap, and output fields in Chinese and English."""

from __future__ import annotations

INPUT_FIELDS: dict[str, str] = {
    "households": "Households per address point [default: 1 per point].",
    "population": "Population per address point (optional).",
    "group": "村民小组 (village group) of each household, for rural villages.",
    "building": "Building id: points with the same id stay in one grid.",
    "compound": "Compound (小区) id: kept whole when it fits in the band.",
    "village_code": "12-digit code of each point's village (else found by location).",
    "code": "12-digit code (统计用区划代码) of each boundary.",
    "name": "Name of each boundary.",
    "urban_rural": "3-digit 城乡分类代码 of each boundary (1xx urban, 2xx rural).",
    "kind": "'community' or 'village' of each boundary.",
    "grid_code": "Grid code column of a previous/existing grid layer.",
    "type": "Type of each exclusive area (school, hospital, ...).",
}
"""Canonical input field → what it holds. Each can be remapped (``fields=``, CLI ``--<field>-col``)."""

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
