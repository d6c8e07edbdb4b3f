"""Words for lexical retrieval, the same function for questions, schema names, comments and values.

Identifiers are split where their authors split them (`order_items`, `orderItems`, `OrderID`),
letters of any script count as letters (`sänger_id` -> `sänger`, `id`), Chinese runs are segmented
with jieba and also cut into character bigrams, because jieba segments a run differently in
different contexts ("上海仓" alone is 上海/仓, inside "上海仓有多少" it is 上海/仓有) and a value
or comment must still be found. Words also yield 4-, 5- and 6-letter prefix tokens (`konzerte` and
`konzert` share all three, `abschluss` and `abschnitt` two): a cheap, language-neutral stand-in for stemming.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import jieba

from nl2sql_pipeline.core.chinese import CJK

jieba.setLogLevel(logging.WARNING)  # its dictionary-loading banner is not a warning

_RUNS = re.compile(rf"[{CJK}]+|[^\W\d_{CJK}]+|\d+")
_CJK_RUN = re.compile(rf"[{CJK}]+")
# camelCase / PascalCase / ACRONYMWord boundaries inside a run of letters
_CAMEL = re.compile(r"[A-ZÀ-ÞĀ-Ž]+(?=[A-ZÀ-ÞĀ-Ž][a-zß-ÿ])|[A-ZÀ-ÞĀ-Ž]?[a-zß-ÿā-ž]+|[A-ZÀ-ÞĀ-Ž]+|[^\W\d_]+")
PREFIXES = (4, 5, 6)  # several lengths: the more a pair of words shares, the closer they are


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def _cjk_tokens(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    words = [w for w in jieba.lcut_for_search(run) if len(w) > 1]
    return words + [run[i:i + 2] for i in range(len(run) - 1)]


def _latin_tokens(run: str) -> list[str]:
    parts = _CAMEL.findall(run) if not run.islower() and not run.isupper() else [run]
    out = []
    for part in parts:
        word = part.lower()
        out.append(word)
        out += [word[:n] + "~" for n in PREFIXES if len(word) >= n]
        if len(word) > 3 and word.endswith("s"):
            out.append(word[:-1])  # singers / singer
    return out


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for run in _RUNS.findall(text):
        if _CJK_RUN.fullmatch(run):
            out += _cjk_tokens(run)
        elif run.isdigit():
            out.append(run)
        else:
            out += _latin_tokens(run)
    return tuple(out)


def words(text: str | None) -> list[str]:
    """Retrieval tokens of any text: question, identifier, comment or value.

    >>> words("orderItems of 上海仓")
    ['order', 'orde~', 'order~', 'items', 'item~', 'items~', 'item', 'of', '上海', '上海', '海仓']
    """
    return list(_tokens(text)) if text else []


@lru_cache(maxsize=65536)
def _literal(text: str) -> frozenset[str]:
    out: set[str] = set()
    for run in _RUNS.findall(text):
        if _CJK_RUN.fullmatch(run):
            out.update([run] if len(run) == 1 else (run[i:i + 2] for i in range(len(run) - 1)))
        else:
            out.update(p.lower() for p in (_CAMEL.findall(run) if not run.isdigit() else [run]))
    return frozenset(out)


def literal_words(text: str | None) -> frozenset[str]:
    """Context-free tokens for matching a value inside a question: character bigrams of Chinese
    runs (a jieba segmentation depends on the surrounding text), whole words otherwise.

    >>> sorted(literal_words("顺丰速运")) == sorted(["顺丰", "丰速", "速运"])
    True
    """
    return _literal(text) if text else frozenset()
