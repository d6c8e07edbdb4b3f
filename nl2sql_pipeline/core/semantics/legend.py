"""A column comment parsed into what a business user means by it: a label, a value legend
(code -> meaning), a unit, a range and a format, for Chinese and English comments.

    >>> p = parse_comment("在职状态：1在职 2离职 3停薪留职")
    >>> p.label, p.values
    ('在职状态', (('1', '在职'), ('2', '离职'), ('3', '停薪留职')))
    >>> parse_comment("标准单价（元）").unit
    '元'
    >>> parse_comment("status: 1=active, 2=left").values
    (('1', 'active'), ('2', 'left'))

Parsing is conservative: a comment that is only a description (`联系地址（省/市/区）`,
`ISO 4217 currency code, e.g. USD`) yields a label and nothing else; the classifier also
drops a legend whose codes the column's real values do not use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nl2sql_pipeline.core.chinese import HAN, HAN_CHARACTER, has_chinese

_OPEN, _CLOSE = "(（[【", ")）]】"
UNITS = (
    "万元", "亿元", "千元", "美元", "欧元", "人民币", "元", "平方米", "立方米", "千克", "公斤", "公里", "厘米", "毫米",
    "千米", "小时", "分钟", "工作日", "天", "秒", "吨", "克", "米", "升", "岁", "个", "件", "台", "人", "次", "箱", "%", "％",
    "kg", "km", "cm", "mm", "m2", "sqm", "m", "g", "t", "l", "usd", "cny", "rmb", "eur", "gbp", "jpy", "hkd",
    "days", "day", "hours", "hour", "minutes", "minute", "seconds", "second", "percent", "pcs", "years", "year",
)
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_UNIT_ONLY = re.compile(rf"^(?:单位[:：]?\s*|in\s+|unit[:：]?\s*)?({_UNIT_ALT})$", re.IGNORECASE)
_UNIT_INLINE = re.compile(rf"(?:单位[:：]\s*|\bin\s+|\bunit[:：]\s*)({_UNIT_ALT})\b", re.IGNORECASE)
_FORMAT = re.compile(r"(?:格式[:：为]?\s*|format[:：]?\s*|\bas\s+)([YyMmDdHhSs][YyMmDdHhSs:/\-. ]{2,}[YyMmDdHhSs])")
_BARE_FORMAT = re.compile(r"\b((?:yyyy|YYYY)[-/]?(?:mm|MM)(?:[-/]?(?:dd|DD))?)\b")
_RANGE = re.compile(
    r"(?:取值范围|范围|取值|range|between)?\s*[:：]?\s*(-?\d+(?:\.\d+)?|[A-Z])\s*(?:-|~|～|至|到|to|and|–)\s*(-?\d+(?:\.\d+)?|[A-Z])"
    r"\s*(%|分|级|星)?$", re.IGNORECASE)
# One legend item: a code (digits or 1-3 ASCII letters/underscores) and its meaning.
_CODE = r"[0-9]{1,3}|[A-Za-z][A-Za-z_]{0,2}"
_ITEM = re.compile(rf"^({_CODE})\s*(=|:|：|-|－|\.|、|→)?\s*(.+)$")
_SPLIT_ITEMS = re.compile(r"\s*[,，;；|]\s*|\s+(?=(?:" + _CODE + r")\s*(?:=|:|：|-|－|\.|、|[" + HAN + "]))")
_YES = {"是", "有", "y", "yes", "true", "t", "1"}
_NO = {"否", "无", "n", "no", "false", "f", "0"}
_YN_WORDS = {"是", "否", "有", "无", "yes", "no", "true", "false", "y", "n"}
_BARE_PAIRS = {("y", "n"): ("yes", "no"), ("n", "y"): ("no", "yes"), ("t", "f"): ("true", "false"),
               ("m", "f"): ("male", "female"), ("f", "m"): ("female", "male")}
_ZH_BARE = {"yes": "是", "no": "否", "true": "是", "false": "否", "male": "男", "female": "女"}


@dataclass(frozen=True, slots=True)
class ParsedComment:
    label: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # code -> meaning, in the comment's order
    unit: str | None = None
    range: tuple[str, str] | None = None
    format: str | None = None
    enumerated: bool = False  # values are the stored texts themselves (`电汇/承兑/现金`)

    @property
    def yes_no(self) -> bool:
        """A two-value legend whose meanings are yes and no (`1是 0否`, `Y/N`)."""
        return len(self.values) == 2 and {m.lower() for _, m in self.values} <= _YN_WORDS


def _strip_parens(text: str) -> tuple[str, list[str]]:
    """The text without bracketed parts, and those parts."""
    parts: list[str] = []
    out, depth, current = [], 0, []
    for ch in text:
        if ch in _OPEN:
            depth += 1
            if depth == 1:
                current = []
                continue
        elif ch in _CLOSE and depth:
            depth -= 1
            if depth == 0:
                parts.append("".join(current).strip())
                continue
        (current if depth else out).append(ch)
    return "".join(out).strip(), parts


def _meaning_ok(meaning: str) -> bool:
    meaning = meaning.strip()
    if not meaning or len(meaning) > 24 or re.search(r"[=:：]", meaning):
        return False
    return has_chinese(meaning) or bool(re.fullmatch(r"[A-Za-z][A-Za-z '\-/]{0,23}", meaning))


def _legend_items(text: str) -> tuple[tuple[str, str], ...]:
    """`1在职 2离职`, `0:待支付,1:已支付`, `1=active, 2=left`, `P=pending; A=approved`."""
    pieces = [p for p in _SPLIT_ITEMS.split(text.strip().rstrip("。.")) if p]
    items: list[tuple[str, str]] = []
    for piece in pieces:
        m = _ITEM.match(piece.strip())
        if not m:
            return ()
        code, sep, meaning = m.group(1), m.group(2), m.group(3).strip()
        # English meanings need an explicit separator (`1=active`); Chinese ones may follow the code.
        if not sep and not HAN_CHARACTER.match(meaning):
            return ()
        if not _meaning_ok(meaning):
            return ()
        items.append((code, meaning))
    codes = [c for c, _ in items]
    if len(items) < 2 or len(set(codes)) != len(codes):
        return ()
    if all(c.isdigit() for c in codes) or all(c.isalpha() for c in codes):
        return tuple(items)
    return ()


def _bare_codes(text: str, chinese: bool) -> tuple[tuple[str, str], ...]:
    """`Y/N`, `M/F`, `男/女`, `是/否`: codes that are their own meaning (or a known pair)."""
    parts = [p.strip() for p in re.split(r"\s*/\s*", text.strip()) if p.strip()]
    if len(parts) != 2:
        return ()
    pair = _BARE_PAIRS.get((parts[0].lower(), parts[1].lower()))
    if pair:
        return tuple((c, _ZH_BARE[m] if chinese else m) for c, m in zip(parts, pair))
    if all(HAN_CHARACTER.fullmatch(p) for p in parts) or {p.lower() for p in parts} <= _YN_WORDS:
        return tuple((p, p) for p in parts)
    return ()


def _enumeration(text: str) -> tuple[tuple[str, str], ...]:
    """`电汇/承兑/现金`, `线上、线下`: stored texts listed (2+ items of 2+ characters, or two of one)."""
    parts = [p.strip() for p in re.split(r"\s*[/、|]\s*", text.strip().rstrip("。等")) if p.strip()]
    if len(parts) < 2 or len(set(parts)) != len(parts):
        return ()
    if not all(has_chinese(p) and len(p) <= 8 and not re.search(r"[，,。：:]", p) for p in parts):
        return ()
    if min(len(p) for p in parts) < 2 and len(parts) > 2:
        return ()  # 省/市/区 describes a value's parts, not its choices
    return tuple((p, p) for p in parts)


def _clean_label(text: str) -> str | None:
    text = re.sub(r"^(?:字段|列)[:：]?", "", text.strip()).strip(" ：:，,;；。.-")
    return text or None


def parse_comment(comment: str | None) -> ParsedComment:
    """Label, legend, unit, range and format of one column comment (empty parts when absent)."""
    if not comment or not comment.strip():
        return ParsedComment()
    text = re.sub(r"\s+", " ", comment.strip())
    chinese = has_chinese(text)
    main, brackets = _strip_parens(text)
    unit = fmt = None
    rng: tuple[str, str] | None = None
    values: tuple[tuple[str, str], ...] = ()
    enumerated = False
    tails: list[str] = []
    for part in brackets:  # `（元）`, `(0:待支付,1:已支付)`, `(M/F)`, `（格式YYYY-MM）`
        if m := _UNIT_ONLY.match(part):
            unit = m.group(1)
        elif not values and (got := _legend_items(part) or _bare_codes(part, chinese)):
            values = got
        elif not values and (got := _enumeration(part)) and len(got) <= 6:
            values, enumerated = got, True
        else:
            tails.append(part)
    head, _, rest = _split_head(main)
    pieces = [p for p in re.split(r"[，,;；]\s*(?=[^0-9A-Za-z])|[，,;；]\s*(?=(?:格式|format|单位|取值|范围|range))", rest) if p] if rest else []
    if rest and not values and (got := _legend_items(rest) or _bare_codes(rest, chinese)):
        values, pieces = got, []
    for piece in pieces + tails:
        piece = piece.strip()
        if m := _FORMAT.search(piece) or _BARE_FORMAT.search(piece):
            fmt = m.group(1)
        elif m := _UNIT_ONLY.match(piece) or _UNIT_INLINE.search(piece):
            unit = m.group(1)
        elif m := _RANGE.search(piece):
            rng = (m.group(1), m.group(2))
            unit = unit or (m.group(3) if m.group(3) == "%" else None)
        elif not values and (got := _legend_items(piece) or _bare_codes(piece, chinese)):
            values = got
        elif not values and (got := _enumeration(piece)):
            values, enumerated = got, True
    label = head
    if label and (m := re.search(r"\s*(?:[（(]?\s*)?([A-Z0-9](?:\.\d+)?)\s*(?:-|~|～|至|到)\s*([A-Z0-9]+(?:\.\d+)?)\s*$", label)):
        if m.start() > 0:  # `信用等级A-E`, `职级1-10`: a range glued to the label
            rng, label = (m.group(1), m.group(2)), label[: m.start()]
    if label and (m := _FORMAT.search(label) or _BARE_FORMAT.search(label)):
        fmt, label = fmt or m.group(1), label[: m.start()]
    if label and (m := _UNIT_INLINE.search(label)):
        unit, label = unit or m.group(1), label[: m.start()]
    return ParsedComment(label=_clean_label(label or ""), values=values, unit=unit, range=rng, format=fmt,
                         enumerated=enumerated)


def _split_head(text: str) -> tuple[str, str, str]:
    """(label, separator, rest): the label ends at the first colon or comma."""
    m = re.search(r"[:：，,;；]", text)
    if not m:
        # `在职状态 1在职 2离职`: a legend after a space
        m2 = re.search(rf"\s(?=(?:{_CODE})\s*(?:=|:|：|-|[{HAN}]))", text)
        if m2 and _legend_items(text[m2.end():]):
            return text[: m2.start()], " ", text[m2.end():]
        m3 = re.search(r"\s(?=\S+/\S+$)", text)  # `gender M/F`
        if m3 and _bare_codes(text[m3.end():], has_chinese(text)):
            return text[: m3.start()], " ", text[m3.end():]
        return text, "", ""
    return text[: m.start()], m.group(0), text[m.end():]


def describe(values: tuple[tuple[str, str], ...], unit: str | None, rng: tuple[str, str] | None,
             fmt: str | None) -> list[str]:
    """Compact facts for cards and prompts: `1=在职, 2=离职`, `unit 元`, `range 0-1`, `format YYYY-MM`."""
    facts = []
    if values:
        facts.append(", ".join(f"{c}={m}" if c != m else c for c, m in values))
    if unit:
        facts.append(f"unit {unit}")
    if rng:
        facts.append(f"range {rng[0]}-{rng[1]}")
    if fmt:
        facts.append(f"format {fmt}")
    return facts


def yes_code(parsed: ParsedComment) -> str | None:
    """The code meaning "yes" in a yes/no legend."""
    return next((c for c, m in parsed.values if m.lower() in _YES), None)


def table_label(comment: str | None) -> str | None:
    """A table's business name from its comment: `操作日志表（无外键）` -> `操作日志`,
    `员工信息表：记录在职与离职员工` -> `员工`."""
    if not comment or not comment.strip():
        return None
    main, _ = _strip_parens(comment.strip())
    main = re.split(r"[:：，,;；。.]", main, maxsplit=1)[0].strip()
    if has_chinese(main):
        main = re.sub(r"(?:基本)?(?:信息|数据|明细信息|档案|记录)?表$", "", main) or main
        main = re.sub(r"^(?:存储|记录|保存)", "", main) or main
    else:
        main = re.sub(r"\s+(?:table|records?)$", "", main, flags=re.IGNORECASE)
    return main.strip() or None
