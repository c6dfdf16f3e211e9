"""Message catalog: the words for every reason, status and flag, in Chinese and English.

The engine explains grids with :class:`partition.reasons.Reason` values (a kind and its numbers,
ids and names); this module is the only place that turns them into text, for the map, the report,
the exports, the editor, the CLI and the grids layer's ``note`` (Chinese) and ``note_en``
(English) columns. Entries are ``str.format`` strings filled with the reason's values: a value is
inserted as it is and never formatted again, so user names (``{{ … }}``, ``<b>``) stay text.
Whoever puts the result into HTML still escapes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import pandas as pd

from geodata.errors import OptionError
from partition.reasons import Reason, ReasonKind, Reasons, UnitKind, Value, decode
from partition.rules import Flag, Status

Lang = Literal["zh", "en"]

MESSAGES: dict[ReasonKind, tuple[str, str]] = {
    ReasonKind.UNIT_OVER_MAX: (
        "{unit} 单独有 {households} 户，超过上限 {max} 户；不可拆分，单独成格。",
        "{unit} alone has {households} households, above the maximum {max}; it is indivisible, so it is its own grid.",
    ),
    ReasonKind.AREA_FITS_NO_COUNT: (
        "连通区域共 {households} 户：无论划为几个网格，都无法使每格户数在 {min}–{max} 之间。",
        "the connected area holds {households} households: no number of grids puts every grid within {min}-{max}.",
    ),
    ReasonKind.POCKET: (
        "此处 {households} 户只能经由 {unit}（{unit_households} 户）与区域其余部分相连：合起来超过 {max} 户，"
        "分开又不足 {min} 户，因此无论怎样划分都无法使每格户数在 {min}–{max} 之间。",
        "{households} households here reach the rest of the area only through {unit} ({unit_households} "
        "households): together they exceed {max}, apart they are below {min}, so no split puts every grid "
        "within {min}-{max}.",
    ),
    ReasonKind.UNIT_FITS_NOWHERE: (
        "{unit} 有 {households} 户，并入任何相邻区域都会超出：包含它的连通网格都无法使户数在 {min}–{max} 之间。",
        "{unit} has {households} households and every area it could join adds too many: no connected grid "
        "holding it has {min}-{max} households.",
    ),
    ReasonKind.UNIT_OVER_LIMIT: (
        "{unit} 单独有 {value} 个 {measure}，超过每格上限 {limit}；不可拆分，所在网格必然超限。",
        "{unit} alone holds {value} {measure}, above the limit {limit} per grid; it is indivisible, so its grid "
        "exceeds the limit.",
    ),
    ReasonKind.AREA_OVER_LIMIT: (
        "区域共 {households} 户、{total} 个 {measure}：每格至少 {min} 户，最多只能划 {grids} 个网格，"
        "平均每格已超过上限 {limit}，必有网格超限。",
        "the area has {households} households and {total} {measure}: with at least {min} households per grid it "
        "takes at most {grids} grids, so on average a grid holds more than the limit {limit}; some grid must "
        "exceed it.",
    ),
    ReasonKind.AREA_UNDER_LIMIT: (
        "区域共 {households} 户、{total} 个 {measure}：每格至多 {max} 户，至少要划 {grids} 个网格，"
        "平均每格已低于下限 {limit}，必有网格不足。",
        "the area has {households} households and {total} {measure}: with at most {max} households per grid it "
        "needs at least {grids} grids, so on average a grid holds less than the minimum {limit}; some grid must "
        "fall short.",
    ),
    ReasonKind.LIMIT_FORCED: (
        "包含 {unit} 且户数在 {min}–{max} 之间的任何连通网格，{measure} 都不满足 {limit}（本格 {value}）。",
        "every connected grid of {min}-{max} households that holds {unit} misses {measure} {limit} "
        "(this grid: {value}).",
    ),
    ReasonKind.WALK_OVER_LIMIT: (
        "服务点到最远住户步行 {value} 米，不满足 {limit} 米；步行距离在划分后沿街道测量，划分时未据此调整。",
        "the walk from the service point to the farthest household is {value} m, missing walk_m {limit}; walking "
        "distance is measured on the streets after the split, which does not steer by it.",
    ),
    ReasonKind.LIMIT_UNMET: (
        "本格 {measure} 为 {value}，不满足 {limit}；在户数范围内未找到满足它的划分（未证明不可能）。",
        "this grid holds {value} {measure}, missing {measure} {limit}; no split within the household band meeting "
        "it was found (not proven impossible).",
    ),
    ReasonKind.SUGGEST_MOVE: (
        "建议：将 {cells} 分别划入相邻网格 {grids}，{measure} 由 {before} 降至 {after}，各网格户数仍在区间内。",
        "suggestion: move {cells} to the neighbouring grids {grids} (in that order); {measure} goes from {before} "
        "to {after} and every grid stays within its household band.",
    ),
    ReasonKind.SUGGEST_SPLIT: (
        "建议：没有单元调整能满足限值；本格户数够两个网格，将其一分为二（{measure} 现为 {before}）。",
        "suggestion: no move meets the limit; the grid has households for two grids, so split it in two "
        "({measure} now {before}).",
    ),
    ReasonKind.NO_FIX_FOUND: (
        "在户数区间内没有能满足限值的调整，本格也不够拆分（{measure} 现为 {before}）。",
        "no change within the household band meets the limit, and the grid is too small to split ({measure} now "
        "{before}).",
    ),
    ReasonKind.UNBALANCED: (
        "{households} 户不拆分不可分单元就无法均衡到 {min}–{max} 户（其中最大：{unit}，{unit_households} 户）。",
        "{households} households could not be balanced within {min}-{max} without splitting an indivisible "
        "unit (largest here: {unit}, {unit_households} households).",
    ),
    ReasonKind.CUT_APART: (
        "网格由几块组成：被水域、专属区域或边界隔开。",
        "The grid is in several pieces: its area is cut by water, an exclusive area or the boundary.",
    ),
    ReasonKind.PIECES: ("分为 {pieces} 块。", "in {pieces} separate pieces."),
    ReasonKind.NO_HOUSEHOLDS: (
        "该区域暂无住户：先作为一个网格，有住户后再划分。",
        "no households in this area: it is one grid until people live here.",
    ),
    ReasonKind.BASE_UNDER_MIN: (
        "社区基础区域共 {households} 户，少于下限 {min} 户。",
        "the community has {households} households in its base area, fewer than the minimum {min}.",
    ),
    ReasonKind.EXCLUSIVE: ("专属网格：{name}", "exclusive area: {name}"),
    ReasonKind.VILLAGE_GROUP: ("村民小组 {group}", "village group {group}"),
    ReasonKind.NO_GROUP_LABELS: (
        "住户没有村民小组标注：整村作为一个网格。",
        "no village group (村民小组) labels on the households: kept as one grid.",
    ),
    ReasonKind.BLANK_GROUP: (
        "含 {addresses} 个村民小组为空的地址（{households} 户），已并入相邻小组：地址序号 {address_ids}。",
        "takes {addresses} addresses ({households} households) whose village group (村民小组) is blank, joined "
        "to the neighbouring group: address_id {address_ids}.",
    ),
    ReasonKind.SINGLE: (
        "整个村/社区作为一个网格（规则：整村一格）。",
        "whole village/community as one grid (rule: single).",
    ),
    ReasonKind.KEPT: (
        "沿用上次划分，未作改动（保留有效网格）。",
        "kept unchanged from the previous run (--keep-valid).",
    ),
    ReasonKind.OUT_OF_BAND: ("户数不在 {min}–{max} 之间。", "households outside the band {min}-{max}."),
    ReasonKind.BELOW_MIN: ("{households} 户，低于下限 {min} 户。", "{households} households, below the minimum {min}."),
    ReasonKind.ABOVE_MAX: ("{households} 户，超过上限 {max} 户。", "{households} households, above the maximum {max}."),
    ReasonKind.EDITED: ("手工调整。", "edited by hand."),
    ReasonKind.MANY_GROUPS: (
        "含 {groups} 个村民小组（规则为一组一格）。",
        "holds {groups} village groups (村民小组; the rule is one per grid).",
    ),
    ReasonKind.COMPOUND_SPLIT: (
        "小区 {compound} 被分到 {grids} 个网格。",
        "compound {compound} is split between {grids} grids.",
    ),
    ReasonKind.BARRIER_CROSSING: (
        "网格跨越道路/河流：住户分布在 {blocks} 个街区。",
        "the grid crosses roads/rivers: its households lie in {blocks} blocks between them.",
    ),
    ReasonKind.EXCLUSIVE_MIXED: (
        "专属区域与其他单元同在一个网格。",
        "an exclusive area shares its grid with other units.",
    ),
    ReasonKind.EMPTY_GRID: ("网格内没有住户。", "the grid holds no households."),
    ReasonKind.WOULD_REMOVE: (
        "网格 {grid} 将失去全部单元而被取消。",
        "grid {grid} would lose all its units and be removed.",
    ),
    ReasonKind.WOULD_BREAK: ("网格 {grid} 将断成几块。", "grid {grid} would be left in pieces."),
    ReasonKind.NOT_TOUCHING: (
        "所选单元与网格 {grid} 不相邻：该网格将不连通。",
        "the units do not touch grid {grid}: it would be in pieces.",
    ),
    ReasonKind.WOULD_SPLIT_COMPOUND: (
        "小区 {compound} 将被拆分到不同网格。",
        "compound {compound} would be split between grids.",
    ),
    ReasonKind.WOULD_CHANGE_EXCLUSIVE: (
        "专属区域将不再单独成格。",
        "an exclusive area would no longer be its own grid.",
    ),
    ReasonKind.GRID_LOCKED: ("网格 {grid} 已锁定：请先解锁。", "grid {grid} is locked: unlock it first."),
    ReasonKind.NOT_CONNECTED: (
        "网格 {grids} 连不成一片，不能合并。",
        "grids {grids} do not form one connected area, so they are not merged.",
    ),
    ReasonKind.OTHER_VILLAGE: (
        "单元只能在同一村/社区的网格之间调整。",
        "units move only between grids of one village/community.",
    ),
    ReasonKind.EXCLUSIVE_FIXED: (
        "{grid} 是专属网格，不合并也不拆分；可改为移动单元。",
        "{grid} is an exclusive grid: it is not merged or split; move units instead.",
    ),
    ReasonKind.SPLIT_COUNT: (
        "网格 {grid} 有 {households} 户：按户数区间可拆为 {allowed} 个网格，不能拆为 {k} 个。",
        "grid {grid} has {households} households: the band allows splitting it into {allowed} grids, not {k}.",
    ),
    ReasonKind.SPLIT_NONE: (
        "网格 {grid} 有 {households} 户：拆分后每格都无法在 {min}–{max} 户之间。",
        "grid {grid} has {households} households: no split keeps every part within {min}-{max}.",
    ),
    ReasonKind.MERGE_FEW: ("合并需要选择至少两个相邻网格。", "select at least two neighbouring grids to merge."),
    ReasonKind.NOTHING_TO_UNDO: ("没有可撤销的操作。", "nothing to undo."),
    ReasonKind.NOTHING_TO_REDO: ("没有可重做的操作。", "nothing to redo."),
    ReasonKind.ALREADY_THERE: ("所选单元都已在网格 {grid} 中。", "every unit is already in grid {grid}."),
    ReasonKind.NO_SUCH_GRID: ("没有网格 {grid}。", "there is no grid {grid}."),
    ReasonKind.NO_SUCH_UNIT: ("没有单元 {number}。", "there is no unit {number}."),
    ReasonKind.NO_SUCH_VILLAGE: ("没有村/社区 {village}。", "there is no village/community {village}."),
    ReasonKind.NO_REGENERATE: (
        "{village} 没有未锁定的按户数区间划分的网格可重新划分。",
        "{village} has no unlocked household-band grid to make again.",
    ),
    ReasonKind.SAVE_EXISTS: (
        "{path} 已存在。如是本编辑器此前保存的结果，可选择覆盖；否则请换一个文件夹。",
        "{path} exists. If it is this editor's earlier save you may replace it; otherwise choose another folder.",
    ),
    ReasonKind.SAVE_OVER_RUN: (
        "不能保存到正在调整的结果 {path}：请换一个文件夹。",
        "{path} is the run being edited: it is never saved over; choose another folder.",
    ),
    ReasonKind.SAVE_NOT_OURS: (
        "{path} 中有不是本软件生成的文件，不会覆盖：请换一个文件夹。",
        "{path} holds files gridmap did not make, so it is not replaced: choose another folder.",
    ),
    ReasonKind.SAVE_PATH_BAD: (
        "请填写一个新文件夹的路径（不能为空、不能含空字符，每级名称不超过 255 字节）。",
        "give the path of a new folder (not empty, no NUL character, no name over 255 bytes).",
    ),
    ReasonKind.SAVE_FAILED: ("无法写入 {path}（{detail}）。", "cannot write {path} ({detail})."),
    ReasonKind.SAVED: (
        "已保存到 {path}：{grids} 个网格，{edits} 项调整。",
        "saved to {path}: {grids} grids, {edits} edits.",
    ),
    ReasonKind.TOKEN_WRONG: (
        "缺少或错误的访问口令：请打开启动编辑器时显示的网址。",
        "missing or wrong access token: open the address the editor printed when it started.",
    ),
    ReasonKind.TOKEN_WAIT: (
        "口令错误次数过多：请等待 {seconds} 秒，再打开启动编辑器时显示的网址。",
        "too many wrong tokens: wait {seconds} s, then open the address the editor printed when it started.",
    ),
    ReasonKind.HOST_REFUSED: (
        "不接受主机名 {host}：请打开启动编辑器时显示的网址。",
        "host name {host} is not served: open the address the editor printed when it started.",
    ),
    ReasonKind.INTERNAL: (
        "编辑器内部错误（程序缺陷）：详情见服务器日志。",
        "internal error in the editor (a bug): see the server's log.",
    ),
    ReasonKind.JOURNAL_FOUND: (
        "发现上次未保存的 {edits} 项调整（{path}）。",
        "found {edits} unsaved edits from last time ({path}).",
    ),
    ReasonKind.JOURNAL_OTHER_RUN: (
        "{path} 中未保存的 {edits} 项调整是在此结果的另一版本上做的，无法继续，只能放弃。",
        "the {edits} unsaved edits in {path} were made on another version of this run: "
        "they cannot be continued, only discarded.",
    ),
    ReasonKind.REQUEST_FIELD_UNKNOWN: (
        "请求中有本操作不接受的字段 {name}（可用：{expected}）。",
        "the request has a field {name} this operation does not take (it takes: {expected}).",
    ),
    ReasonKind.REQUEST_FIELD_TYPE: (
        "请求字段 {name} 的类型不对：应为{type}。",
        "request field {name} has the wrong type: expected {type}.",
    ),
    ReasonKind.REQUEST_FIELD_MISSING: ("请求缺少字段 {name}。", "the request lacks the field {name}."),
    ReasonKind.REQUEST_NOT_JSON: (
        "请求内容格式不对：应为一个对象，且嵌套不能过深。",
        "the request body is not a valid JSON object (or is nested too deeply).",
    ),
    ReasonKind.REQUEST_TOO_LARGE: (
        "请求内容超过 {bytes} 字节。",
        "the request body is larger than {bytes} bytes.",
    ),
    ReasonKind.NO_SUCH_PAGE: ("没有这个页面：{path}。", "there is no page {path}."),
    ReasonKind.METHOD_NOT_ALLOWED: ("{path} 不接受 {method} 请求。", "{path} does not take {method} requests."),
    ReasonKind.NO_SUCH_OP: (
        "没有调整操作 {op}（可用：{expected}）。",
        "there is no editing operation {op} (there are: {expected}).",
    ),
    ReasonKind.MOVED: ("已移动单元：{grids}", "units moved: {grids}"),
    ReasonKind.MERGED: ("已合并：{grids}", "merged: {grids}"),
    ReasonKind.SPLIT_DONE: ("已拆分：{grids}", "split: {grids}"),
    ReasonKind.LOCKED: ("已锁定：{grids}", "locked: {grids}"),
    ReasonKind.UNLOCKED: ("已解锁：{grids}", "unlocked: {grids}"),
    ReasonKind.REGENERATED: ("已重新划分：{grids}", "made again: {grids}"),
    ReasonKind.FIXED: ("已修正：{grids}", "fixed: {grids}"),
    ReasonKind.FIX_NONE: (
        "网格 {grid} 无需修正，或与相邻网格重新划分也无法改善。",
        "grid {grid} needs no fix, or regridding it with its neighbours does not help.",
    ),
    ReasonKind.UNDONE: ("已撤销，涉及：{grids}", "undone, grids: {grids}"),
    ReasonKind.REDONE: ("已重做，涉及：{grids}", "redone, grids: {grids}"),
    ReasonKind.ADDRESS_OUTSIDE_BOUNDARIES: (
        "地址不在任何村/社区边界内。",
        "address lies outside every village/community boundary.",
    ),
    ReasonKind.ADDRESS_IN_HOLE: (
        "地址位于村/社区边界的空洞内。",
        "address lies inside a hole of a village/community boundary.",
    ),
    ReasonKind.REPAIRED_POLYGON: (
        "无效多边形（{detail}）已自动修复；面积 {area_before} → {area_after}（图层单位）。"
        "请在问题图层中核对修复后的形状，或在源数据中修正。",
        "invalid polygon ({detail}) repaired with make_valid; area {area_before} → {area_after} (layer units). "
        "Check the repaired shape in the violations layer, or fix it at source.",
    ),
    ReasonKind.ADDRESS_IN_NO_GRID: (
        "地址 {address}（{households} 户）不在任何网格内。",
        "address {address} ({households} households) lies in no grid.",
    ),
    ReasonKind.ADDRESS_IN_TWO_GRIDS: (
        "地址 {address} 位于 {grids} 个网格内：{codes}。",
        "address {address} lies in {grids} grids: {codes}.",
    ),
    ReasonKind.GRID_IN_PIECES: ("网格 {grid} 分为 {pieces} 块。", "grid {grid} is in {pieces} separate pieces."),
    ReasonKind.GRIDS_OVERLAP: (
        "网格 {grid} 与 {other} 重叠 {area} 平方米。",
        "grids {grid} and {other} overlap by {area} m².",
    ),
    ReasonKind.AREA_IN_NO_GRID: (
        "{village_code} 有 {area} 平方米不属于任何网格。",
        "{area} m² of {village_code} belong to no grid.",
    ),
    ReasonKind.GRID_CROSSES_BOUNDARY: (
        "网格 {grid} 跨越 {villages} 个村/社区：{codes}。",
        "grid {grid} lies in {villages} villages/communities: {codes}.",
    ),
    ReasonKind.GRID_OUT_OF_BAND: (
        "网格 {grid} 有 {households} 户（区间 {min}–{max}）。",
        "grid {grid} has {households} households (band {min}-{max}).",
    ),
    ReasonKind.CODE_FORMAT: (
        "“{code}”不是 15 位半角数字（0–9；12 位村/社区代码 + 3 位序号）。",
        "'{code}' is not 15 digits (ASCII 0-9; 12-digit village/community code + 3-digit sequence).",
    ),
    ReasonKind.CODE_REPEATED: ("{code} 被多个网格使用。", "{code} is used by more than one grid."),
    ReasonKind.CODE_PREFIX: (
        "{code} 的前 12 位不是其所属村/社区代码 {village_code}。",
        "{code} does not start with its village/community's code {village_code}.",
    ),
    ReasonKind.CODE_RANGE_BASE: (
        "{code} 是基础网格：序号应为 001–799（整村一格为 000）。",
        "{code} is a base grid: its sequence must be 001-799 (000 for an undivided village).",
    ),
    ReasonKind.CODE_RANGE_EXCLUSIVE: (
        "{code} 是专属网格：序号应为 800–999。",
        "{code} is an exclusive grid: its sequence must be 800-999.",
    ),
    ReasonKind.CODE_SINGLE: (
        "{code} 使用 000（整村一格），但其村/社区有 {grids} 个网格。",
        "{code} uses 000 (undivided village) but its village has {grids} grids.",
    ),
    ReasonKind.CODE_RETIRED: (
        "{code} 已记录为停用，但仍有网格在使用。",
        "{code} is recorded as retired, but a grid still uses it.",
    ),
    ReasonKind.ADDRESSES_KEPT_OUTSIDE: (
        "{addresses} 个地址位于所有村/社区边界之外：已保留但不属于任何网格，列于问题图层（严格模式会拒绝此类地址）。",
        "{addresses} addresses lie outside every village/community boundary: kept without a grid, listed in the "
        "violations layer (strict mode refuses them).",
    ),
    ReasonKind.ADDRESSES_KEPT_IN_HOLE: (
        "{addresses} 个地址位于村/社区边界的空洞内：已保留但不属于任何网格，列于问题图层（严格模式会拒绝此类地址）。",
        "{addresses} addresses lie inside a hole of a village/community boundary: kept without a grid, listed in "
        "the violations layer (strict mode refuses them).",
    ),
    ReasonKind.ROWS_REPEATED: (
        "{rows} 行地址与前面某行完全相同（位置和属性相同），已重复计数（去重选项会删除它们）。",
        "{rows} address rows repeat an earlier row exactly (same place and values): counted again (dedupe drops them).",
    ),
    ReasonKind.ROWS_DROPPED: (
        "{rows} 行地址与前面某行完全相同（位置和属性相同），已按去重选项删除。",
        "{rows} address rows repeat an earlier row exactly (same place and values): dropped (dedupe).",
    ),
    ReasonKind.POLYGONS_REPAIRED: (
        "{polygons} 个无效多边形已自动修复，列于问题图层。",
        "{polygons} invalid polygons were repaired with make_valid (listed in the violations layer).",
    ),
    ReasonKind.CODE_GAP: (
        "{village_code} 的序号 {missing} 未被使用（已停用或跳过）。",
        "village {village_code}: sequence numbers {missing} are not in use (retired or skipped).",
    ),
}
"""Reason kind → (Chinese, English) format strings over the reason's values."""

UNITS: dict[UnitKind, tuple[str, str]] = {
    UnitKind.BUILDING: ("楼栋 {id}", "building {id}"),
    UnitKind.COMPOUND: ("小区 {id}", "compound {id}"),
    UnitKind.FEATURE: ("单元图层第 {id} 个要素", "units feature {id}"),
    UnitKind.UNCOVERED: ("单元图层未覆盖的区域", "uncovered area"),
    UnitKind.POINT: ("位于 ({id}) 的地址点", "point at ({id})"),
    UnitKind.ADDRESS_UNIT: ("地址单元 {id}", "address unit {id}"),
    UnitKind.NODE: ("单元 {id}", "{id}"),
}
"""Unit kind → (Chinese, English) name of a unit named in a reason."""

STATUS: dict[str, tuple[str, str]] = {
    Status.OK: ("正常", "within rules"),
    Status.UNDER_MIN: ("户数不足", "below minimum households"),
    Status.OVER_MAX: ("户数超限", "above maximum households"),
    Status.ENCLAVE: ("飞地", "in several pieces"),
}
"""Status → (Chinese, English) label."""

FLAGS: dict[str, tuple[str, str]] = {
    Flag.UNIT_OVER_MAX: ("单体超限", "one indivisible unit exceeds the maximum"),
    Flag.NO_FEASIBLE_K: ("总户数无法成格", "the area's households fit no number of grids"),
    Flag.UNBALANCED: ("无法均衡", "indivisible units prevented balancing"),
    Flag.ENCLAVE: ("飞地", "in several pieces"),
    Flag.EDITED: ("手工调整", "edited by hand"),
    Flag.LIMIT_FORCED: ("指标必然超限", "a measure limit no in-band grid here can meet"),
    Flag.LIMIT_UNMET: ("指标未达标", "a measure limit missed (not proven unavoidable)"),
}
"""Flag reason → (Chinese, English) explanation."""

_LANG = {"zh": 0, "en": 1}


def _text(value: Value, lang: Lang) -> str:
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


REQUEST_TYPES: dict[str, tuple[str, str]] = {
    "code": ("网格编码（文本）", "a grid code (text)"),
    "codes": ("网格编码（文本）的非空列表", "a non-empty list of grid codes (text)"),
    "units": ("单元编号（整数）的非空列表", "a non-empty list of unit numbers (integers)"),
    "bool": ("true 或 false", "true or false"),
    "k": (
        "不小于 2 的整数，或 null（由户数区间决定）",
        "an integer of at least 2, or null (the household band decides)",
    ),
}
"""What an editor request field must hold (the ``type`` of :attr:`ReasonKind.REQUEST_FIELD_TYPE`)."""


def render(reason: Reason, lang: Lang = "zh") -> str:
    """Return the text of one reason in Chinese (``"zh"``) or English (``"en"``)."""
    i = _LANG[lang]
    values = {k: ", ".join(map(str, v)) if isinstance(v, list) else _text(v, lang) for k, v in reason.values.items()}
    if reason.kind is ReasonKind.REQUEST_FIELD_TYPE:
        values["type"] = REQUEST_TYPES[str(reason.values["type"])][i]
    if "unit_kind" in reason.values:
        values["unit"] = UNITS[UnitKind(str(reason.values["unit_kind"]))][i].format(id=reason.values["unit"])
    if reason.values.get("more"):  # a list cut short: its first items, then "…"
        for k, v in reason.values.items():
            if isinstance(v, list):
                values[k] += " …"
    return MESSAGES[reason.kind][i].format_map(values)


def render_all(reasons: Iterable[Reason], lang: Lang = "zh") -> str:
    """Return the text of several reasons, one after another ("" for none)."""
    out = ""
    for r in reasons:
        text = render(r, lang)
        if out:
            ended = out.endswith(("。", ".", "！", "!", "）", ")"))
            out += ("" if ended else "；") + text if lang == "zh" else (" " if ended else "; ") + text
        else:
            out = text
    return out


def _reasons(text: object) -> Reasons | None:
    """Reasons of a ``reason`` cell, or None when the cell is not gridmap's JSON (a user's own column)."""
    try:
        return decode(text)
    except OptionError:
        return None


def note_pair(reason: object, note: object = "") -> tuple[str, str]:
    """(Chinese, English) note of one grid from its ``reason`` cell; else its ``note`` text as given."""
    reasons = _reasons(reason)
    if reasons:
        return render_all(reasons, "zh"), render_all(reasons, "en")
    text = "" if not isinstance(note, str) and pd.isna(note) else str(note)
    return text, text


def note_pairs(frame: pd.DataFrame, *, reason: str = "reason", note: str = "note") -> list[tuple[str, str]]:
    """(Chinese, English) note of every row of `frame` (see :func:`note_pair`)."""
    n = len(frame)
    reasons = frame[reason].tolist() if reason in frame else [""] * n
    notes = frame[note].tolist() if note in frame else [""] * n
    cache: dict[tuple[object, object], tuple[str, str]] = {}
    out = []
    for r, t in zip(reasons, notes, strict=True):
        if not isinstance(r, str | None) or not isinstance(t, str | None):  # parsed JSON, NaN: not cached
            out.append(note_pair(r, t))
            continue
        if (r, t) not in cache:
            cache[r, t] = note_pair(r, t)
        out.append(cache[r, t])
    return out


def with_notes(frame: pd.DataFrame, *, reason: str = "reason", note: str = "note") -> pd.DataFrame:
    """Return `frame` with ``note`` (Chinese) and ``note_en`` (English) rendered from its ``reason`` column.

    Rows without a gridmap reason keep the text they had in `note`.
    """
    pairs = note_pairs(frame, reason=reason, note=note)
    out = frame.copy()
    out[note] = [zh for zh, _ in pairs]
    out[f"{note}_en"] = [en for _, en in pairs]
    return out


def bilingual_text(zh: str, en: str) -> str:
    """``"中文 / English"``, or one of them when both say the same."""
    if not zh or zh == en:
        return en or zh
    if not en:
        return zh
    return f"{zh} / {en}"


def note_text(reason: object, note: object = "") -> str:
    """Return a grid's note in Chinese with the English beside (from its ``reason`` cell, else its ``note``)."""
    return bilingual_text(*note_pair(reason, note))


def reason_text(reason: Reason) -> str:
    """Return one reason in Chinese with the English beside (``"中文 / English"``)."""
    return bilingual_text(render(reason, "zh"), render(reason, "en"))


def status_text(status: str) -> str:
    """Status in Chinese with English beside, e.g. ``户数超限 / above maximum households``."""
    zh, en = STATUS.get(status, (status, status))
    return f"{zh} / {en}" if status in STATUS else status


def flag_text(flag: str) -> str:
    """Flag reason in Chinese with English beside, or '' for none."""
    if not flag:
        return ""
    zh, en = FLAGS.get(flag, (flag, flag))
    return f"{zh} / {en}"
