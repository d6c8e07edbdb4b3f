"""`nl2sql-eval --config databases.yaml` on PostgreSQL and MariaDB agrees item by item with the
SQLite path (`--db`) on the same data; unsafe outputs, gold hygiene and the taxonomy included."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from nl2sql_pipeline.core.evaluation.cli import main

# A small HR database (Chinese names, a self-reference, a status code legend) in portable DDL.
DDL = [
    "CREATE TABLE 部门 (部门编号 INT PRIMARY KEY, 名称 VARCHAR(40) NOT NULL UNIQUE)",
    "CREATE TABLE 员工 (工号 INT PRIMARY KEY, 姓名 VARCHAR(40) NOT NULL, 部门编号 INT NOT NULL REFERENCES 部门(部门编号), "
    "经理工号 INT REFERENCES 员工(工号), 状态 CHAR(1) NOT NULL, 月薪 INT)",  # 状态: A=在职 L=休假 X=离职
]
ROWS = [
    "INSERT INTO 部门 VALUES (1, '研发部'), (2, '销售部'), (3, '财务部')",
    "INSERT INTO 员工 VALUES (1, '张伟', 1, NULL, 'A', 30000), (2, '王芳', 1, 1, 'A', 18000), (3, '李娜', 2, 1, 'L', 15000), "
    "(4, '刘洋', 2, 3, 'X', 9000), (5, '陈静', 3, 1, 'A', 21000), (6, '赵磊', 3, 5, 'A', 21000)",
]
GOLD_MANAGERS = "SELECT 姓名, 月薪 FROM 员工 WHERE 经理工号 = 1 ORDER BY 月薪 DESC"
GOLD_COUNT = "SELECT 部门编号, count(*) FROM 员工 WHERE 状态 = 'A' GROUP BY 部门编号"
GOLD_JOIN = "SELECT d.名称 FROM 部门 d JOIN 员工 e ON e.部门编号 = d.部门编号 WHERE e.月薪 > 20000"
GOLD_EMPTY = "SELECT 姓名 FROM 员工 WHERE 月薪 > 100000"  # returns nothing: cannot judge
GOLD_TIE = "SELECT 姓名 FROM 员工 WHERE 部门编号 = 3 ORDER BY 月薪 DESC LIMIT 1"  # 21000 twice: tie-dependent
# (gold, prediction as a model wrote it)
CASES = [
    (GOLD_MANAGERS, GOLD_MANAGERS),
    (GOLD_MANAGERS, "SELECT 月薪, 姓名 FROM 员工 WHERE 经理工号 = 1 ORDER BY 月薪 DESC"),  # columns permuted
    (GOLD_MANAGERS, "SELECT 姓名, 月薪 FROM 员工 WHERE 经理工号 = 1 ORDER BY 月薪"),  # wrong order
    (GOLD_MANAGERS, "```sql\nSELECT 姓名, 月薪 FROM 员工 WHERE 经理工号 = 1 ORDER BY 月薪 DESC;\n```\n按月薪排序。"),
    (GOLD_COUNT, "答案：SELECT 部门编号, count(*) FROM 员工 WHERE 状态 = 'A' GROUP BY 部门编号"),
    (GOLD_COUNT, "SELECT 部门编号, count(*) FROM 员工 GROUP BY 部门编号"),  # dropped predicate
    (GOLD_COUNT, "SELECT 部门编号, count(*) FROM 员工 WHERE 岗位 = 'A' GROUP BY 部门编号"),  # unknown column
    (GOLD_COUNT, "CREATE VIEW v AS SELECT 部门编号, count(*) FROM 员工 WHERE 状态 = 'A' GROUP BY 部门编号"),  # unsafe
    (GOLD_JOIN, "SELECT d.名称 FROM 部门 d JOIN 员工 e ON e.部门编号 = d.部门编号 WHERE e.月薪 > 20000; DROP TABLE 员工"),
    (GOLD_JOIN, "DELETE FROM 员工 WHERE 工号 IN (SELECT 工号 FROM 员工 WHERE 月薪 > 20000)"),  # unsafe
    (GOLD_JOIN, "SELECT d.名称 FROM 部门 d JOIN 员工 e ON e.部门编号 = d.部门编号 WHERE e.月薪 >= 20000"),  # nobody earns 20000
    (GOLD_JOIN, "SELECT 名称 FROM 部门 WHERE 部门编号 IN (SELECT 部门编号 FROM 员工 WHERE 月薪 > 20000)"),  # one row per dept
    (GOLD_JOIN, ""),
    (GOLD_JOIN, "SELECT 名称 FROM 不存在的表"),  # unknown table
    (GOLD_EMPTY, "SELECT 姓名 FROM 员工 WHERE 1 = 0"),
    (GOLD_TIE, "SELECT 姓名 FROM 员工 WHERE 部门编号 = 3 ORDER BY 月薪 DESC LIMIT 1"),
]


def _sqlite_copy(folder: Path) -> Path:
    path = folder / "hr" / "hr.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        for sql in DDL + ROWS:
            conn.execute(sql)
    return path


def _server_copy(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql in DDL + ROWS:
            conn.exec_driver_sql(sql)
    engine.dispose()


def _files(tmp_path: Path) -> tuple[Path, Path]:
    gold = tmp_path / "gold.sql"
    gold.write_text("".join(f"{g}\thr\n" for g, _ in CASES), encoding="utf-8")
    pred = tmp_path / "pred.jsonl"  # generated_predictions.jsonl: outputs may span lines
    pred.write_text("".join(json.dumps({"prompt": "q", "predict": p, "label": g + "\n"}, ensure_ascii=False) + "\n"
                            for g, p in CASES), encoding="utf-8")
    return gold, pred


def _items(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _verdict(row: dict) -> tuple:
    return row["index"], row["match"], row["pred_error"], row["gold_flag"], row["executable"]


@pytest.mark.parametrize("db_fixture", ["pg_db", "mysql_db"])
def test_config_path_on_a_server_agrees_with_the_sqlite_path(
    db_fixture: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = request.getfixturevalue(db_fixture)
    _server_copy(url)
    _sqlite_copy(tmp_path / "dbs")
    gold, pred = _files(tmp_path)
    args = ["--gold", str(gold), "--pred", str(pred), "--workers", "1", "--timeout", "2", "--show-failures", "20"]
    assert main([*args, "--db", str(tmp_path / "dbs"), "--out", str(tmp_path / "sqlite.jsonl")]) == 0
    monkeypatch.setenv("NL2SQL_TEST_HR_URL", url)
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "hr", "url_env": "NL2SQL_TEST_HR_URL"}]}), encoding="utf-8")
    capsys.readouterr()
    assert main([*args, "--config", str(config), "--out", str(tmp_path / "server.jsonl")]) == 0
    printed = capsys.readouterr().out
    on_sqlite, on_server = _items(tmp_path / "sqlite.jsonl"), _items(tmp_path / "server.jsonl")
    assert [_verdict(r) for r in on_server] == [_verdict(r) for r in on_sqlite]
    assert [r["match"] for r in on_server] == [True, True, False, True, True, False, False, False, False, False, True,
                                               False, False, False, True, True]
    assert [r["pred_error"] for r in on_server][7:10] == ["unsafe"] * 3
    assert [r["gold_flag"] for r in on_server][-2:] == ["empty", "tie-dependent"]
    # the console: gold kept out with its reasons, unsafe rate, and the first failures with reasons
    assert "kept out of the headline" in printed and "1 empty, 1 tie-dependent" in printed
    assert "unsafe outputs 3 (18.8%)" in printed
    assert "unknown_table_column" in printed and "wrong_result" in printed and "CREATE VIEW defines or writes" in printed


def test_config_names_missing_databases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold, pred = _files(tmp_path)
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "other", "url": f"sqlite:///{_sqlite_copy(tmp_path)}"}]}), encoding="utf-8")
    assert main(["--gold", str(gold), "--pred", str(pred), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "not in" in err and "hr" in err and "Fix:" in err


def _pairs(tmp_path: Path, cases: list[tuple[str, str]]) -> tuple[Path, Path]:
    gold = tmp_path / "gold2.sql"
    gold.write_text("".join(f"{g}\thr\n" for g, _ in cases), encoding="utf-8")
    pred = tmp_path / "pred2.txt"
    pred.write_text("".join(p + "\n" for _, p in cases), encoding="utf-8")
    return gold, pred


# the gold itself (never rejected), and a boundary near-miss that the database alone accepts
NEAR_MISS = [(GOLD_JOIN, GOLD_JOIN), (GOLD_JOIN, CASES[10][1]), (GOLD_MANAGERS, GOLD_MANAGERS), (GOLD_COUNT, GOLD_COUNT)]


@pytest.mark.parametrize("db_fixture", ["pg_db", "mysql_db"])
@pytest.mark.parametrize("with_scratch", [True, False], ids=["scratch", "sqlite-extract"])
def test_server_neighbours_catch_a_near_miss(
    db_fixture: str, with_scratch: bool, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nl2sql_pipeline_tests.servers import scratch_database

    url = request.getfixturevalue(db_fixture)
    _server_copy(url)
    monkeypatch.setenv("NL2SQL_TEST_HR_URL", url)
    entry = {"name": "hr", "url_env": "NL2SQL_TEST_HR_URL"}
    gold, pred = _pairs(tmp_path, NEAR_MISS)
    server = url.rsplit("/", 1)[0] + ("/postgres" if url.startswith("postgresql") else "/test")
    with scratch_database(server, prefix="nl2sql_scratch") as scratch:
        if with_scratch:
            monkeypatch.setenv("NL2SQL_TEST_HR_SCRATCH", scratch)
            entry["scratch_url_env"] = "NL2SQL_TEST_HR_SCRATCH"
        config = tmp_path / "databases.yaml"
        config.write_text(yaml.safe_dump({"databases": [entry]}), encoding="utf-8")
        out = tmp_path / "items.jsonl"
        try:
            assert main(["--gold", str(gold), "--pred", str(pred), "--config", str(config), "--neighbours", "3",
                         "--neighbour-dir", str(tmp_path / "nb"), "--workers", "1", "--out", str(out)]) == 0
        finally:
            if with_scratch and url.startswith("mysql"):  # copies are databases named after the scratch one
                _drop_databases_named_after(scratch)
    printed = capsys.readouterr().out
    rows = _items(out)
    assert [(r["single_db_match"], r["match"]) for r in rows] == [(True, True), (True, False), (True, True), (True, True)]
    assert all(r["neighbours_checked"] >= 1 for r in rows if r["match"])
    assert ("SQLite copies of a sampled extract" in printed) is (not with_scratch)


def _drop_databases_named_after(scratch: str) -> None:
    from nl2sql_pipeline.core.evaluation.server_neighbours import drop_copies

    prefix = (sa.engine.make_url(scratch).database or "") + "_"
    engine = sa.create_engine(scratch)
    with engine.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql("SHOW DATABASES") if r[0].startswith(prefix)]
    engine.dispose()
    drop_copies(scratch, names)


def test_a_scratch_database_that_is_the_source_is_refused(pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _server_copy(pg_db)
    monkeypatch.setenv("NL2SQL_TEST_HR_URL", pg_db)
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "hr", "url_env": "NL2SQL_TEST_HR_URL",
                                                     "scratch_url_env": "NL2SQL_TEST_HR_URL"}]}), encoding="utf-8")
    gold, pred = _pairs(tmp_path, NEAR_MISS)
    assert main(["--gold", str(gold), "--pred", str(pred), "--config", str(config), "--neighbours", "2",
                 "--neighbour-dir", str(tmp_path / "nb")]) == 2
    err = capsys.readouterr().err
    assert "is the source database itself" in err and "Fix:" in err
