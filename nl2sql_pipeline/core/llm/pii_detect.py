"""What counts as personal data: sensitive columns by name and comment (zh and en), and sensitive
values by pattern (CN mobile numbers, CN resident ID numbers with their checksum, emails, bank
card numbers with a valid Luhn digit, IPv4/IPv6 addresses).

Patterns err on the side of masking: a 16-digit order number that happens to pass Luhn is
masked too, which costs the prompt a literal and never leaks one.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Column names are split into lower-case words (snake_case, camelCase, digits); a kind matches
# when one of its word sets is contained in the column's words.
_NAME_WORDS: dict[str, list[set[str]]] = {
    "phone": [{"phone"}, {"mobile"}, {"tel"}, {"telephone"}, {"cellphone"}, {"fax"}, {"msisdn"}],
    "email": [{"email"}, {"mail"}, {"e", "mail"}],
    "id_card": [{"idcard"}, {"id", "card"}, {"id", "no"}, {"id", "number"}, {"idno"}, {"identity"}, {"ssn"},
                {"national", "id"}, {"sfz"}, {"sfzh"}],
    "passport": [{"passport"}],
    "bank_card": [{"bank", "card"}, {"bank", "account"}, {"card", "no"}, {"card", "number"}, {"card", "num"},
                  {"cardno"}, {"iban"}, {"account", "no"}, {"account", "number"}],
    "address": [{"address"}, {"addr"}, {"street"}],
    "person": [{"first", "name"}, {"last", "name"}, {"full", "name"}, {"real", "name"}, {"given", "name"},
               {"family", "name"}, {"surname"}, {"contact"}, {"contact", "name"}, {"person", "name"},
               {"customer", "name"}, {"user", "name"}, {"username"}, {"employee", "name"}, {"patient", "name"},
               {"member", "name"}, {"receiver"}, {"recipient"}, {"consignee"}],
    "secret": [{"password"}, {"passwd"}, {"pwd"}, {"token"}, {"secret"}, {"apikey"}, {"api", "key"}, {"salt"},
               {"credential"}, {"credentials"}],
}
# Comments are matched as substrings (Chinese has no word breaks); English phrases too.
_COMMENT_TERMS: dict[str, tuple[str, ...]] = {
    "phone": ("手机", "电话", "联系方式", "phone", "mobile", "telephone"),
    "email": ("邮箱", "电子邮件", "email", "e-mail"),
    "id_card": ("身份证", "证件号", "id card", "identity card", "id number", "national id"),
    "passport": ("护照", "passport"),
    "bank_card": ("银行卡", "银行账号", "卡号", "bank card", "card number", "bank account"),
    "address": ("地址", "住址", "address"),
    "person": ("姓名", "联系人", "收货人", "收件人", "真实姓名", "full name", "person name", "contact person"),
    "secret": ("密码", "口令", "密钥", "令牌", "password", "secret", "token", "api key"),
}
# A bare `name` column is a person's name in tables that hold people.
_PEOPLE_TABLES = ("customer", "user", "employee", "member", "person", "people", "staff", "contact", "patient",
                  "student", "teacher", "client", "客户", "用户", "员工", "会员", "人员", "联系人", "患者", "学生")


def _words(identifier: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier)
    return {w for w in re.split(r"[^A-Za-z0-9]+|(?<=[A-Za-z])(?=[0-9])", spaced.lower()) if w}


def column_kind(table: str, column: str, comment: str | None) -> tuple[str, str] | None:
    """(kind, why) when a column holds personal data by its name or comment, else None."""
    words = _words(column)
    # contact_id is a key to a contact, not contact data
    is_key = bool(re.search(r"(?:^|[_\-\s])id$", column.lower()) or re.search(r"[a-z](?:Id|ID)$", column))
    for kind, options in _NAME_WORDS.items():
        if any(option <= words for option in options) and (kind in ("id_card", "secret") or not is_key):
            return kind, f"column name {column!r}"
    # Chinese column names (收货地址) have no words to split: they are read like comments.
    for where, text in (("column name", column), ("comment", comment or "")):
        low = text.lower()
        for kind, terms in _COMMENT_TERMS.items():
            hit = next((t for t in terms if t in low), None)
            if hit and (kind in ("id_card", "secret") or not is_key):
                return kind, f"{where} mentions {hit!r}"
    if column.lower() in ("name", "姓名", "名字") and any(p in table.lower() for p in _PEOPLE_TABLES):
        return "person", f"column {column!r} of a table of people"
    return None


def matches_column(patterns: list[str], table: str, column: str) -> bool:
    """`table.column` or `table` patterns (fnmatch, case-insensitive), as `no_sample` uses."""
    t, c = table.lower(), f"{table}.{column}".lower()
    return any(fnmatch.fnmatchcase(t, p.lower()) or fnmatch.fnmatchcase(c, p.lower()) for p in patterns)


# -- values ------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_cn_id(text: str) -> bool:
    """An 18-character CN resident ID number whose last character is its ISO 7064 check digit."""
    if not re.fullmatch(r"\d{17}[\dXx]", text):
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == text[17].upper()


def valid_luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    check: object = None  # a callable on the match's digits, or None

    def ok(self, text: str) -> bool:
        return self.check is None or self.check(text)  # type: ignore[operator]


# Order matters: an ID number (18 digits) is checked before a bank card could claim it.
PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    _Pattern("id_card", re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), valid_cn_id),
    _Pattern("bank_card", re.compile(r"(?<![\d-])\d{4}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?![\d-])|(?<!\d)\d{13,19}(?!\d)"),
             lambda s: 13 <= len(re.sub(r"\D", "", s)) <= 19 and valid_luhn(re.sub(r"\D", "", s))),
    _Pattern("phone", re.compile(r"(?<![\d+])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")),
    _Pattern("ip", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"
                              r"|(?<![0-9A-Za-z:])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![0-9A-Za-z:])"), _valid_ip),
)


def find_values(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of every sensitive value in `text`, left to right, never overlapping."""
    taken: list[tuple[int, int, str]] = []
    for pattern in PATTERNS:
        for m in pattern.regex.finditer(text):
            if pattern.ok(m.group()) and not any(s < m.end() and m.start() < e for s, e, _ in taken):
                taken.append((m.start(), m.end(), pattern.kind))
    return iter(sorted(taken))
