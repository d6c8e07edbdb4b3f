"""Layer 1, the gate: is this string exactly one query that only reads what it may read?

In order, each step cheap and linear, so hostile input never reaches the expensive ones:
1. length cap (limits), 2. one sqlglot tokenization, 3. the engine's own lexer must agree with it
(lexer), 4. nesting / set-operation / list caps on the tokens (limits), 5. the parse, with
RecursionError and MemoryError caught, 6. exactly one SELECT/WITH/VALUES statement, 7. every node
is allowed syntax and every function call an allowed name (allowlist). Table sources are judged
against the configured schema by `sources.SourcePolicy`, which needs the database's table list.

One strict contract: the tree is sqlglot's parse of the very text the engine runs, or nothing.
The hardness module's lenient reading (statement keywords such as spider-de's `alter` re-read as
column names) labels queries; it never decides what may run, since its tree comes from altered
text the engine never sees. A column named like a keyword must be quoted to pass the gate.

`parse_query` gives the caller a tree of its own; an executor keeps its recent verdicts and
trees (`KnownVerdicts`) and shares them read-only (`ReadOnlyExecutor.checked`).

>>> parse_query("SELECT 1; DELETE FROM t", "sqlite")[1].kind
'rejected'
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType

from nl2sql_pipeline.core.execution.allowlist import SYNTAX, UNNAMED_FUNCS, functions_for, linear_calls
from nl2sql_pipeline.core.execution.lexer import lexing_problem
from nl2sql_pipeline.core.execution.limits import DEFAULT_LIMITS, QueryLimits, text_problem, token_problem

QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)
_FIRST_WORDS = {"SELECT", "WITH", "VALUES", "(", "TABLE"}
_WRITES = tuple(
    getattr(exp, n) for n in ("Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Command", "Copy",
                              "Transaction", "Commit", "Rollback", "Set", "Pragma", "Use", "Attach", "Detach",
                              "TruncateTable", "Grant", "Revoke", "LoadData", "Kill", "Declare", "Execute")
    if hasattr(exp, n)
)


class QueryCheck(BaseModel):
    """Layer 1's verdict on a query string: None kind means it may run."""

    kind: Literal["rejected", "syntax"] | None = None
    reason: str | None = None
    # SQLite only: every call costs time linear in its arguments, so the engine's own
    # interrupt checks hold the deadline (allowlist.linear_calls).
    linear_calls: bool = False


def _rejected(reason: str) -> QueryCheck:
    return QueryCheck(kind="rejected", reason=reason)


_PARSERS = threading.local()


def _tools(dialect: str) -> tuple:
    """This thread's tokenizer and parser for the dialect, kept between calls (building them
    each time was a quarter of the gate's cost)."""
    cached = getattr(_PARSERS, "by_dialect", None)
    if cached is None:
        cached = _PARSERS.by_dialect = {}
    if dialect not in cached:
        d = Dialect.get_or_raise(dialect)
        cached[dialect] = (d.tokenizer(), d.parser())
    return cached[dialect]


def _statements(text: str, tokens: list[Token], dialect: str) -> list[exp.Expression]:
    parser = _tools(dialect)[1]
    return [s for s in parser.parse(tokens, text) if s is not None and not isinstance(s, exp.Semicolon)]


def tokenize(text: str, dialect: str) -> list[Token]:
    """sqlglot's tokens of `text` (this thread's tokenizer); raises sqlglot's TokenError."""
    return _tools(dialect)[0].tokenize(text)


def parse_tokens(text: str, tokens: list[Token], dialect: str) -> list[exp.Expression]:
    """sqlglot's statements of an already tokenized text (this thread's parser); raises ParseError.
    Check the tokens against the limits first (`limits.token_problem`)."""
    return _statements(text, tokens, dialect)


def parse_query(sql: str, dialect: str, limits: QueryLimits = DEFAULT_LIMITS) -> tuple[exp.Expression | None, QueryCheck]:
    """Parse `sql` and decide whether it is exactly one side-effect-free query. Never raises.

    The tree is the caller's own (it may change it)."""
    try:
        return _parse_query(sql, dialect, limits)
    except (RecursionError, MemoryError) as err:
        return None, _rejected(f"the query is too deeply nested or too large to check safely ({type(err).__name__})")
    except Exception as err:  # a bug in a parser must not take a run down: refuse instead
        return None, _rejected(f"the gate could not read the query ({type(err).__name__})")


def _parse_query(sql: str, dialect: str, limits: QueryLimits) -> tuple[exp.Expression | None, QueryCheck]:
    problem = text_problem(sql, limits)
    if problem:
        return None, _rejected(problem)
    text = sql.strip().rstrip(";").strip()
    if not text:
        return None, QueryCheck(kind="syntax", reason="the query is empty")
    try:
        tokens = _tools(dialect)[0].tokenize(text)
    except (TokenError, ValueError) as err:
        problem = lexing_problem(text, dialect, [])
        if problem and not problem.startswith("the engine reads code"):
            return None, _rejected(problem)
        return None, QueryCheck(kind="syntax", reason=f"does not tokenize as {dialect}: {short(err)}")
    problem = lexing_problem(text, dialect, tokens)
    if problem:
        return None, _rejected(problem)
    problem = token_problem(tokens, limits)
    if problem:
        return None, _rejected(problem)
    first = tokens[0].text.upper() if tokens else ""
    try:
        statements = _statements(text, tokens, dialect)
    except (ParseError, TokenError, ValueError) as err:
        if first not in _FIRST_WORDS:
            return None, _rejected(f"only queries (SELECT / WITH) may run, not {first}")
        if any(t.text.upper() in ("OUTFILE", "DUMPFILE") for t in tokens):
            return None, _rejected("SELECT ... INTO OUTFILE/DUMPFILE writes files")
        return None, QueryCheck(kind="syntax", reason=f"does not parse as {dialect}: {short(err)}{_keyword_hint(tokens)}")
    if len(statements) != 1:
        kinds = ", ".join(_first_word(s) for s in statements)
        return None, _rejected(f"exactly one statement may run; got {len(statements)} ({kinds})")
    tree = statements[0]
    body = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if not isinstance(body, QUERY_ROOTS):
        return None, _rejected(f"only queries (SELECT / WITH) may run, not {first}")
    problem = disallowed(tree, text, dialect) or called_names_problem(tokens, tree, dialect)
    if problem:
        return None, _rejected(problem)
    return tree, QueryCheck(linear_calls=dialect == "sqlite" and linear_calls(tokens, _GRAMMAR))


# Statement keywords that data sets use as column names (spider-de's `alter`).
_STATEMENT_WORDS = frozenset(
    getattr(TokenType, n) for n in ("ALTER", "CREATE", "DELETE", "INSERT", "UPDATE", "DROP", "MERGE", "COMMAND",
                                    "USE", "SET", "REPLACE") if hasattr(TokenType, n)
)


def _keyword_hint(tokens: list[Token]) -> str:
    words = [t.text for t in tokens[1:] if t.token_type in _STATEMENT_WORDS]
    return f" (a name spelled like the keyword {words[0]} must be quoted)" if words else ""


def _first_word(statement: exp.Expression) -> str:
    return statement.key.upper()


_ALLOWED_FUNCS: dict[str, frozenset[str]] = {}


def disallowed(tree: exp.Expression, text: str, dialect: str) -> str | None:
    """Why a parsed query uses something outside the allowlist (syntax or function), or None.

    One walk over the tree: this runs on every query.
    """
    names = _ALLOWED_FUNCS.get(dialect)
    if names is None:
        names = _ALLOWED_FUNCS[dialect] = functions_for(dialect)
    for node in tree.walk():
        cls = type(node)
        if isinstance(node, exp.Func):
            name = _called_name(node, text)
            if name is None:
                if cls in SYNTAX or cls in UNNAMED_FUNCS:
                    continue
                return f"{node.sql_name()} is not allowed here (not in the function allowlist)"
            if isinstance(node.parent, exp.Dot) and node.parent.expression is node:
                return f"schema-qualified function calls are not allowed ({node.parent.sql(dialect)[:80]})"
            if name not in names:
                return f"function {name}() is not allowed (not in the {dialect} function allowlist)"
            continue
        if cls in SYNTAX:
            continue
        if isinstance(node, exp.Into):
            return "the query contains SELECT ... INTO, which may change data"
        if isinstance(node, exp.Lock):
            return "the query contains FOR UPDATE/SHARE locking, which may change data"
        if isinstance(node, _WRITES):
            return f"the query contains an embedded {node.key.upper()}, which may change data"
        return f"{node.key.upper()} expressions are not allowed in an untrusted query"
    return None


def called_names_problem(tokens: list[Token], tree: exp.Expression, dialect: str) -> str | None:
    """Every name written before `(` is a function call to the engine unless it is a keyword of
    the grammar or a table/CTE alias with a column list: check each against the allowlist on the
    tokens themselves, so a call sqlglot models as something else is judged by its name too."""
    names = _ALLOWED_FUNCS.get(dialect) or functions_for(dialect)
    known = _known_functions(dialect)
    aliases: set[int] | None = None
    for i in [i for i, t in enumerate(tokens) if t.token_type == TokenType.L_PAREN and i]:
        token = tokens[i - 1]
        if i > 1 and tokens[i - 2].text.upper() == "WITHIN":
            continue
        name = token.text.lower()
        if token.token_type not in (TokenType.VAR, TokenType.IDENTIFIER) and (name.upper() not in known or name in _GRAMMAR):
            continue  # IN (, VALUES (, OVER (, EXISTS (, AS ( ...
        if name in names:
            continue
        if aliases is None:  # only for a name outside the allowlist: one walk over the tree
            aliases = {ident.meta.get("start") for ident in tree.find_all(exp.Identifier)
                       if isinstance(ident.parent, exp.TableAlias)}
        if token.start not in aliases:
            return f"function {name}() is not allowed (not in the {dialect} function allowlist)"
    return None


_KNOWN: dict[str, frozenset[str]] = {}
# Keywords that take a parenthesis as grammar, not as a call (when written unquoted).
_GRAMMAR = frozenset(
    "exists in values any all some row array over filter using on as not and or when then else lateral "
    "rollup cube grouping sets select from where having by limit offset interval distinct with union "
    "except intersect join is like between case end tuple struct map".split()
)


def _known_functions(dialect: str) -> frozenset[str]:
    """Names sqlglot's parser treats as function calls in this dialect (keywords included)."""
    known = _KNOWN.get(dialect)
    if known is None:
        parser = Dialect.get_or_raise(dialect).parser_class
        known = _KNOWN[dialect] = frozenset(parser.FUNCTIONS) | frozenset(parser.FUNCTION_PARSERS)
    return known


def _called_name(node: exp.Func, text: str) -> str | None:
    """The function name as written (what the engine resolves), lower-cased and unquoted; None
    for a node sqlglot built from syntax without a name (`::`, CASE, AND, CURRENT_DATE)."""
    meta = node.meta
    start, end = meta.get("start"), meta.get("end")
    if isinstance(node, exp.Anonymous) and (start is None or end is None):
        return node.name.lower()
    if start is None or end is None or end < start or end >= len(text):
        return None
    written = text[start : end + 1]
    if written[:1] in "\"`[" and len(written) > 1:
        written = written[1:-1]
    return written.lower()


def short(err: Exception) -> str:
    text = str(err).replace("\x1b[4m", "").replace("\x1b[0m", "")
    return " ".join(text.split())[:300]


def quick_parse(sql: str, dialect: str) -> list[exp.Expression] | None:
    """sqlglot.parse within the gate's limits; None when the text is over them or does not parse
    (for callers that only ask "is this SQL?", such as the evaluation's syntax flag)."""
    if text_problem(sql) is not None:
        return None
    try:
        tokens = _tools(dialect)[0].tokenize(sql)
        if token_problem(tokens) is not None:
            return None
        return [s for s in _tools(dialect)[1].parse(tokens, sql) if s is not None]
    except (SqlglotError, ValueError, RecursionError, MemoryError):
        return None


class KnownVerdicts:
    """The gate's verdicts on recent strings, for one executor (its dialect and limits fixed):
    synthesis, validation and their tie checks run the same SQL several times, and the verdict
    depends on the string alone. Thread-safe; the oldest go first past `kept`."""

    def __init__(self, kept: int = 4096) -> None:
        self.kept = kept
        self._known: OrderedDict[str, tuple[Any, QueryCheck]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sql: str, check: Callable[[str], tuple[Any, QueryCheck]]) -> tuple[Any, QueryCheck]:
        with self._lock:
            if (known := self._known.get(sql)) is not None:
                return known
        known = check(sql)
        with self._lock:
            self._known[sql] = known
            if len(self._known) > self.kept:
                self._known.popitem(last=False)
        return known
