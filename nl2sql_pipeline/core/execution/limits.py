"""Parser-safe limits, checked before sqlglot's parser sees the text.

sqlglot's parser (compiled with mypyc in `sqlglotc`) recurses once per nesting level: 500
parentheses raise RecursionError, a few thousand crash the process. So the text is measured by
one linear pass over its tokens first: length, nesting depth (parentheses and brackets, CASE,
chains of prefix operators NOT / - / + / ~ / !, and postfix `::` casts and `[...]` subscripts), set-operation branches
and items in one parenthesised list (IN lists, VALUES rows). Anything beyond the configured
limits is a rejection that names the limit; everything within them was measured to parse and
be walked safely (`nl2sql_pipeline_tests/core/validation/test_parser_stress.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field
from sqlglot.tokens import Token, TokenType


class QueryLimits(BaseModel):
    """Caps on one untrusted query; defaults hold every real text-to-SQL answer we have seen."""

    max_chars: int = Field(20_000, ge=100)
    max_depth: int = Field(64, ge=4, le=150)  # sqlglot recursion fails somewhere past 200
    max_set_operations: int = Field(100, ge=1)
    max_list_items: int = Field(1_000, ge=10)
    max_result_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # all cells of one result
    max_cell_bytes: int = Field(4 * 1024 * 1024, ge=256)  # one value


DEFAULT_LIMITS = QueryLimits()

_OPEN = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSE = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})
_PREFIX = frozenset(
    getattr(TokenType, n) for n in ("NOT", "DASH", "PLUS", "TILDA", "EXCLAMATION", "PRIOR") if hasattr(TokenType, n)
)
_SET_OPS = frozenset(getattr(TokenType, n) for n in ("UNION", "INTERSECT", "EXCEPT") if hasattr(TokenType, n))
_CAST = frozenset(getattr(TokenType, n) for n in ("DCOLON", "COLON") if hasattr(TokenType, n))


def text_problem(sql: str, limits: QueryLimits = DEFAULT_LIMITS) -> str | None:
    """The length check, before anything else reads the text."""
    if len(sql) > limits.max_chars:
        return (f"the query is {len(sql):,} characters long; the limit is {limits.max_chars:,} "
                "(QueryLimits.max_chars)")
    return None


def token_problem(tokens: Sequence[Token], limits: QueryLimits = DEFAULT_LIMITS) -> str | None:
    """Nesting depth, set operations and list sizes of a token stream, in one pass."""
    # Each token raises the depth by at most one, and a list item or a set operation needs a
    # token of its own: a stream no longer than every cap cannot pass one (most real queries).
    n = len(tokens)
    if n <= limits.max_depth and n <= limits.max_set_operations and n < limits.max_list_items:
        return None
    return scan_tokens(tokens, limits)


def scan_tokens(tokens: Sequence[Token], limits: QueryLimits) -> str | None:
    """`token_problem`'s pass itself, over every token."""
    stack: list[tuple[int, int, int]] = []  # per open bracket: (prefix run before it, items, postfix ops)
    open_prefix = 0  # prefix operators pending in enclosing levels
    run = 0  # consecutive prefix operators at this point
    casts = 0  # `::` casts since the last separator at this level
    cases = 0
    items = 0
    set_ops = 0
    for token in tokens:
        kind = token.token_type
        if kind in _PREFIX:
            run += 1
        elif kind in _OPEN:
            stack.append((run, items, casts))
            open_prefix += run
            run = casts = items = 0
        elif kind in _CLOSE:
            run = casts = 0
            if stack:
                popped, items, casts = stack.pop()
                open_prefix -= popped
                # a[1][2]... and x::a::b nest in the tree like prefixes do: count them per level.
                casts += kind == TokenType.R_BRACKET
        else:
            run = 0
            if kind == TokenType.COMMA:
                items += 1
                casts = 0
                if items >= limits.max_list_items:
                    return (f"a list holds more than {limits.max_list_items:,} items (IN list, VALUES or select "
                            "list); the limit is QueryLimits.max_list_items")
            elif kind in _CAST:
                casts += 1
            elif kind == TokenType.CASE:
                cases += 1
            elif kind == TokenType.END and cases:
                cases -= 1
            elif kind in _SET_OPS:
                set_ops += 1
                if set_ops > limits.max_set_operations:
                    return (f"more than {limits.max_set_operations} UNION/INTERSECT/EXCEPT branches; the limit is "
                            "QueryLimits.max_set_operations")
        depth = len(stack) + cases + open_prefix + run + casts
        if depth > limits.max_depth:
            return (f"the query nests deeper than {limits.max_depth} levels (parentheses, subqueries, CASE, "
                    f"NOT/minus chains or casts) near offset {token.start}; the limit is QueryLimits.max_depth")
    return None
