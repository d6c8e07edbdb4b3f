"""Random copies of a SQLite database that keep its schema and constraints (the "fuzz" step of
test-suite accuracy; `neighbours` distils them).

A copy is built from the source's own DDL (so types, primary keys, foreign keys, NOT NULL,
UNIQUE and CHECK clauses are the source's), filled with rows whose values are sampled from the
source column's values, the gold queries' literals and small perturbations of both. Tables are
filled parents first: a foreign key takes the key of a parent row already written, so every
reference resolves; primary keys and unique columns are de-duplicated before writing.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from nl2sql_pipeline.core.fsutil import sha256_text

_SAMPLED_VALUES = 200  # distinct source values kept per column
ROW_CAP = 60  # rows per table in a copy: enough to tell queries apart, small enough to run fast


@dataclass
class ForeignKey:
    columns: list[str]
    parent: str
    parent_columns: list[str]


@dataclass
class Table:
    name: str
    columns: list[str]
    not_null: set[str]
    primary_key: list[str]
    uniques: list[list[str]]
    foreign_keys: list[ForeignKey]
    row_count: int
    values: dict[str, list[Any]] = field(default_factory=dict)  # sampled source values per column
    has_null: set[str] = field(default_factory=set)


@dataclass
class SourceSchema:
    ddl: list[str]  # tables, then indexes, then views, as the source spells them
    tables: dict[str, Table]

    @property
    def fingerprint(self) -> str:
        return sha256_text("\n".join(self.ddl))[:16]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_schema(conn: sqlite3.Connection) -> SourceSchema:
    """The source's DDL, constraints and a sample of each column's values."""
    objects = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "AND type IN ('table', 'index', 'view') ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"
    ).fetchall()
    tables: dict[str, Table] = {}
    for kind, name, _ in objects:
        if kind != "table":
            continue
        info = conn.execute(f"PRAGMA table_info({_q(name)})").fetchall()  # cid, name, type, notnull, default, pk
        pk = [c[1] for c in sorted((c for c in info if c[5]), key=lambda c: c[5])]
        uniques = []
        for idx in conn.execute(f"PRAGMA index_list({_q(name)})").fetchall():  # seq, name, unique, origin, partial
            if idx[2] and not idx[4]:
                uniques.append([r[2] for r in conn.execute(f"PRAGMA index_info({_q(idx[1])})").fetchall()])
        fks: dict[int, ForeignKey] = {}
        for row in conn.execute(f"PRAGMA foreign_key_list({_q(name)})").fetchall():  # id, seq, table, from, to
            fk = fks.setdefault(row[0], ForeignKey([], row[2], []))
            fk.columns.append(row[3])
            fk.parent_columns.append(row[4])
        table = Table(name=name, columns=[c[1] for c in info], not_null={c[1] for c in info if c[3]},
                      primary_key=pk, uniques=uniques, foreign_keys=list(fks.values()),
                      row_count=conn.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0])
        for column in table.columns:
            rows = conn.execute(f"SELECT DISTINCT {_q(column)} FROM {_q(name)} LIMIT {_SAMPLED_VALUES}").fetchall()
            table.values[column] = [r[0] for r in rows if r[0] is not None]
            if any(r[0] is None for r in rows):
                table.has_null.add(column)
        tables[name] = table
    _resolve_foreign_keys(tables)
    return SourceSchema(ddl=[sql for _, _, sql in objects], tables=tables)


def _resolve_foreign_keys(tables: dict[str, Table]) -> None:
    """Keep the foreign keys whose parent exists (names compare case-insensitively, as SQLite's);
    an FK naming no parent column refers to the parent's primary key."""
    by_lower = {name.lower(): name for name in tables}
    for table in tables.values():
        kept = []
        for fk in table.foreign_keys:
            parent = tables.get(by_lower.get(fk.parent.lower(), ""))
            if parent is None:
                continue
            columns = {c.lower(): c for c in parent.columns}
            targets = [columns.get((p or "").lower()) for p in fk.parent_columns]
            if any(t is None for t in targets):
                targets = parent.primary_key if len(parent.primary_key) == len(fk.columns) else []
            if targets:
                kept.append(ForeignKey(fk.columns, parent.name, list(targets)))  # type: ignore[arg-type]
        table.foreign_keys = kept


def literal_pool(gold_sqls: Sequence[str]) -> dict[str, list[Any]]:
    """Numbers and strings the gold queries compare against, per lower-cased column name (and
    under "" all of them), numbers with their neighbours: copies then hold rows on both sides of
    every boundary a gold query draws (`x > 30` needs rows with 30 and 31)."""
    import sqlglot
    from sqlglot import exp

    pool: dict[str, list[Any]] = {"": []}
    for sql in gold_sqls:
        try:
            tree = sqlglot.parse_one(sql, read="sqlite")
        except Exception:  # a gold sqlglot cannot read still gets copies; only its literals are missed
            continue
        # SQLite reads a double-quoted name that is no column as a string ("France"): so do we
        quoted = [c for c in tree.find_all(exp.Column) if not c.table and c.this.quoted and _compared_column(c) not in (None, c.name)]
        for lit in [*tree.find_all(exp.Literal), *quoted]:
            values = _literal_values(lit) if isinstance(lit, exp.Literal) else [lit.name.strip("%")]
            pool[""] += values
            column = _compared_column(lit)
            if column:
                pool.setdefault(column.lower(), []).extend(values)
    return pool


def _literal_values(lit: Any) -> list[Any]:
    if lit.is_string:
        return [lit.this.strip("%")]
    try:
        number = float(lit.this)
    except ValueError:
        return []
    if number.is_integer():
        return [int(number) + d for d in (0, -1, 1)]
    return [number, round(number - 0.01, 4), round(number + 0.01, 4)]


def _compared_column(lit: Any) -> str | None:
    """The column a literal is compared with (`x > 3`, `x BETWEEN 1 AND 3`, `x IN (1, 2)`, LIKE)."""
    from sqlglot import exp

    node = lit.parent
    while isinstance(node, (exp.Tuple, exp.Paren, exp.Neg)):
        node = node.parent
    if isinstance(node, (exp.Predicate, exp.Binary)) or isinstance(node, exp.In):
        column = next((c for c in node.find_all(exp.Column)), None)
        return column.name if column is not None else None
    return None


def _perturb(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value + rng.choice((-2, -1, 1, 2, 5))
    if isinstance(value, float):
        return round(value * rng.uniform(0.8, 1.2), 2)
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value[:10])
            return (day + timedelta(days=rng.randint(-400, 400))).isoformat() + value[10:]
        except ValueError:
            return value
    return value


def _column_value(table: Table, column: str, literals: dict[str, list[Any]], rng: random.Random) -> Any:
    source = table.values.get(column) or []
    nullable = column not in table.not_null and column not in table.primary_key
    if nullable and column in table.has_null and rng.random() < 0.15:
        return None
    own = literals.get(column.lower())
    if own and rng.random() < 0.4:
        pick = _as_kind(rng.choice(own), {type(v) for v in source[:50]})
        if pick is not None:
            return pick
    if source:
        value = rng.choice(source)
        return _perturb(value, rng) if rng.random() < 0.15 else value
    if nullable:
        return None  # the source holds no value here: neither do the copies
    return rng.choice(literals[""]) if literals[""] else rng.randint(1, 100)


def _as_kind(value: Any, kinds: set[type]) -> Any:
    """`value` in the storage class the column already holds (`ps > 150` on a TEXT column
    compares text, so the copy needs '151'); None when it cannot be."""
    if not kinds or type(value) in kinds:
        return value
    if str in kinds:
        return str(value)
    try:
        return int(value) if int in kinds and float(value).is_integer() else float(value) if float in kinds else None
    except (TypeError, ValueError):
        return None


def _dedupe(rows: list[dict[str, Any]], keys: list[list[str]]) -> list[dict[str, Any]]:
    seen: list[set[tuple]] = [set() for _ in keys]
    kept = []
    for row in rows:
        tuples = [tuple(row[c] for c in key) for key in keys]
        # SQL's UNIQUE lets NULLs repeat; a primary key (never NULL here) does not.
        if any(t in s and None not in t for t, s in zip(tuples, seen)):
            continue
        for t, s in zip(tuples, seen):
            s.add(t)
        kept.append(row)
    return kept


def _order(tables: dict[str, Table]) -> list[str]:
    """Parents before children; a cycle is broken where it is met (those FKs are filled last)."""
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in visiting:
            return
        visiting.add(name)
        for fk in tables[name].foreign_keys:
            if fk.parent != name:
                visit(fk.parent)
        visiting.discard(name)
        done.append(name)

    for name in tables:
        visit(name)
    return done


def fuzz_rows(schema: SourceSchema, literals: dict[str, list[Any]], rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Rows per table that satisfy the schema's keys and references."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in _order(schema.tables):
        table = schema.tables[name]
        size = rng.randint(max(1, min(table.row_count, ROW_CAP) // 2), max(1, min(2 * table.row_count, ROW_CAP))) \
            if table.row_count else rng.randint(0, 3)
        rows = [{c: _column_value(table, c, literals, rng) for c in table.columns} for _ in range(size + size // 3)]
        keys = ([table.primary_key] if table.primary_key else []) + table.uniques
        for fk in table.foreign_keys:
            parents = out.get(fk.parent)
            if fk.parent == name:  # self-reference: to this table's own (already drawn) keys
                parents = _dedupe(rows, keys)
            if parents is None:
                continue  # a cycle: the parent is not written yet; filled by _close_cycles
            choices = [tuple(p[c] for c in fk.parent_columns) for p in parents]
            choices = [c for c in choices if None not in c]
            nullable = all(c not in table.not_null and c not in table.primary_key for c in fk.columns)
            for row in rows:
                pick = rng.choice(choices) if choices and not (nullable and rng.random() < 0.1) else None
                if pick is None and not nullable:
                    continue  # no parent row: the row is dropped below
                for column, value in zip(fk.columns, pick or [None] * len(fk.columns)):
                    row[column] = value
        rows = [r for r in rows if all(r[c] is not None for c in table.primary_key)
                and all(r[c] is not None for c in table.not_null if c in r)]
        out[name] = _dedupe(rows, keys)[:size]
    _close_cycles(schema, out, rng)
    return out


def _close_cycles(schema: SourceSchema, out: dict[str, list[dict[str, Any]]], rng: random.Random) -> None:
    """Foreign keys whose parent came later (a reference cycle): point them at written parents,
    or NULL where the parent has no rows (a NOT NULL reference then drops the row)."""
    for name, table in schema.tables.items():
        for fk in table.foreign_keys:
            choices = [tuple(p[c] for c in fk.parent_columns) for p in out.get(fk.parent, [])]
            choices = [c for c in choices if None not in c]
            for row in out[name]:
                current = tuple(row[c] for c in fk.columns)
                if None in current or current in choices:
                    continue
                pick = rng.choice(choices) if choices else (None,) * len(fk.columns)
                for column, value in zip(fk.columns, pick):
                    row[column] = value
            out[name] = [r for r in out[name] if all(r[c] is not None for c in table.not_null)]


def write_copy(schema: SourceSchema, rows: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """A new SQLite file with the source's DDL and `rows` (written to a temporary name first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")  # rows go in parents first, but cycles need it off
        for ddl in schema.ddl:
            conn.execute(ddl)
        for name, table_rows in rows.items():
            columns = schema.tables[name].columns
            placeholders = ", ".join("?" * len(columns))
            conn.executemany(
                f"INSERT OR IGNORE INTO {_q(name)} ({', '.join(map(_q, columns))}) VALUES ({placeholders})",
                [tuple(r[c] for c in columns) for r in table_rows],
            )
        conn.commit()
    finally:
        conn.close()
    tmp.replace(path)
    return path
