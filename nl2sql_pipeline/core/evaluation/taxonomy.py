"""Why a prediction failed, in a few kinds a user can act on, with examples for the report.

Kinds: no SQL in the output, syntax, unknown table or column, execution error (any other
runtime error, or a result over the row cap), timeout, unsafe (the output writes or defines, or
the executor refused it), wrong result on the database, and wrong result on a neighbour
database only (caught by test-suite accuracy).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel

from nl2sql_pipeline.core.evaluation.runner import ItemVerdict

FAILURE_KINDS = ("no_sql", "syntax", "unknown_table_column", "execution_error", "timeout", "unsafe",
                 "wrong_result", "wrong_on_neighbours")
_UNKNOWN_NAME = re.compile(
    r"no such (?:table|column)|(?:relation|column|table) .* does not exist|unknown column|unknown table|"
    r"table .* doesn't exist|ambiguous column|undefinedtable|undefinedcolumn",
    re.I,
)
EXAMPLES_PER_KIND = 3


class FailureExample(BaseModel):
    index: int
    db_id: str
    pred_sql: str
    reason: str


def failure_kind(v: ItemVerdict) -> str | None:
    """The kind of failure of an item whose gold can judge (None when it matched)."""
    if v.match:
        return None
    error = v.pred_error
    if error == "empty":
        return "no_sql"
    if error == "unsafe" or (error == "rejected" and v.syntax_ok):
        return "unsafe"
    if error in ("syntax", "rejected"):
        return "syntax"
    if error == "timeout":
        return "timeout"
    if error == "runtime":
        return "unknown_table_column" if _UNKNOWN_NAME.search(v.error or "") else "execution_error"
    if error == "truncated":
        return "execution_error"
    return "wrong_on_neighbours" if v.single_db_match else "wrong_result"


def taxonomy(verdicts: Sequence[ItemVerdict]) -> tuple[dict[str, int], dict[str, list[FailureExample]]]:
    """Counts per failure kind (in FAILURE_KINDS order) and the first few examples of each."""
    counts: Counter[str] = Counter()
    examples: dict[str, list[FailureExample]] = {}
    for v in verdicts:
        kind = failure_kind(v)
        if kind is None:
            continue
        counts[kind] += 1
        shown = examples.setdefault(kind, [])
        if len(shown) < EXAMPLES_PER_KIND:
            reason = v.error or ("matches on the database, not on every neighbour" if kind == "wrong_on_neighbours"
                                 else "different rows")
            shown.append(FailureExample(index=v.index, db_id=v.db_id, pred_sql=v.pred_sql[:300], reason=reason[:300]))
    return {k: counts[k] for k in FAILURE_KINDS if counts[k]}, examples
