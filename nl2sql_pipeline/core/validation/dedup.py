"""Duplicates: the same query shape asked the same way, or the same answer to the same question.

Two rules, each comparing only within a small group (so it stays linear in practice):
- same SQL template (literals masked) and either the same question (a literal changed that the
  question does not mention) or the same literals and a near-identical question;
- same result fingerprint (columns + rows) and similar questions: a paraphrased SQL of a question
  already in the set (`count(*)` vs `count(id)`). Empty results never count as the same answer.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from difflib import SequenceMatcher

TEMPLATE_SIMILARITY = 0.9
RESULT_SIMILARITY = 0.8


def normalize_question(text: str) -> str:
    """Case-folded, NFKC, punctuation and spaces removed: `Wie viele?` == `wie viele`."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", "", text)


def similarity(a: str, b: str, at_least: float = 0.0) -> float:
    """difflib's ratio; 0.0 early when the cheap upper bounds already fall below `at_least`."""
    if a == b:
        return 1.0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < at_least or matcher.quick_ratio() < at_least:
        return 0.0
    return matcher.ratio()


def result_fingerprint(columns: int, rows: list[tuple]) -> str:
    """Order-insensitive hash of a result (the row multiset and the column count)."""
    digest = hashlib.sha256(str(columns).encode())
    for line in sorted(repr(tuple(r)) for r in rows):
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()[:16]


def _numbers(question: str) -> list[str]:
    return sorted(re.findall(r"\d+(?:[.,]\d+)?", question))


def find_duplicates(keys: list[tuple[str | None, str | None, str | None, str]]) -> dict[int, tuple[int, str]]:
    """Duplicate index -> (kept index, why), for (template, its literal values, result fingerprint
    or None, question) per pair. The first occurrence is kept, so re-runs drop the same pairs.

    Questions only count as similar when they mention the same numbers: "older than 30" and
    "older than 40" are different questions even if both counts happen to be 3.
    """
    by_template: dict[str, list[int]] = {}
    by_result: dict[str, list[int]] = {}
    questions = [normalize_question(q) for *_, q in keys]
    numbers = [_numbers(q) for *_, q in keys]

    def similar(i: int, j: int, threshold: float) -> bool:
        return numbers[i] == numbers[j] and similarity(questions[i], questions[j], threshold) >= threshold

    duplicates: dict[int, tuple[int, str]] = {}
    for i, (template, sql, fingerprint, _) in enumerate(keys):
        found = None
        for j in by_template.get(template or "", []) if template else []:
            if questions[i] == questions[j] or (sql == keys[j][1] and similar(i, j, TEMPLATE_SIMILARITY)):
                found = (j, "same SQL template and question")
                break
        if found is None and fingerprint is not None:
            found = next(((j, "same result and a similar question") for j in by_result.get(fingerprint, [])
                          if similar(i, j, RESULT_SIMILARITY)), None)
        if found is not None:
            duplicates[i] = found
            continue
        if template is not None:
            by_template.setdefault(template, []).append(i)
        if fingerprint is not None:
            by_result.setdefault(fingerprint, []).append(i)
    return duplicates
