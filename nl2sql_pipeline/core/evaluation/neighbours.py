"""Neighbour databases: test-suite accuracy's fuzz-then-distil, for SQLite sources.

`build_neighbours` draws `candidates` random copies of a database (`fuzz`), runs every gold
query and its near-miss variants (`variants`) on the source and on each copy, and keeps the `n`
copies that tell apart the most (gold, variant) pairs the source alone cannot (greedy set
cover, as Zhong et al. 2020). A prediction then matches only if it matches on the source and on
every kept copy.

Copies live in a working folder of their own, never next to (or in place of) the source; a
folder already holding copies for the same schema, seed, n and gold queries is reused.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.evaluation.compare import gold_orders, results_match
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget
from nl2sql_pipeline.core.evaluation.fuzz import SourceSchema, fuzz_rows, literal_pool, read_schema, write_copy
from nl2sql_pipeline.core.evaluation.variants import near_miss_variants
from nl2sql_pipeline.core.fsutil import atomic_write_text, sha256_text

BUILD_VERSION = "1"  # bump when copies built from the same inputs would differ
_QUERY_TIMEOUT_S = 2.0


class NeighbourError(Nl2SqlError):
    """Neighbour databases cannot be built where or how they were asked for."""


class NeighbourSet(BaseModel):
    """The kept copies of one database and what they are worth."""

    database: str
    source: str
    paths: list[str]
    seed: int
    version: str  # schema fingerprint + seed + n + gold hash: a new value means new copies
    candidates: int
    gold_queries: int
    variants: int  # near-miss variants that run on the source
    caught_by_source: int  # variants whose result on the source already differs from the gold's
    caught_by_neighbours: int  # of the others, told apart by at least one kept copy
    build_s: float
    dialect_note: str | None = None  # set when the copies run on another engine than the source
    neighbour_dialect: str | None = None  # "sqlite" for SQLite copies of a server database
    namespaces: list[str] = []  # scratch schemas/databases holding the copies (URLs rebuilt from the environment)


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = 1")
    return conn


def _run(conn: sqlite3.Connection, sql: str) -> list[tuple] | None:
    """Rows of a trusted query (gold or a rewrite of it), or None on error or timeout."""
    deadline = time.perf_counter() + _QUERY_TIMEOUT_S
    conn.set_progress_handler(lambda: int(time.perf_counter() > deadline), 1000)
    try:
        return conn.execute(sql).fetchmany(10_001)
    except (sqlite3.Error, OverflowError, ValueError):
        return None
    finally:
        conn.set_progress_handler(None, 0)


def check_workdir(source: Path, workdir: Path) -> None:
    """Refuse a working folder that is the source's folder or inside it."""
    source_dir, target = source.resolve().parent, workdir.resolve()
    if target == source_dir or source_dir in target.parents or target == source.resolve():
        raise NeighbourError(
            f"The neighbour folder {workdir} is next to the source database {source}.",
            "give a working folder outside the database's folder (copies never sit beside the source).",
        )


def neighbour_version(schema: SourceSchema, seed: int, n: int, gold_sqls: Sequence[str]) -> str:
    return sha256_text("|".join([BUILD_VERSION, schema.fingerprint, str(seed), str(n), *sorted(set(gold_sqls))]))[:16]


def build_neighbours(
    database: str, source: Path, workdir: Path, n: int, gold_sqls: Sequence[str], *, seed: int = 0,
    candidates: int | None = None,
) -> NeighbourSet:
    """`n` distilled neighbour copies of the SQLite file `source`, written under `workdir`."""
    started = time.perf_counter()
    check_workdir(source, workdir)
    if not source.is_file():
        raise NeighbourError(f"The database {source} does not exist.", "pass an existing SQLite file.")
    with _connect_ro(source) as src:
        schema = read_schema(src)
        version = neighbour_version(schema, seed, n, gold_sqls)
        folder = workdir / database / version
        manifest = folder / "neighbours.json"
        if manifest.is_file():
            cached = NeighbourSet.model_validate_json(manifest.read_text("utf-8"))
            if all(Path(p).is_file() for p in cached.paths):
                return cached
        probes = _probes(src, gold_sqls, schema)
    count = candidates or max(2 * n, 12)
    rng = random.Random(f"{seed}:{database}")
    literals = literal_pool(gold_sqls)
    drawn: list[tuple[Path, set[int], int]] = []  # (path, probes told apart, golds with rows)
    for k in range(count if n else 0):
        path = write_copy(schema, fuzz_rows(schema, literals, rng), folder / f"candidate_{k}.sqlite")
        drawn.append((path, *_distinguished(path, probes)))
    kept = _greedy_cover(drawn, n)
    paths = []
    for i, (path, _, _) in enumerate(kept):
        final = folder / f"neighbour_{i}.sqlite"
        path.replace(final)
        paths.append(str(final))
    for path, _, _ in drawn:
        path.unlink(missing_ok=True)
    undecided = [i for i, p in enumerate(probes) if not p[3]]
    result = NeighbourSet(
        database=database, source=str(source), paths=paths, seed=seed, version=version, candidates=count,
        gold_queries=len({p[0] for p in probes}), variants=len(probes),
        caught_by_source=len(probes) - len(undecided),
        caught_by_neighbours=len(set().union(*(told for _, told, _ in kept)) if kept else set()),
        build_s=time.perf_counter() - started,
    )
    atomic_write_text(manifest, result.model_dump_json(indent=1))
    return result


# (gold sql, variant sql, order matters, told apart on the source)
_Probe = tuple[str, str, bool, bool]


def _probes(src: sqlite3.Connection, gold_sqls: Sequence[str], schema: SourceSchema) -> list[_Probe]:
    columns = {t.name: t.columns for t in schema.tables.values()}
    probes: list[_Probe] = []
    for gold in dict.fromkeys(gold_sqls):
        gold_rows = _run(src, gold)
        if gold_rows is None:
            continue
        ordered = gold_orders(gold)
        for variant in near_miss_variants(gold, "sqlite", columns):
            rows = _run(src, variant)
            if rows is not None:
                probes.append((gold, variant, ordered, not results_match(gold_rows, rows, order_matters=ordered)))
    return probes


def _distinguished(path: Path, probes: list[_Probe]) -> tuple[set[int], int]:
    """Which probes the copy tells apart (only those the source cannot), and how many golds
    return rows on it (copies where queries return something are the informative ones)."""
    told: set[int] = set()
    nonempty = 0
    gold_rows: dict[str, list[tuple] | None] = {}
    with _connect_ro(path) as conn:
        for i, (gold, variant, ordered, on_source) in enumerate(probes):
            if gold not in gold_rows:
                gold_rows[gold] = _run(conn, gold)
                nonempty += bool(gold_rows[gold])
            if on_source or gold_rows[gold] is None:
                continue
            rows = _run(conn, variant)
            if rows is None or not results_match(gold_rows[gold], rows, order_matters=ordered):
                told.add(i)
    return told, nonempty


def _greedy_cover(drawn: list[tuple[Path, set[int], int]], n: int) -> list[tuple[Path, set[int], int]]:
    """n copies, each adding the most probes not yet told apart (ties: more non-empty golds)."""
    left = list(drawn)
    kept: list[tuple[Path, set[int], int]] = []
    covered: set[int] = set()
    while left and len(kept) < n:
        best = max(left, key=lambda d: (len(d[1] - covered), d[2]))
        left.remove(best)
        kept.append(best)
        covered |= best[1]
    return kept


class NeighbourIndex(BaseModel):
    """Neighbour sets of several databases (the `neighbour_databases` asset's value)."""

    sets: list[NeighbourSet]
    notes: list[str] = []

    def __len__(self) -> int:
        return len(self.sets)

    @property
    def version(self) -> str:
        return sha256_text("|".join(sorted(f"{s.database}:{s.version}" for s in self.sets)))[:16]

    def attach(self, targets: Mapping[str, DatabaseTarget], scratch: Mapping[str, str] | None = None) -> dict[str, DatabaseTarget]:
        """The targets with their neighbours, where a kept set was built from the same source."""
        from nl2sql_pipeline.core.connection import sqlite_url
        from nl2sql_pipeline.core.evaluation.server_neighbours import namespace_url, same_source

        out = dict(targets)
        for s in self.sets:
            target = targets.get(s.database)
            if target is None or not same_source(target.url, s.source):
                continue
            if s.namespaces and (scratch or {}).get(s.database):
                urls = [namespace_url((scratch or {})[s.database], ns) for ns in s.namespaces]
                out[s.database] = target.model_copy(update={"neighbours": urls})
            elif all(Path(p).is_file() for p in s.paths):
                urls = [sqlite_url(Path(p), read_only=True).render_as_string() for p in s.paths]
                out[s.database] = target.model_copy(update={"neighbours": urls, "neighbour_dialect": s.neighbour_dialect})
        return out


def summary_markdown(sets: Sequence[NeighbourSet]) -> str:
    """Per database: copies kept, near-miss variants, and who tells them apart."""
    lines = ["| database | copies | near-miss variants | told apart by the database | by the neighbours (of the rest) | build s |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in sets:
        lines.append(f"| {s.database} | {len(s.paths)} | {s.variants} | {s.caught_by_source} | "
                     f"{s.caught_by_neighbours} of {s.variants - s.caught_by_source} | {s.build_s:.2f} |")
    return "\n".join(lines)


def sqlite_source(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other engines)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database.removeprefix("file:").split("?")[0])


def with_neighbours(
    targets: Mapping[str, DatabaseTarget], gold: Mapping[str, Sequence[str]], n: int, workdir: Path, *, seed: int = 0,
    scratch: Mapping[str, str] | None = None,
) -> tuple[dict[str, DatabaseTarget], list[NeighbourSet]]:
    """The targets with `n` neighbours each (built or reused under `workdir`), and what was built.

    `gold` maps each database to its gold queries (the probes of the distillation); `scratch`
    maps a PostgreSQL/MariaDB database to the URL of its scratch database, if it has one.
    """
    from nl2sql_pipeline.core.connection import sqlite_url
    from nl2sql_pipeline.core.evaluation.server_neighbours import build_server_neighbours

    out: dict[str, DatabaseTarget] = {}
    sets: list[NeighbourSet] = []
    for name, target in sorted(targets.items()):
        source = sqlite_source(target.url)
        if source is None:
            out[name], built = build_server_neighbours(name, target, workdir, n, list(gold.get(name, [])), seed=seed,
                                                       scratch_url=(scratch or {}).get(name))
            sets.append(built)
            continue
        built = build_neighbours(name, source, workdir, n, gold.get(name, []), seed=seed)
        sets.append(built)
        urls = [sqlite_url(Path(p), read_only=True).render_as_string() for p in built.paths]
        out[name] = target.model_copy(update={"neighbours": urls})
    return out, sets
