"""Step 2 lists only what the connecting role may SELECT, so no card or prompt shows a table or
column the role cannot read, and the notes say what was hidden and why.

PostgreSQL's catalog shows every table to every role: one query asks `has_table_privilege`,
`has_any_column_privilege` and `has_column_privilege` for the tables step 2 reads. MariaDB and
MySQL already hide tables the user holds no privilege on, but a table granted column by column
is listed while `SHOW CREATE TABLE` (which SQLAlchemy reflects it with) is denied: such tables
are read from `information_schema` instead, with only the granted columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa


@dataclass
class AccessScope:
    hidden_tables: dict[str, str] = field(default_factory=dict)  # table -> why
    hidden_columns: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> column -> why
    # MariaDB/MySQL tables readable through column grants only: the granted columns
    column_scoped: dict[str, set[str]] = field(default_factory=dict)

    def notes(self) -> list[str]:
        out = [f"access: table {t} hidden ({why})" for t, why in sorted(self.hidden_tables.items())]
        out += [f"access: column {t}.{c} hidden ({why})" for t, cols in sorted(self.hidden_columns.items())
                for c, why in sorted(cols.items())]
        out += [f"access: table {t} lists only its {len(cols)} granted column(s) (column-level SELECT grant; "
                "the server does not show the others)" for t, cols in sorted(self.column_scoped.items())]
        return out


_PG_SCOPE = sa.text(
    "select c.relname, has_schema_privilege(n.oid, 'USAGE'), has_table_privilege(c.oid, 'SELECT'), "
    "has_any_column_privilege(c.oid, 'SELECT'), "
    "array(select a.attname from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
    "      and not has_column_privilege(c.oid, a.attnum, 'SELECT') order by a.attnum) "
    "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    "where n.nspname = coalesce(:s, current_schema()) and c.relkind in ('r', 'p', 'v', 'm', 'f') "
    # the common case, a readable table in a usable schema, returns no row
    "and (not has_table_privilege(c.oid, 'SELECT') or not has_schema_privilege(n.oid, 'USAGE'))"
)

# The grantee as information_schema writes it ('user'@'host'), built from CURRENT_USER().
_MY_GRANTEE = "concat('''', substring_index(current_user(), '@', 1), '''@''', substring_index(current_user(), '@', -1), '''')"
_MY_SCOPE = sa.text(
    f"select t.table_name, (exists(select 1 from information_schema.user_privileges u where u.grantee = {_MY_GRANTEE} "
    "and u.privilege_type = 'SELECT') or exists(select 1 from information_schema.schema_privileges s "
    f"where s.grantee = {_MY_GRANTEE} and s.table_schema = t.table_schema and s.privilege_type = 'SELECT') "
    f"or exists(select 1 from information_schema.table_privileges p where p.grantee = {_MY_GRANTEE} "
    "and p.table_schema = t.table_schema and p.table_name = t.table_name and p.privilege_type = 'SELECT')) "
    "from information_schema.tables t where t.table_schema = coalesce(:s, database())"
)
_MY_COLUMNS = sa.text(
    f"select table_name, column_name from information_schema.column_privileges where grantee = {_MY_GRANTEE} "
    "and table_schema = coalesce(:s, database()) and privilege_type = 'SELECT'"
)


def access_scope(conn: sa.Connection, backend: str, schema: str | None, names: list[str]) -> AccessScope:
    """What of `names` the connection's role may not SELECT (one or two catalog queries)."""
    scope = AccessScope()
    wanted = set(names)
    if backend == "postgresql":
        for table, usage, _, any_column, denied in conn.execute(_PG_SCOPE, {"s": schema}):
            if table not in wanted:
                continue
            if not usage:
                scope.hidden_tables[table] = "no USAGE privilege on its schema"
            elif not any_column:
                scope.hidden_tables[table] = "no SELECT privilege on the table or any of its columns"
            elif denied:
                scope.hidden_columns[table] = {c: "no SELECT privilege on the column" for c in denied}
    elif backend in ("mysql", "mariadb"):
        _mysql_scope(conn, schema, names, scope)
    return scope


def _mysql_scope(conn: sa.Connection, schema: str | None, names: list[str], scope: AccessScope) -> None:
    full = {t for t, ok in conn.execute(_MY_SCOPE, {"s": schema}) if ok}
    # Grants through a role are not in the user's information_schema rows: a table not granted
    # to the user directly is asked about (SHOW CREATE TABLE needs a table-level privilege).
    prep = conn.dialect.identifier_preparer
    where = f"{prep.quote_schema(schema)}." if schema else ""
    column_level = []
    for table in names:
        if table in full:
            continue
        try:
            conn.exec_driver_sql(f"SHOW CREATE TABLE {where}{prep.quote(table)}").all()
        except sa.exc.DBAPIError:
            column_level.append(table)
    if not column_level:
        return
    granted: dict[str, set[str]] = {}
    for table, column in conn.execute(_MY_COLUMNS, {"s": schema}):
        granted.setdefault(table, set()).add(column)
    visible: dict[str, set[str]] = {}  # the server lists only columns the user holds a privilege on
    rows = conn.execute(sa.text("select table_name, column_name from information_schema.columns "
                                "where table_schema = coalesce(:s, database()) and table_name in :t")
                        .bindparams(sa.bindparam("t", expanding=True)), {"s": schema, "t": column_level})
    for table, column in rows:
        visible.setdefault(table, set()).add(column)
    for table in column_level:
        columns = granted.get(table) or visible.get(table)
        if columns:
            scope.column_scoped[table] = columns
        else:
            scope.hidden_tables[table] = "no SELECT privilege on the table or any of its columns"


def column_scoped_facts(conn: sa.Connection, schema: str | None, scope: AccessScope) -> dict[str, dict]:
    """The reflection facts of MariaDB/MySQL column-scoped tables from information_schema (their
    `SHOW CREATE TABLE` is denied): granted columns, primary key, foreign keys, comments."""
    tables = sorted(scope.column_scoped)
    facts: dict[str, dict] = {"columns": {}, "pk_constraint": {}, "foreign_keys": {}, "table_comment": {}}
    if not tables:
        return facts
    names = conn.dialect.ischema_names
    rows = conn.execute(sa.text(
        "select table_name, column_name, data_type, is_nullable, column_default, column_comment, column_key "
        "from information_schema.columns where table_schema = coalesce(:s, database()) "
        "and table_name in :t order by table_name, ordinal_position").bindparams(sa.bindparam("t", expanding=True)),
        {"s": schema, "t": tables})
    for table, column, data_type, nullable, default, comment, key in rows:
        if column not in scope.column_scoped[table]:
            continue
        facts["columns"].setdefault((schema, table), []).append({
            "name": column, "type": _sa_type(names.get(str(data_type).lower())), "nullable": nullable == "YES",
            "default": default, "comment": comment or None})
        if key == "PRI":
            facts["pk_constraint"].setdefault((schema, table), {"constrained_columns": []})["constrained_columns"].append(column)
    keys = conn.execute(sa.text(
        "select table_name, constraint_name, column_name, referenced_table_name, referenced_column_name "
        "from information_schema.key_column_usage where table_schema = coalesce(:s, database()) "
        "and table_name in :t and referenced_table_name is not null order by ordinal_position"
    ).bindparams(sa.bindparam("t", expanding=True)), {"s": schema, "t": tables})
    by_name: dict[tuple[str, str], dict] = {}
    for table, name, column, ref_table, ref_column in keys:
        fk = by_name.setdefault((table, name), {"name": name, "constrained_columns": [], "referred_table": ref_table,
                                                "referred_columns": [], "referred_schema": None})
        fk["constrained_columns"].append(column)
        fk["referred_columns"].append(ref_column)
    for (table, _), fk in by_name.items():
        facts["foreign_keys"].setdefault((schema, table), []).append(fk)
    return facts


def _sa_type(cls: Any) -> Any:
    try:
        return cls() if cls is not None else sa.types.NullType()
    except TypeError:  # types that need arguments (ENUM, SET)
        return sa.types.NullType()


def prune(tables: list[dict], scope: AccessScope) -> None:
    """Drop hidden columns, and keys that name hidden tables or columns, from assembled tables."""
    for t in tables:
        hidden = scope.hidden_columns.get(t["name"], {})
        t["columns"] = [c for c in t["columns"] if c["name"] not in hidden]
        t["primary_key"] = [c for c in t["primary_key"] if c not in hidden]
        # A key to a table outside include/exclude stays (as before); one to a hidden table or
        # through a hidden column would name what the role cannot read.
        t["foreign_keys"] = [
            fk for fk in t["foreign_keys"]
            if fk["ref_table"] not in scope.hidden_tables and not set(fk["columns"]) & set(hidden)
            and not set(fk["ref_columns"]) & set(scope.hidden_columns.get(fk["ref_table"], {}))
        ]
