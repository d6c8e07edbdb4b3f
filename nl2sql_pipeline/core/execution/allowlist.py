"""What a query may use, per engine: an allowlist, because a blocklist of functions is never
complete (PostgreSQL alone has hundreds of built-ins that read files, run SQL strings, change
server state or reach other servers, and extensions add more).

- FUNCTIONS: the names a text-to-SQL answer needs (SQL-standard scalar, aggregate and window
  functions, date/time, string, math, JSON, and the table-valued ones), per engine, compared
  with the name as written in the query (the name the engine resolves).
- SYNTAX: the sqlglot expression classes that are plain query syntax (clauses, operators,
  literals); any other class (PostgreSQL `OPERATOR(...)`, `COLLATE`, sequences, ...) is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

_COMMON = """
abs ceil ceiling floor round sign sqrt power pow exp ln log log10 mod pi degrees radians
sin cos tan asin acos atan atan2 cot
coalesce nullif greatest least
lower upper length char_length character_length trim ltrim rtrim replace substr substring
concat concat_ws left right lpad rpad reverse repeat instr position
count sum avg min max
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
cast extract
current_date current_time current_timestamp
"""

_SQLITE = """
ifnull iif char glob hex unhex like likely unlikely likelihood printf format quote random
soundex typeof unicode zeroblob octet_length trunc log2 group_concat string_agg total median
date time datetime julianday unixepoch strftime timediff
json json_extract json_array json_object json_type json_valid json_array_length json_quote
json_group_array json_group_object json_each json_tree json_patch json_remove json_set json_insert json_replace
"""

_POSTGRES = """
trunc cbrt div width_bucket gcd lcm scale random
initcap strpos btrim translate split_part md5 ascii chr starts_with octet_length bit_length format
regexp_replace regexp_match regexp_matches regexp_split_to_array regexp_like regexp_count regexp_substr
to_char to_number to_date to_timestamp
now date_trunc date_part age make_date make_time make_timestamp make_interval justify_days justify_hours
justify_interval isfinite date_bin localtime localtimestamp
array_agg string_agg bool_and bool_or every stddev stddev_pop stddev_samp variance var_pop var_samp
corr covar_pop covar_samp regr_slope regr_intercept regr_r2 regr_count percentile_cont percentile_disc mode
bit_and bit_or json_agg jsonb_agg json_object_agg jsonb_object_agg
array_length cardinality unnest array_to_string string_to_array array_position array_positions array_upper
array_lower array_cat array_append array_prepend array generate_series generate_subscripts
json_build_object jsonb_build_object json_build_array jsonb_build_array to_json to_jsonb row_to_json
json_extract_path json_extract_path_text jsonb_extract_path jsonb_extract_path_text json_array_length
jsonb_array_length json_typeof jsonb_typeof json_each jsonb_each json_each_text jsonb_each_text
json_array_elements jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_object_keys
jsonb_object_keys
"""

_MYSQL = """
truncate log2 rand ifnull if isnull
lcase ucase mid substring_index locate space strcmp field find_in_set elt format insert ascii char hex unhex
md5 sha1 sha2 soundex group_concat regexp_replace regexp_substr regexp_instr regexp_like bit_length
now curdate curtime sysdate utc_date utc_time utc_timestamp localtime localtimestamp
date time year month day dayofmonth dayofweek dayofyear dayname monthname week weekday weekofyear yearweek
quarter hour minute second microsecond last_day date_add date_sub adddate subdate addtime subtime datediff
timediff timestampdiff timestampadd date_format time_format str_to_date from_unixtime unix_timestamp
makedate maketime to_days from_days to_seconds period_add period_diff time_to_sec sec_to_time convert
std stddev stddev_pop stddev_samp variance var_pop var_samp bit_and bit_or bit_xor
json_arrayagg json_objectagg json_extract json_unquote json_object json_array json_length json_contains
json_keys json_value json_type json_valid json_table json_search json_depth
"""


def _names(*blocks: str) -> frozenset[str]:
    return frozenset(word for block in blocks for word in block.split())


FUNCTIONS: dict[str, frozenset[str]] = {
    "sqlite": _names(_COMMON, _SQLITE),
    "postgres": _names(_COMMON, _POSTGRES),
    "mysql": _names(_COMMON, _MYSQL),
}


def functions_for(dialect: str) -> frozenset[str]:
    """The allowed names of a sqlglot dialect's engine; other dialects get the common core."""
    from nl2sql_pipeline.core.execution.lexer import ENGINE_OF_DIALECT

    return FUNCTIONS.get(ENGINE_OF_DIALECT.get(dialect, ""), _names(_COMMON))


def _classes(names: str) -> frozenset[type]:
    return frozenset(getattr(exp, n) for n in names.split() if hasattr(exp, n))


# Plain query syntax. Function-call nodes (exp.Func with a name in the text) are judged by
# FUNCTIONS instead; these Func subclasses are operators or keywords written without a name.
SYNTAX: frozenset[type] = _classes(
    """
    Select From Join Where Group Having Order Ordered Limit Offset Fetch Qualify Distinct With CTE
    Subquery Union Intersect Except Values Tuple Table TableAlias Alias Column Identifier Star Dot
    Literal Boolean Null Placeholder Var Paren DataType DataTypeParam Interval IntervalSpan
    Window WindowSpec Filter WithinGroup PartitionedByProperty Lateral Unnest
    And Or Not Xor Neg BitwiseNot Add Sub Mul Div IntDiv Mod Pow DPipe BitwiseAnd BitwiseOr BitwiseXor
    BitwiseLeftShift BitwiseRightShift EQ NEQ GT GTE LT LTE NullSafeEQ NullSafeNEQ Is In Between Like ILike
    Glob SimilarTo RegexpLike RegexpILike Escape Any All Exists Case If Cast TryCast Bracket Array Struct
    CurrentDate CurrentTime CurrentTimestamp CurrentDatetime Extract Coalesce Nullif Collate
    JSONExtract JSONExtractScalar JSONBExtract JSONBExtractScalar JSONPath JSONPathKey JSONPathRoot
    JSONPathSubscript JSONPathWildcard JSONBContains Overlaps Cube Rollup GroupingSets Columns
    Semicolon Slice Kwarg ArrayContains ArrayContainsAll ArrayOverlaps TimeUnit WeekStart
    """
)

# Function-like nodes sqlglot builds without a name in the text (the `::` cast, `CASE`,
# `a -> 'k'`, `CURRENT_DATE` without parentheses, `x IS NULL`, ...).
# Their names, when written, are checked on the tokens (gate.called_names_problem).
UNNAMED_FUNCS: frozenset[type] = _classes(
    """
    GroupConcat Trim Substring StrPosition Ceil Floor TsOrDsToDate TsOrDsToTimestamp TsOrDsToTime
    RegexpLike If Extract Cast Chr Initcap Overlay JSONObject JSONObjectAgg JSONTable JSONValue StrToTime
    StrToDate TimeToStr UnixToTime TimeStrToTime DateStrToDate Date Anonymous Upper Lower Length Concat
    ArrayAgg Unnest GenerateSeries Explode Posexplode Lead Lag First Last Median Quantile
    """
)


# SQLite's own deadline, the progress handler, runs between VM instructions, never inside one
# function call (`instr` on a 4 MB string ran 11 s past its budget). These are the SQLite
# functions whose one call costs time linear in its arguments, which SQLITE_LIMIT_LENGTH caps: a
# query that calls nothing else, matches no pattern and does not recurse is stopped by the engine
# itself, in time (the longest gap between two handler calls in 2M-row sorts, groupings, joins
# and window functions was 53 ms), so it needs no watchdog thread. Not here, so watched from
# outside: instr, replace, trim (n x m), like/glob/regexp (backtracking), printf, zeroblob,
# median, json, and every name this list does not know.
SQLITE_LINEAR = _names(
    """
    count sum avg min max total group_concat string_agg
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    abs ceil ceiling floor round sign sqrt power pow exp ln log log10 log2 mod pi degrees radians
    sin cos tan asin acos atan atan2 sinh cosh tanh asinh acosh atanh trunc
    coalesce nullif ifnull iif cast typeof quote hex unicode char random likely unlikely likelihood
    lower upper length octet_length substr substring concat concat_ws
    date time datetime julianday unixepoch strftime timediff
    """
)
_PATTERN_OR_RECURSION = frozenset(
    getattr(TokenType, n) for n in ("LIKE", "ILIKE", "GLOB", "RLIKE", "MATCH", "SIMILAR_TO", "RECURSIVE")
    if hasattr(TokenType, n)
)
_NAMED = frozenset({TokenType.VAR, TokenType.IDENTIFIER})


def linear_calls(tokens: Sequence[Token], grammar: frozenset[str]) -> bool:
    """Whether a SQLite query (its tokens) calls only `SQLITE_LINEAR` functions, matches no
    pattern and does not recurse. A name before `(` that is not a grammar keyword counts as a
    call, a CTE's column list included, so anything unclear says False."""
    previous = None
    for token in tokens:
        kind = token.token_type
        if kind in _PATTERN_OR_RECURSION:
            return False
        if kind == TokenType.L_PAREN and previous is not None:
            name = previous.text.lower()
            if name not in SQLITE_LINEAR and (previous.token_type in _NAMED or (name.isidentifier() and name not in grammar)):
                return False
        previous = token
    return True
