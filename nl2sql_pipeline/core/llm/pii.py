"""Personal data stays home: every prompt is masked before it leaves for the LLM endpoint, and
what comes back is restored locally, so a pair keeps the real literal for execution while the
endpoint only ever sees placeholders.

Placeholders are `PII_<KIND>_<8 hex>`: a keyed hash (HMAC-SHA256 with a key kept under
`$NL2SQL_HOME`, never sent) of the value, so one value always gets the same placeholder (a
re-run's prompts are the same and hit the response cache) and the endpoint cannot reverse it
by hashing guessed phone numbers. `mode: drop` replaces values with `[REDACTED]` instead and
keeps SQL that shows a sensitive value away from the endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

from nl2sql_pipeline.core.cards import TableCards
from nl2sql_pipeline.core.config import DatabaseConfig, PiiConfig, nl2sql_home
from nl2sql_pipeline.core.llm.pii_detect import column_kind, find_values, matches_column
from nl2sql_pipeline.core.samples import Sample

if TYPE_CHECKING:
    from nl2sql_pipeline.core.llm.client import LLMClient

Mode = Literal["mask", "drop", "off"]
PLACEHOLDER = re.compile(r"PII_[A-Z_]+?_[0-9a-f]{8,16}")
REDACTED = "[REDACTED]"
_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In, exp.Between)


@dataclass(frozen=True)
class SensitiveColumn:
    table: str
    column: str
    kind: str
    why: str


def sensitive_columns(cards: TableCards, cfg: PiiConfig) -> list[SensitiveColumn]:
    """The columns whose values never leave: detected by name or comment, plus `extra_columns`,
    minus `allow_columns`."""
    found = []
    for card in cards.cards:
        for col in card.columns:
            if matches_column(cfg.allow_columns, card.table, col.name):
                continue
            if matches_column(cfg.extra_columns, card.table, col.name):
                found.append(SensitiveColumn(card.table, col.name, "value", "listed in pii.extra_columns"))
            elif hit := column_kind(card.table, col.name, col.comment):
                found.append(SensitiveColumn(card.table, col.name, *hit))
    return found


def is_loopback(base_url: str) -> bool:
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_mode(cfg: PiiConfig, base_url: str) -> Mode:
    """`auto` masks for every endpoint that is not on this machine."""
    if cfg.mode != "auto":
        return cfg.mode
    return "off" if is_loopback(base_url) else "mask"


def masking_key(home: Path | None = None) -> bytes:
    """The local HMAC key of the placeholders (created once, readable by its owner only)."""
    path = (home or nl2sql_home()) / "pii.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _bounded(value: str) -> str:
    """A regex for `value` that does not match inside a longer word or number."""
    body = re.escape(value)
    head = r"(?<![0-9A-Za-z_])" if re.match(r"[0-9A-Za-z_]", value) else ""
    tail = r"(?![0-9A-Za-z_])" if re.search(r"[0-9A-Za-z_]$", value) else ""
    return head + body + tail


class PiiMasker:
    """One database's masking for one run: what was replaced, and the way back."""

    def __init__(self, mode: Mode, columns: list[SensitiveColumn], dialect: str, key: bytes) -> None:
        self.mode, self.columns, self.dialect, self._key = mode, columns, dialect, key
        self._by_name: dict[str, SensitiveColumn] = {c.column.lower(): c for c in columns}
        self._by_table_column = {(c.table.lower(), c.column.lower()): c for c in columns}
        # casefolded real value -> (placeholder, origin): prompts quote SQL lower-cased
        self._known: dict[str, tuple[str, str]] = {}
        self._back: dict[str, str] = {}  # placeholder -> real value
        self._sent: dict[str, set[str]] = {}  # origin -> values masked in text that left
        self._regex: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def column(self, table: str, column: str) -> SensitiveColumn | None:
        return self._by_table_column.get((table.lower(), column.lower()))

    def may_show(self, table: str, column: str) -> bool:
        """Whether a column's values may appear at all (drop mode keeps sensitive ones out)."""
        return self.mode != "drop" or self.column(table, column) is None

    def _placeholder(self, value: str, kind: str) -> str:
        if self.mode == "drop":
            return REDACTED
        digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
        for width in (8, 12, 16):  # a collision with another value takes a longer digest
            name = f"PII_{kind.upper()}_{digest[:width]}"
            if self._back.get(name, value) == value:
                return name
        raise RuntimeError("placeholder collision")  # 2**-64: never in practice

    def register(self, table: str, column: str, values: list[str]) -> None:
        """Values of a sensitive column that may appear in prompts (others are ignored)."""
        col = self.column(table, column)
        if col is None:
            return
        with self._lock:
            for value in values:
                value = str(value)
                if len(value.strip()) < 2 or value.casefold() in self._known:
                    continue  # a one-character value would mask that character everywhere
                name = self._placeholder(value, col.kind)
                # the value as SQL quotes it (O''Neil) gets the same placeholder
                for form in {value, value.replace("'", "''")}:
                    self._known.setdefault(form.casefold(), (name, f"{col.table}.{col.column}"))
                self._back.setdefault(name, value)
                self._regex = None

    def register_sql(self, sql: str) -> None:
        """The literals compared with a sensitive column in `sql` (by column name, since aliases
        hide the table), so that they are masked wherever the SQL is quoted."""
        try:
            tree = sqlglot.parse_one(sql, read=self.dialect)
        except Exception:  # unparseable SQL still goes through the value patterns
            return
        for literal in tree.find_all(exp.Literal):
            pred = literal.find_ancestor(*_PREDICATES)
            if pred is None:
                continue
            for column in pred.find_all(exp.Column):
                col = self._by_name.get(column.name.lower())
                if col is not None:
                    value = literal.this.strip("%") if isinstance(pred, exp.Like | exp.ILike) else literal.this
                    self.register(col.table, col.column, [value])
                    break

    def mask(self, text: str) -> str:
        """`text` with every registered value and every value matching a pattern replaced."""
        if self.mode == "off" or not text:
            return text
        with self._lock:
            if self._regex is None and self._known:
                ordered = sorted(self._known, key=len, reverse=True)
                self._regex = re.compile("|".join(_bounded(v) for v in ordered), re.IGNORECASE)
            regex, known = self._regex, self._known

            def known_value(m: re.Match[str]) -> str:
                name, origin = known[m.group().casefold()]
                self._sent.setdefault(origin, set()).add(m.group())
                return name

            text = regex.sub(known_value, text) if regex is not None else text
            out, pos = [], 0
            for start, end, kind in find_values(text):
                value = text[start:end]
                name = self._placeholder(value, kind)
                self._back.setdefault(name, value)
                self._sent.setdefault(f"pattern:{kind}", set()).add(value)
                out += [text[pos:start], name]
                pos = end
            return "".join(out) + text[pos:]

    def mask_content(self, content: Any) -> Any:
        """A message's content: text, or a list of parts whose text is masked (an image part
        would carry no database values)."""
        if isinstance(content, str):
            return self.mask(content)
        if isinstance(content, list):
            return [{**p, "text": self.mask(p["text"])} if isinstance(p, dict) and isinstance(p.get("text"), str) else p
                    for p in content]
        return content

    def unmask(self, text: str) -> str:
        return PLACEHOLDER.sub(lambda m: self._back.get(m.group(), m.group()), text) if self.mode == "mask" else text

    def unmask_sql(self, sql: str) -> str:
        """`sql` with placeholders restored as literals of the dialect: inside a string literal
        the real value is quoted as the dialect quotes it; a bare placeholder (the model left out
        the quotes) becomes a number or a quoted string."""
        if self.mode != "mask" or not PLACEHOLDER.search(sql):
            return sql
        try:
            tokens = Dialect.get_or_raise(self.dialect).tokenize(sql)
        except Exception:
            return self.unmask(sql)
        out, pos = [], 0
        for tok in tokens:
            if tok.token_type == TokenType.STRING and PLACEHOLDER.search(tok.text):
                literal = exp.Literal.string(self.unmask(tok.text)).sql(dialect=self.dialect)
            elif PLACEHOLDER.fullmatch(tok.text) and tok.text in self._back:
                real = self._back[tok.text]
                number = re.fullmatch(r"-?\d+(?:\.\d+)?", real) and not real.startswith("0")
                literal = real if number else exp.Literal.string(real).sql(dialect=self.dialect)
            else:
                continue
            out += [sql[pos:tok.start], literal]
            pos = tok.end + 1
        return "".join(out) + sql[pos:]

    def restored(self, samples: list[Sample]) -> list[Sample]:
        """Samples parsed from an answer, with the real values back in question and SQL."""
        if self.mode != "mask":
            return samples
        return [s.model_copy(update={"question": self.unmask(s.question), "sql": self.unmask_sql(s.sql)})
                for s in samples]

    def counts(self) -> dict[str, int]:
        """Distinct values masked in what was sent, per `table.column` (or `pattern:<kind>`)."""
        with self._lock:
            return {origin: len(values) for origin, values in sorted(self._sent.items())}

    def note(self) -> str:
        counts = self.counts()
        masked = ", ".join(f"{k} {n}" for k, n in counts.items()) or "none found in prompts"
        columns = ", ".join(f"{c.table}.{c.column} ({c.why})" for c in self.columns) or "none"
        verb = "masked" if self.mode == "mask" else "dropped"
        return f"PII {self.mode}: values {verb} per column: {masked}; sensitive columns: {columns}"


def masker_for(db: DatabaseConfig, cards: TableCards, base_url: str) -> PiiMasker | None:
    """The database's masker for this endpoint, or None when `pii.mode` resolves to off."""
    mode = resolve_mode(db.pii, base_url)
    if mode == "off":
        return None
    return PiiMasker(mode, sensitive_columns(cards, db.pii), cards.dialect, masking_key())


def with_masking(client: LLMClient, db: DatabaseConfig, cards: TableCards) -> LLMClient:
    """The client, masking the database's personal data in every prompt from now on."""
    client.masker = masker_for(db, cards, client.settings.base_url)
    return client
