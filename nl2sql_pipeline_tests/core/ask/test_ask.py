"""The answering path: correction rounds, refused unsafe answers, voting, the CLI, on real
databases; the model is a loopback HTTP endpoint scripted with known answers (the tiny model's
free text cannot be steered), and the real `transformers serve` endpoint for the whole path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from nl2sql_pipeline.core.ask.answer import AskConfig, answer_question
from nl2sql_pipeline.core.ask.cli import main as ask_main
from nl2sql_pipeline.core.ask.model import ChatEndpoint, OpenAIChatModel
from nl2sql_pipeline.core.ask.schema import schema_for
from nl2sql_pipeline.core.config import nl2sql_home, parse_databases
from nl2sql_pipeline.demo import ensure_demo_database
from nl2sql_pipeline_tests.core.llm.test_llm_client import Scripted, ok, scripted  # noqa: F401 (fixture)


def demo_db(name: str = "concert_singer"):
    return parse_databases({"databases": [{"name": name, "demo": name}]}).databases[0]


def scripted_answers(answers: list[str]) -> Scripted:
    """Answers in order, one per request (the last repeats)."""
    return Scripted([(200, {}, ok(a)) for a in answers])


def model_at(server: Scripted) -> OpenAIChatModel:
    return OpenAIChatModel(ChatEndpoint(base_url=server.url, model="nl2sql", timeout_s=10))


def checksum(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return json.dumps([list(conn.execute(f'select * from "{t}"')) for (t,) in
                           conn.execute("select name from sqlite_master where type='table' order by name")])


def test_a_schema_error_is_corrected_with_the_error_shown(scripted: list[Scripted]) -> None:
    server = scripted_answers(["SELECT nme FROM singer", "Here it is:\n```sql\nSELECT name FROM singer ORDER BY name\n```"])
    scripted.append(server)
    answer = answer_question("List the singers' names.", schema_for(demo_db()), model_at(server))
    assert answer.ok and answer.sql == "SELECT name FROM singer ORDER BY name"
    assert [a.failed for a in answer.attempts] == ["schema", None]
    assert [c.lower() for c in answer.columns] == ["name"] and len(answer.rows) == 12
    correction = server.bodies[1]["messages"]
    assert correction[-2] == {"role": "assistant", "content": "SELECT nme FROM singer"}
    assert "unknown column 'nme'" in correction[-1]["content"]
    assert server.bodies[0]["messages"] == correction[:-2]  # the same prompt, then the exchange


def test_syntax_and_execution_errors_take_rounds_until_the_limit(scripted: list[Scripted]) -> None:
    server = scripted_answers(["I think you want the singers.", "SELECT abs(-9223372036854775808) FROM singer",
                               "SELECT FROM WHERE"])
    scripted.append(server)
    answer = answer_question("?", schema_for(demo_db()), model_at(server), AskConfig(max_corrections=2))
    assert not answer.ok and len(server.bodies) == 3
    assert [a.failed for a in answer.attempts] == ["syntax", "execution", "syntax"]
    assert "overflow" in (answer.attempts[1].error or "")
    assert answer.failed == "syntax"


@pytest.mark.parametrize("output", [
    "CREATE VIEW v AS SELECT name FROM singer",
    "```sql\nCREATE TABLE t2 AS SELECT * FROM singer;\n```",
    "SELECT name FROM singer; DROP TABLE singer",
    "INSERT INTO singer (name) SELECT name FROM singer",
    "DELETE FROM singer WHERE singer_id IN (SELECT singer_id FROM singer)",
    "SELECT name FROM singer;\nPRAGMA writable_schema = 1",
    "CREATE TRIGGER tr AFTER INSERT ON singer BEGIN SELECT 1; END",
    "ATTACH DATABASE '/tmp/x.db' AS x",
])
def test_unsafe_answers_are_refused_without_a_correction_round(scripted: list[Scripted], output: str) -> None:
    server = scripted_answers([output, "SELECT name FROM singer"])
    scripted.append(server)
    schema = schema_for(demo_db())
    path = ensure_demo_database("concert_singer", nl2sql_home() / "demo")
    before = checksum(path)
    answer = answer_question("?", schema, model_at(server))
    assert not answer.ok and answer.failed == "unsafe" and len(server.bodies) == 1
    assert checksum(path) == before and not list(path.parent.glob("x.db"))


@pytest.mark.parametrize("output", [
    "SELECT name FROM singer WHERE name = 'Update x set'",  # words inside a literal
    "You can execute this query:\nSELECT name FROM singer",
    "SELECT name FROM singer  -- create the list",
])
def test_clean_answers_run(scripted: list[Scripted], output: str) -> None:
    server = scripted_answers([output])
    scripted.append(server)
    answer = answer_question("?", schema_for(demo_db()), model_at(server), AskConfig(max_corrections=0))
    assert answer.failed != "unsafe" and answer.attempts[0].failed in (None, "execution")


def test_self_consistency_takes_the_majority_result(scripted: list[Scripted]) -> None:
    server = scripted_answers(["SELECT count(*) FROM singer WHERE age > 40", "SELECT count(*) FROM singer",
                               "SELECT COUNT(singer_id) FROM singer"])
    scripted.append(server)
    answer = answer_question("How many singers?", schema_for(demo_db()), model_at(server), AskConfig(samples=3))
    assert answer.ok and answer.votes == 2 and answer.rows == [[12]]
    assert answer.sql == "SELECT count(*) FROM singer"
    assert all(b["temperature"] == 0.7 for b in server.bodies)


def test_stages_are_reported_in_order(scripted: list[Scripted]) -> None:
    server = scripted_answers(["SELECT nme FROM singer", "SELECT name FROM singer"])
    scripted.append(server)
    seen: list[str] = []
    answer_question("?", schema_for(demo_db()), model_at(server), on_event=lambda stage, _: seen.append(stage))
    assert seen == ["linking", "generating", "validating", "correcting", "validating", "executing", "done"]


def test_an_unreachable_model_is_an_answer_not_a_crash() -> None:
    from nl2sql_pipeline_tests.llm_servers import refused_url

    answer = answer_question("?", schema_for(demo_db()), OpenAIChatModel(ChatEndpoint(base_url=refused_url(), model="m",
                                                                                 timeout_s=2)))
    assert not answer.ok and answer.failed == "model" and "Connection" in (answer.error or "")


def test_real_server_whole_path(openai_server: str, tiny_model: Path) -> None:
    """The tiny random model cannot write SQL: the path still runs every round and reports why."""
    model = OpenAIChatModel(ChatEndpoint(base_url=openai_server, model=str(tiny_model), timeout_s=60))
    answer = answer_question("How many singers are there?", schema_for(demo_db()), model,
                             AskConfig(max_corrections=1, max_tokens=24))
    assert len(answer.attempts) == 2 and answer.timings.model_s > 0
    assert answer.ok or answer.failed in ("syntax", "schema", "execution", "unsafe")


def test_cli_prints_sql_rows_and_attempts(scripted: list[Scripted], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    server = scripted_answers(["SELECT nme FROM singer", "SELECT name, age FROM singer ORDER BY age DESC LIMIT 2"])
    scripted.append(server)
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "cs", "demo": "concert_singer"}]}))
    code = ask_main(["--config", str(config), "--database", "cs", "--endpoint", server.url, "--model", "nl2sql",
                     "Who are the two oldest singers?"])
    out = capsys.readouterr().out
    assert code == 0
    assert "attempt 1: 'SELECT nme FROM singer' -> schema: unknown column 'nme'" in out
    assert "SELECT name, age FROM singer ORDER BY age DESC LIMIT 2" in out and "Name" in out and "| Age" in out
    code = ask_main(["--config", str(config), "--database", "cs", "--endpoint", server.url, "--model", "nl2sql",
                     "--json", "again"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] and len(data["rows"]) == 2 and "url" not in json.dumps(data).lower()


def test_cli_bad_database_name_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "cs", "demo": "concert_singer"}]}))
    assert ask_main(["--config", str(config), "--database", "nope", "--endpoint", "http://127.0.0.1:1/v1",
                     "--model", "m", "q"]) == 2
    assert "No database named 'nope'" in capsys.readouterr().err


def test_cli_on_postgresql(scripted: list[Scripted], pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_db)
    with engine.begin() as conn:
        conn.exec_driver_sql("create table warehouse (wh_id int primary key, wh_name text, city text)")
        conn.exec_driver_sql("comment on column warehouse.wh_name is '仓库名称'")
        conn.exec_driver_sql("insert into warehouse values (1, '上海仓', '上海'), (2, '苏州仓', '苏州')")
    engine.dispose()
    monkeypatch.setenv("ASK_PG_URL", pg_db)
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "erp", "url_env": "ASK_PG_URL"}]}))
    server = scripted_answers(["SELECT wh_name FROM warehouse WHERE city = '上海'"])
    scripted.append(server)
    code = ask_main(["--config", str(config), "--database", "erp", "--endpoint", server.url, "--model", "m",
                     "--json", "上海有哪些仓库？"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["rows"] == [["上海仓"]] and data["dialect"] == "postgres"
    assert "仓库名称" in server.bodies[0]["messages"][-1]["content"]  # the schema carries the comment
