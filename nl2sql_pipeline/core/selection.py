"""Which tables a database entry selects, and a clear error when that is none: a misspelt
`schema`, `include` patterns matching nothing, an empty database. A run that reads no table
would otherwise go on to produce nothing and blame validation."""

from __future__ import annotations

import difflib
import fnmatch

import sqlalchemy as sa

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.errors import ConfigError


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "none"


def _closest(pattern: str, names: list[str]) -> list[str]:
    """Table names like the pattern, its wildcards taken out (fnmatch has no distance)."""
    bare = pattern.replace("*", "").replace("?", "").strip("[]")
    by_case = {n.lower(): n for n in names}
    close = difflib.get_close_matches(bare.lower(), list(by_case), n=5, cutoff=0.5)
    prefix = [n for n in names if bare and n.lower().startswith(bare.lower()[:3])][:5]
    return list(dict.fromkeys([by_case[c] for c in close] + prefix))[:5]


def schema_names(conn: sa.Connection) -> list[str]:
    try:
        return sorted(sa.inspect(conn).get_schema_names())
    except Exception:  # listing schemas is a courtesy of the error message, never its cause
        return []


def missing_schema(db: DatabaseConfig, conn: sa.Connection) -> ConfigError | None:
    """The error for a configured schema the database does not have, else None."""
    if not db.db_schema:
        return None
    schemas = schema_names(conn)
    if not schemas or db.db_schema in schemas:
        return None
    close = difflib.get_close_matches(db.db_schema, schemas, n=3, cutoff=0.5)
    hint = f" (closest: {', '.join(close)})" if close else ""
    return ConfigError(
        f"Database {db.name!r}: schema {db.db_schema!r} does not exist; its schemas are {_listing(schemas)}.",
        f"set `schema` in databases.yaml to one of them{hint}, or remove it to read the default schema.")


def check_selection(db: DatabaseConfig, conn: sa.Connection, all_names: list[str], selected: list[str]) -> list[str]:
    """Warnings for include patterns that matched nothing while others did; raises ConfigError
    when nothing is selected, naming the cause (schema, patterns, empty database)."""
    unmatched = [p for p in db.include if not any(fnmatch.fnmatchcase(t, p) for t in all_names)]
    if selected:
        return [f"warning: include pattern {p!r} matched no table"
                + (f" (closest: {', '.join(c)})" if (c := _closest(p, all_names)) else "") for p in unmatched]
    where = f" in schema {db.db_schema!r}" if db.db_schema else ""
    if (err := missing_schema(db, conn)) is not None:
        raise err
    if not all_names:
        schemas = schema_names(conn)
        return _raise(f"Database {db.name!r} has no tables{where} (schemas: {_listing(schemas)}).",
                      "point the URL at the database that holds your tables, or set `schema` to the schema that does.")
    if unmatched and len(unmatched) == len(db.include):
        close = sorted({c for p in unmatched for c in _closest(p, all_names)})
        return _raise(
            f"Database {db.name!r}: include pattern(s) {', '.join(map(repr, unmatched))} match no table{where}; "
            f"closest table names: {_listing(close or sorted(all_names))}.",
            "correct `include` in databases.yaml (fnmatch patterns such as 'sales_*', case-sensitive).")
    return _raise(
        f"Database {db.name!r}: exclude pattern(s) {', '.join(map(repr, db.exclude))} remove every table that "
        f"include selects{where}.", "narrow `exclude` in databases.yaml.")


def no_readable_table(db: DatabaseConfig, hidden: dict[str, str]) -> ConfigError:
    reasons = "; ".join(sorted(set(hidden.values())))
    grant = "GRANT USAGE on the schema and " if "USAGE" in reasons else ""
    return ConfigError(
        f"Database {db.name!r}: the connecting role may SELECT none of its {len(hidden)} selected table(s) "
        f"({_listing(sorted(hidden))}: {reasons}).", f"{grant}GRANT SELECT on the tables to the role (README 'Configuration').")


def _raise(cause: str, fix: str) -> list[str]:
    raise ConfigError(cause, fix)
