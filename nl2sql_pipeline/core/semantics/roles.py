"""Column roles: identifier, category (code), flag, measure, datetime or free text, decided from
the type, the name, the keys, the parsed comment and a profile of real values.

What each role allows is what a business user would ask: measures are summed, averaged and
compared; categories are counted, grouped and filtered by equality; flags are yes/no;
identifiers join and are never aggregated or compared by order; dates are compared and ranged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from nl2sql_pipeline.core.schema.metadata import ColumnInfo, TableInfo
from nl2sql_pipeline.core.semantics.legend import ParsedComment, parse_comment

Role = Literal["identifier", "category", "flag", "measure", "datetime", "text"]
ROLES: tuple[Role, ...] = ("identifier", "category", "flag", "measure", "datetime", "text")
NUMERIC = {"integer", "decimal", "float"}

_ID_NAME = re.compile(r"(^id$|_id$|[a-z]Id$|ID$|_no$|^no$|_code$|^code$|_key$|_uuid$|^uuid$|_sn$|_num$|phone|mobile|"
                      r"tel$|zip|postcode|email|_nr$|^nr$|nummer$)", re.IGNORECASE)
_ID_LABEL = re.compile(r"(编号|编码|代码|工号|单号|号码|序号|行号|账号|卡号|电话|手机|身份证|邮编|邮箱|识别号|\bid\b|\bcode\b|"
                       r"\bnumber\b|\bphone\b)", re.IGNORECASE)
_FLAG_NAME = re.compile(r"^(is|has|can|should|need|allow|enable|flag)_|_flag$|^(is|has)[A-Z]|^是否|标志$|标识$", re.IGNORECASE)
_CATEGORY_NAME = re.compile(r"(status|state|type|kind|level|grade|category|class|gender|sex|rank|tier|mode|channel|"
                            r"method|stage|phase|状态|类型|类别|等级|级别|职级|性别|方式|渠道|阶段|分类|种类|评级|星级)",
                            re.IGNORECASE)
_YEAR_NAME = re.compile(r"(^|_)(year|yr)$|年份$|年度$|^jahr$", re.IGNORECASE)
_DATE_NAME = re.compile(r"(date|time|_at$|_on$|datum|日期|时间|月份|年月)", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2})?)?$")
_LEVEL_LABEL = re.compile(r"(等级|级别|职级|评级|星级|level|grade|rank|tier)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Profile:
    """What a sample of a column's rows shows: distinct non-null values among `rows` rows."""

    rows: int
    distinct: tuple[Any, ...]  # at most DISTINCT_KEPT values, sorted by repr
    distinct_count: int


@dataclass(frozen=True, slots=True)
class ColumnSemantics:
    table: str
    column: str
    role: Role
    label: str | None  # the business label from the comment (None: use the identifier)
    values: tuple[tuple[str, str], ...] = ()  # legend: code -> meaning
    unit: str | None = None
    range: tuple[str, str] | None = None
    format: str | None = None
    enumerated: bool = False

    @property
    def coded(self) -> bool:
        """Stored values stand for meanings (a legend that is not the text itself)."""
        return bool(self.values) and not self.enumerated

    def meaning(self, value: Any) -> str | None:
        key = _code_key(value)
        return next((m for c, m in self.values if c == key or c.lower() == key.lower()), None)

    def allows(self, use: str) -> bool:
        """`aggregate` (SUM/AVG), `extreme` (MIN/MAX), `order` (ORDER BY, <, >), `group`."""
        return use in _ALLOWED[self.role]


_ALLOWED: dict[str, set[str]] = {
    "measure": {"aggregate", "extreme", "order", "group"},
    "datetime": {"extreme", "order"},
    "category": {"group"},
    "flag": {"group"},
    "identifier": set(),
    "text": {"group"},
}


def _code_key(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _legend_fits(parsed: ParsedComment, profile: Profile | None) -> bool:
    """A legend holds when the column's real values are its codes (or no values were read)."""
    if not parsed.values or profile is None or not profile.distinct:
        return True
    codes = {c.lower() for c, _ in parsed.values} | {m.lower() for _, m in parsed.values}
    keys = [_code_key(v).lower() for v in profile.distinct]
    return sum(k in codes for k in keys) >= 0.8 * len(keys)


def _small_codes(profile: Profile | None) -> bool:
    """A few small integers repeated over many rows look like codes (1, 2, 3), not amounts."""
    if profile is None or profile.rows < 30 or not profile.distinct or profile.distinct_count > 5:
        return False
    return all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9 for v in profile.distinct)


def classify(col: ColumnInfo, key: bool, parsed: ParsedComment, profile: Profile | None) -> Role:
    label = parsed.label or ""
    if key:
        return "identifier"
    if col.type == "boolean" or (parsed.yes_no and (_FLAG_NAME.search(col.name) or _FLAG_NAME.search(label)
                                                    or len(parsed.values) == 2)):
        return "flag"
    if parsed.values and _legend_fits(parsed, profile):
        return "category"
    if col.type in ("date", "datetime", "time") or parsed.format:
        return "datetime"
    if _ID_NAME.search(col.name) or (_ID_LABEL.search(label) and not _CATEGORY_NAME.search(label)):
        return "identifier"
    if _FLAG_NAME.search(col.name) and profile is not None and profile.distinct_count <= 2:
        return "flag"
    if _YEAR_NAME.search(col.name) or re.search(r"(年份|年度)$", label):
        return "datetime"
    if col.type in NUMERIC:
        if _CATEGORY_NAME.search(col.name) or _CATEGORY_NAME.search(label) or (
                parsed.range and _LEVEL_LABEL.search(label)):
            return "category"
        if parsed.range and parsed.range[0].isalpha():
            return "category"
        return "category" if _small_codes(profile) else "measure"
    if col.type == "text":
        if profile is not None and profile.distinct and all(isinstance(v, str) and _ISO_DATE.match(v)
                                                             for v in profile.distinct) and _DATE_NAME.search(col.name):
            return "datetime"
        if parsed.range or _CATEGORY_NAME.search(col.name) or _CATEGORY_NAME.search(label):
            return "category"
        if profile is not None and profile.rows >= 10 and profile.distinct_count <= max(3, profile.rows // 5):
            return "category"
        return "text"
    return "text"


def column_semantics(table: TableInfo, col: ColumnInfo, key: bool, profile: Profile | None) -> ColumnSemantics:
    parsed = parse_comment(col.comment)
    role = classify(col, key, parsed, profile)
    values = parsed.values if role in ("category", "flag") and _legend_fits(parsed, profile) else ()
    return ColumnSemantics(table=table.name, column=col.name, role=role, label=parsed.label, values=values,
                           unit=parsed.unit, range=parsed.range, format=parsed.format,
                           enumerated=parsed.enumerated and bool(values))
