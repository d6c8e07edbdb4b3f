"""Neighbour databases (test-suite accuracy): constraints kept, gold never rejected, near-misses caught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.fuzz import read_schema
from nl2sql_pipeline.core.evaluation.inputs import GoldItem, prediction_set, read_gold, spider_db_path
from nl2sql_pipeline.core.evaluation.neighbours import NeighbourError, build_neighbours, with_neighbours
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, ItemVerdict, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline_tests.conftest import DATA, SPIDER_DE

GOLD = read_gold(SPIDER_DE / "dev_gold.sql")
PERTURBED = yaml.safe_load((DATA / "neighbour_perturbations.yaml").read_text("utf-8"))

# A company database of our own: Chinese names and comments with code legends, units, a
# self-reference, a composite key, NOT NULL, UNIQUE and CHECK clauses.
COMPANY_DDL = [
    """CREATE TABLE 部门 (部门编号 INTEGER PRIMARY KEY, 名称 TEXT NOT NULL UNIQUE -- 部门名称
    )""",
    """CREATE TABLE 员工 (
        工号 INTEGER PRIMARY KEY,
        姓名 TEXT NOT NULL,
        部门编号 INTEGER NOT NULL REFERENCES 部门(部门编号),
        经理工号 INTEGER REFERENCES 员工(工号), -- 自引用：直属经理
        状态 CHAR(1) NOT NULL CHECK (状态 IN ('A', 'L', 'X')), -- A=在职 L=休假 X=离职
        月薪_元 REAL -- 单位：元
    )""",
    """CREATE TABLE 项目分配 (
        工号 INTEGER NOT NULL REFERENCES 员工(工号),
        项目代码 TEXT NOT NULL,
        工时_小时 INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (工号, 项目代码)
    )""",
]


@pytest.fixture(scope="module")
def company_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("company") / "hr.sqlite"
    with sqlite3.connect(path) as conn:
        for ddl in COMPANY_DDL:
            conn.execute(ddl)
        conn.executemany("INSERT INTO 部门 VALUES (?, ?)", [(1, "研发部"), (2, "销售部"), (3, "财务部")])
        conn.executemany("INSERT INTO 员工 VALUES (?, ?, ?, ?, ?, ?)", [
            (1, "张伟", 1, None, "A", 30000.0), (2, "王芳", 1, 1, "A", 18000.5), (3, "李娜", 2, 1, "L", 15000.0),
            (4, "刘洋", 2, 3, "X", 9000.0), (5, "陈静", 3, 1, "A", 21000.0),
        ])
        conn.executemany("INSERT INTO 项目分配 VALUES (?, ?, ?)", [(1, "P-01", 40), (2, "P-01", 35), (2, "P-02", 5), (3, "P-02", 12)])
    return path


def _targets(db_ids: set[str]) -> dict[str, DatabaseTarget]:
    return {db: DatabaseTarget(url=sqlite_url(spider_db_path(SPIDER_DE / "database", db), read_only=True).render_as_string(),
                               dialect="sqlite") for db in db_ids}


def _gold_by_db() -> dict[str, list[str]]:
    by_db: dict[str, list[str]] = {}
    for g in GOLD:
        by_db.setdefault(g.database, []).append(g.gold_sql)
    return by_db


@pytest.fixture(scope="module")
def spider_neighbours(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, DatabaseTarget], list]:
    return with_neighbours(_targets({g.database for g in GOLD}), _gold_by_db(), 8, tmp_path_factory.mktemp("neighbours"))


def assert_constraints_kept(source: Path, copy: Path) -> None:
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as dst:
        ddl = "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'index', 'view') ORDER BY name"
        assert src.execute(ddl).fetchall() == dst.execute(ddl).fetchall()  # types and constraints: the source's DDL
        schema = read_schema(src)
        for table in schema.tables.values():
            name = f'"{table.name}"'
            for key in ([table.primary_key] if table.primary_key else []) + table.uniques:
                cols = ", ".join(f'"{c}"' for c in key)
                dupes = dst.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {name} WHERE {' AND '.join(f'{c} IS NOT NULL' for c in cols.split(', '))} "
                                    f"GROUP BY {cols} HAVING count(*) > 1)").fetchone()[0]
                assert dupes == 0, (copy, table.name, key)
            for column in table.not_null | set(table.primary_key):
                assert dst.execute(f'SELECT count(*) FROM {name} WHERE "{column}" IS NULL').fetchone()[0] == 0, (table.name, column)
            for fk in table.foreign_keys:
                join = " AND ".join(f'p."{pc}" = c."{cc}"' for cc, pc in zip(fk.columns, fk.parent_columns))
                present = " AND ".join(f'c."{cc}" IS NOT NULL' for cc in fk.columns)
                dangling = dst.execute(f'SELECT count(*) FROM {name} c WHERE {present} AND NOT EXISTS '
                                       f'(SELECT 1 FROM "{fk.parent}" p WHERE {join})').fetchone()[0]
                assert dangling == 0, (copy, table.name, fk)
            for column in table.columns:  # storage classes stay those of the source column
                kinds = lambda conn: {r[0] for r in conn.execute(f'SELECT DISTINCT typeof("{column}") FROM {name}')} - {"null"}
                if table.row_count:
                    assert kinds(dst) <= kinds(src) | _numeric_alias(kinds(src)), (table.name, column)


def _numeric_alias(kinds: set[str]) -> set[str]:
    return {"integer", "real"} if kinds & {"integer", "real"} else set()


def test_neighbours_keep_constraints_on_spider_de(spider_neighbours: tuple[dict[str, DatabaseTarget], list]) -> None:
    _, built = spider_neighbours
    assert len(built) == 20 and all(len(b.paths) == 8 for b in built)
    for b in built:
        for path in b.paths:
            assert Path(path).parent != Path(b.source).parent
            assert_constraints_kept(Path(b.source), Path(path))


@pytest.mark.parametrize("demo", ["concert_singer", "sales_cn"])
def test_neighbours_keep_constraints_on_the_demos(demo: str, demo_dir: Path, tmp_path: Path) -> None:
    source = demo_dir / f"{demo}.sqlite"
    built = build_neighbours(demo, source, tmp_path / "nb", 3, [])
    assert len(built.paths) == 3
    for path in built.paths:
        assert_constraints_kept(source, Path(path))


def test_neighbours_keep_constraints_on_a_company_schema(company_db: Path, tmp_path: Path) -> None:
    gold = ["SELECT 姓名 FROM 员工 WHERE 月薪_元 > 20000", "SELECT 部门编号, count(*) FROM 员工 WHERE 状态 = 'A' GROUP BY 部门编号"]
    built = build_neighbours("hr", company_db, tmp_path / "nb", 4, gold, seed=7)
    for path in built.paths:
        assert_constraints_kept(company_db, Path(path))
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert {r[0] for r in conn.execute("SELECT 状态 FROM 员工")} <= {"A", "L", "X"}  # CHECK held


def test_every_gold_query_matches_itself_on_every_neighbour(spider_neighbours: tuple[dict[str, DatabaseTarget], list]) -> None:
    targets, _ = spider_neighbours
    runs = PredictionRuns(runs=[prediction_set(GOLD, [g.gold_sql for g in GOLD], label="gold", model="m", source="t")])
    verdicts = evaluate_runs(runs, targets, EvalOptions(workers=2))["gold"]
    runnable = [v for v in verdicts if v.executable]
    assert len(runnable) == 978
    assert all(v.match and v.single_db_match for v in runnable)  # no false negatives
    assert sum(v.neighbours_checked == 8 for v in runnable) > 900


def _judge(targets: dict[str, DatabaseTarget], cases: list[dict]) -> list[ItemVerdict]:
    gold = [GoldItem(database=c["db_id"], gold_sql=c["gold"]) for c in cases]
    runs = PredictionRuns(runs=[prediction_set(gold, [c["pred"] for c in cases], label="p", model="m", source="t")])
    return evaluate_runs(runs, targets, EvalOptions(workers=1))["p"]


def test_near_misses_fool_one_database_and_neighbours_catch_them(spider_neighbours: tuple[dict[str, DatabaseTarget], list]) -> None:
    targets, _ = spider_neighbours
    assert len(PERTURBED) >= 50
    verdicts = _judge(targets, PERTURBED)
    assert all(v.single_db_match for v in verdicts)  # single-database EX is fooled by every one
    caught = [v for v in verdicts if not v.match]
    assert len(caught) / len(verdicts) >= 0.85
    missed = {PERTURBED[v.index]["kind"] for v in verdicts if v.match}
    assert "desc_asc" not in missed


def test_neighbours_never_add_a_match(spider_neighbours: tuple[dict[str, DatabaseTarget], list]) -> None:
    targets, _ = spider_neighbours
    mistakes = [{"db_id": g.database, "gold": g.gold_sql, "pred": sql} for g in GOLD[:300:3]
                for sql in (g.gold_sql.replace("=", "!=", 1), f"SELECT * FROM ({g.gold_sql.rstrip(';')}) LIMIT 1", "SELECT 1")]
    plain = _judge(_targets({c["db_id"] for c in mistakes}), mistakes)
    suite = _judge(targets, mistakes)
    assert all((not s.match) or p.match for p, s in zip(plain, suite))
    assert [p.match for p in plain] == [s.single_db_match or False for s in suite]  # N=0 verdicts unchanged


def test_copies_are_versioned_and_never_beside_the_source(company_db: Path, tmp_path: Path) -> None:
    first = build_neighbours("hr", company_db, tmp_path / "nb", 2, ["SELECT 1"], seed=1)
    again = build_neighbours("hr", company_db, tmp_path / "nb", 2, ["SELECT 1"], seed=1)
    other = build_neighbours("hr", company_db, tmp_path / "nb", 2, ["SELECT 1"], seed=2)
    assert again.paths == first.paths and again.version == first.version
    assert other.version != first.version and set(other.paths).isdisjoint(first.paths)
    with pytest.raises(NeighbourError, match="next to the source"):
        build_neighbours("hr", company_db, company_db.parent / "nb", 2, [])
