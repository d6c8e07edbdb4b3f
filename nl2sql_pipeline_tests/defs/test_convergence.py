"""One run after a schema change brings everything downstream up to date, through the real entry
points: `python -m nl2sql_pipeline.run demo`, the drift sensor and the nightly schedule (their run
requests executed in-process by orchestration_driver.py), on a 13-table company database with
Chinese comments, on SQLite and PostgreSQL.

Each test applies several drifts in sequence to one database and runs once after each: the
cards, the prompts and the exported dataset show the change, nothing is left stale, samples of
topics whose tables did not change are byte-identical, a sample whose column was dropped is gone,
and a further run recomputes nothing expensive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


from nl2sql_pipeline_tests import company_schema as company
from nl2sql_pipeline_tests.conftest import REPO

EXPENSIVE = {"topic_plan", "raw_samples"}  # an LLM planner/generator runs here for llm databases
# Unique column names in the company schema: one used by a stored sample is dropped.
DROPPABLE = ["weight_kg", "list_price", "salary", "on_hand", "total_amount", "quantity", "amount"]
# On SQLite the demo and the nightly schedule share the drifts (each one once, to keep the time down).
DEMO_DRIFTS = {"column added", "column dropped", "column retyped", "comment changed in the descriptions file"}
DROPPABLE_TABLE = {"weight_kg": "products", "list_price": "products", "salary": "employees", "on_hand": "inventory",
                   "total_amount": "orders", "quantity": "order_items", "amount": "payments"}


@dataclass
class Site:
    """One database under test: its URL, config folder and the artifacts of the last run."""

    url: str
    dir: Path
    engine: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["NL2SQL_HOME"])

    def stored(self, asset: str) -> dict:
        return json.loads((self.home / "assets" / asset / "company.json").read_text(encoding="utf-8"))["value"]

    def cards(self) -> dict[str, dict]:
        return {c["table"]: c for c in self.stored("table_cards")["cards"]}

    def topic_samples(self) -> dict[tuple[str, tuple[str, ...], int], str]:
        """(topic, tables, budget) -> the topic's raw samples as stored bytes (JSON)."""
        plan = {t["name"]: t for t in self.stored("topic_plan")["topics"]}
        out: dict[tuple[str, tuple[str, ...], int], list] = {}
        for sample in self.stored("raw_samples")["samples"]:
            topic = plan.get(sample["topic"])
            if topic:
                out.setdefault((topic["name"], tuple(sorted(topic["tables"])), topic["count"]), []).append(sample)
        return {k: json.dumps(v, ensure_ascii=False, sort_keys=True) for k, v in out.items()}

    def exported(self) -> list[dict]:
        lines = (self.home / "dataset" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
        return [row for row in map(json.loads, lines) if row["database"] == "company"]

    def prompts(self) -> str:
        folder = self.home / "dataset"
        return "".join((folder / f"alpaca_{s}.jsonl").read_text(encoding="utf-8") for s in ("train", "dev"))


def make_site(tmp_path: Path, url: str, engine: str, descriptions: bool) -> Site:
    """A databases.yaml with the company database beside the concert_singer demo, a fresh instance."""
    company.create_company(url)
    entry = f"  - name: company\n    url_env: COMPANY_DB_URL\n    sample_budget: 80\n    language: zh\n"
    if descriptions:
        company.write_descriptions(tmp_path / "company_comments.yaml", only=None if engine == "sqlite" else ["suppliers"])
        entry += "    descriptions: company_comments.yaml\n"
    (tmp_path / "databases.yaml").write_text(
        "databases:\n" + entry + "  - name: concert\n    demo: concert_singer\n    sample_budget: 30\n", encoding="utf-8"
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, NL2SQL_DATABASES=str(tmp_path / "databases.yaml"), DAGSTER_HOME=str(home),
               NL2SQL_HOME=str(tmp_path / "home"), COMPANY_DB_URL=url, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return Site(url=url, dir=tmp_path, engine=engine, env=env)


@dataclass
class Drift:
    name: str
    apply: Callable[[Site], None]
    tables: set[str]  # tables whose own structure or comments change
    present: list[tuple[str, str]] = field(default_factory=list)  # (table, pattern) in its card and in prompts
    absent: list[str] = field(default_factory=list)  # text in no card and no prompt afterwards
    # A new or dropped table or foreign key re-plans the topics from the FK graph (the budget is
    # shared anew), so every topic may change; after a column or comment change the others stay.
    replans: bool = False


def _sql(site: Site, sqlite: list[str], postgresql: list[str]) -> None:
    company.execute(site.url, *(sqlite if site.engine == "sqlite" else postgresql))


def _retype(site: Site) -> None:
    if site.engine == "sqlite":
        _, columns, extra = company.TABLES["payments"]
        retyped = [(n, "VARCHAR(10)" if n == "method" else t, c, x) for n, t, c, x in columns]
        company.rebuild_sqlite_table(site.url, "payments", retyped, extra)
    else:
        company.execute(site.url, "ALTER TABLE payments ALTER COLUMN method TYPE VARCHAR(10)")


def _add_fk(site: Site) -> None:
    if site.engine == "sqlite":
        _, columns, extra = company.TABLES["warehouses"]
        company.rebuild_sqlite_table(site.url, "warehouses", columns,
                                     extra + ["FOREIGN KEY (manager_emp_id) REFERENCES employees(emp_id)"])
    else:
        company.execute(site.url, "ALTER TABLE warehouses ADD CONSTRAINT wh_manager_fk "
                                  "FOREIGN KEY (manager_emp_id) REFERENCES employees(emp_id)")


def _comment_in_file(site: Site) -> None:
    table = "customers" if site.engine == "sqlite" else "suppliers"
    column, text = ("member_level", "会员等级：1=普通 2=银卡 3=金卡 4=钻石卡") if table == "customers" else ("rating", "评级：1=A 2=B 3=C 4=D 淘汰")
    company.write_descriptions(site.dir / "company_comments.yaml", {table: {column: text}},
                               only=None if site.engine == "sqlite" else ["suppliers"])


def drifts(site: Site, dropped: str) -> list[Drift]:
    table = DROPPABLE_TABLE[dropped]
    found = [
        Drift("column added", lambda s: _sql(s, ["ALTER TABLE audit_log ADD COLUMN op_ip VARCHAR(40)"],
                                               ["ALTER TABLE audit_log ADD COLUMN op_ip VARCHAR(40)"]),
              {"audit_log"}, present=[("audit_log", "op_ip")]),
        Drift("column dropped", lambda s: _sql(s, [f"ALTER TABLE {table} DROP COLUMN {dropped}"],
                                                 [f"ALTER TABLE {table} DROP COLUMN {dropped}"]),
              {table}, absent=[dropped]),
        Drift("column retyped", _retype, {"payments"}, present=[("payments", r"method (text|varchar)")]),
        Drift("table added", lambda s: _sql(s, [
            "CREATE TABLE coupons (coupon_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(customer_id), "
            "face_value NUMERIC(8,2))", "INSERT INTO coupons VALUES (1, 2, 50.00), (2, 3, 20.00), (3, 2, 5.50)"], [
            "CREATE TABLE coupons (coupon_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(customer_id), "
            "face_value NUMERIC(8,2))", "INSERT INTO coupons VALUES (1, 2, 50.00), (2, 3, 20.00), (3, 2, 5.50)",
            "COMMENT ON TABLE coupons IS '优惠券'"]),
              {"coupons", "customers"}, present=[("coupons", "face_value")], replans=True),
        Drift("table dropped", lambda s: _sql(s, ["DROP TABLE audit_log"], ["DROP TABLE audit_log"]),
              {"audit_log", "employees"}, absent=["audit_log"], replans=True),
        Drift("comment changed in the descriptions file", _comment_in_file,
              {"customers" if site.engine == "sqlite" else "suppliers"},
              present=[("customers", "4=钻石卡")] if site.engine == "sqlite" else [("suppliers", "4=D 淘汰")]),
        Drift("foreign key added", _add_fk, {"warehouses", "employees"}, present=[("warehouses", "REFERENCES employees")],
              replans=True),
    ]
    if site.engine == "postgresql":
        found.insert(6, Drift("comment changed in the catalog",
                              lambda s: company.execute(s.url, "COMMENT ON COLUMN customers.member_level IS "
                                                               "'会员等级：1=普通 2=银卡 3=金卡 4=钻石卡'"),
                              {"customers"}, present=[("customers", "4=钻石卡")]))
    return found


def pick_droppable(site: Site) -> str:
    """A column that a stored, exported sample uses: dropping it must remove that sample."""
    sqls = [row["sql"] for row in site.exported()]
    for column in DROPPABLE:
        if any(re.search(rf"\b{column}\b", sql) for sql in sqls):
            return column
    raise AssertionError(f"no exported sample uses any of {DROPPABLE}: {sqls[:5]}")


def check_converged(site: Site, drift: Drift, before: dict, stale: dict[str, list[str]]) -> None:
    """The state after one run following `drift`."""
    assert stale == {"company": [], "concert": []}, f"{drift.name}: left stale after one run: {stale}"
    cards = site.cards()
    prompts = site.prompts()
    exported = site.exported()
    for table, text in drift.present:
        card = json.dumps(cards[table], ensure_ascii=False)
        assert re.search(text, card, re.IGNORECASE), f"{drift.name}: the card of {table} lacks {text!r}"
        if any(table in row["tables"] for row in exported):  # prompts over that table show its new definition
            assert re.search(text, prompts, re.IGNORECASE), f"{drift.name}: no exported prompt shows {text!r}"
    for text in drift.absent:
        assert not any(re.search(rf"\b{text}\b", json.dumps(c, ensure_ascii=False)) for c in cards.values()), drift.name
        assert not re.search(rf"\b{text}\b", prompts), f"{drift.name}: a prompt still mentions {text}"
        assert not any(re.search(rf"\b{text}\b", row["sql"]) for row in exported), f"{drift.name}: sample kept"
        accepted = [v for v in site.stored("validated_samples")["items"] if v["passed"]]
        assert not any(re.search(rf"\b{text}\b", v["sample"]["sql"]) for v in accepted), drift.name
    after = site.topic_samples()
    untouched = [k for k in before if not set(k[1]) & drift.tables and k in after]
    assert untouched or drift.replans, f"{drift.name}: no topic left untouched to compare: {list(before)}"
    for key in untouched:
        assert after[key] == before[key], f"{drift.name}: samples of unchanged topic {key[0]} were regenerated"


class Driver:
    """orchestration_driver.py in a subprocess: the sensor/schedule evaluated and executed in-process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "nl2sql_pipeline_tests.orchestration_driver"], env=env,
                                        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, command: str) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the driver exited ({self.process.poll()}) on {command!r}"
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait(timeout=60)


def demo(site: Site) -> str:
    done = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.run", "demo"], env=site.env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(name))


def _ran(line: str) -> set[str]:
    return {n.strip() for n in line.split(": ran ", 1)[1].split("; reused")[0].split(",")}


def test_demo_converges_after_each_sqlite_drift(tmp_path: Path) -> None:
    site = make_site(tmp_path, f"sqlite:///{tmp_path / 'company.sqlite'}", "sqlite", descriptions=True)
    demo(site)
    driver = Driver(site.env)
    try:
        for drift in drifts(site, pick_droppable(site)):
            if drift.name not in DEMO_DRIFTS:
                continue
            before = site.topic_samples()
            drift.apply(site)
            output = demo(site)
            line = _line(output, "company")
            assert "(schema changed)" in line and "table_cards" in _ran(line), f"{drift.name}: {output}"
            assert "table_cards: upstream db_metadata changed" in output, output
            assert "reused" in _line(output, "concert") and _ran(_line(output, "concert")) == {"db_connection", "db_metadata"}
            assert "training_dataset" in _ran(_line(output, "(all databases)")), f"{drift.name}: {output}"
            check_converged(site, drift, before, driver.ask("stale")["stale"])
    finally:
        driver.close()
    again = demo(site)  # nothing changed: nothing but the probe and the schema read runs
    for name in ("company", "concert"):
        assert _ran(_line(again, name)) == {"db_connection", "db_metadata"}, again
    assert "ran nothing; reused training_dataset" in again
    config = site.dir / "databases.yaml"  # a settings change is an input change too
    config.write_text(config.read_text(encoding="utf-8").replace("sample_budget: 30", "sample_budget: 24"), encoding="utf-8")
    budget = demo(site)
    assert "topic_plan: the settings of concert changed" in budget, budget
    assert _ran(_line(budget, "company")) == {"db_connection", "db_metadata"}, budget


def _sensor_round(driver: Driver, site: Site, drift: Drift, before: dict) -> None:
    answer = driver.ask("sensor")
    assert answer["requests"] == ["company"], f"{drift.name}: {answer}"
    (run,) = answer["runs"]
    assert run["success"], run
    assert run["ran"]["table_cards"] == "upstream db_metadata changed" and "training_dataset" in run["ran"], run
    assert run["tags"]["nl2sql/because/table_cards"] == "upstream db_metadata changed"  # the run's own record
    check_converged(site, drift, before, driver.ask("stale")["stale"])


def _assert_nothing_expensive(run: dict) -> None:
    assert not EXPENSIVE & set(run["ran"]), run
    assert set(run["ran"]) == {"db_connection", "db_metadata"}, run


def test_drift_sensor_converges_after_each_postgres_drift(tmp_path: Path, pg_db: str) -> None:
    site = make_site(tmp_path, pg_db, "postgresql", descriptions=True)
    demo(site)  # the baseline, as a user would have it
    driver = Driver(site.env)
    try:
        assert driver.ask("sensor")["requests"] == []  # the demo observed the schema already
        dropped = pick_droppable(site)
        for drift in drifts(site, dropped):
            before = site.topic_samples()
            drift.apply(site)
            _sensor_round(driver, site, drift, before)
        assert driver.ask("sensor") == {"requests": [], "runs": []}  # converged: the next tick has nothing to do
        nightly = driver.ask("schedule 2026-11-28T02:00:00")
        assert sorted(nightly["requests"]) == ["company", "concert"]
        for run in nightly["runs"]:
            assert run["success"]
            _assert_nothing_expensive(run)
    finally:
        driver.close()


def test_nightly_schedule_converges_after_sqlite_drifts(tmp_path: Path) -> None:
    site = make_site(tmp_path, f"sqlite:///{tmp_path / 'company.sqlite'}", "sqlite", descriptions=True)
    driver = Driver(site.env)
    try:
        first = driver.ask("schedule 2026-11-20T02:00:00")  # a fresh instance: the schedule builds everything
        assert all(r["success"] for r in first["runs"]) and sorted(first["requests"]) == ["company", "concert"]
        chosen = [d for d in drifts(site, pick_droppable(site)) if d.name not in DEMO_DRIFTS]
        for day, drift in enumerate(chosen, start=21):
            before = site.topic_samples()
            drift.apply(site)
            nightly = driver.ask(f"schedule 2026-11-{day}T02:00:00")
            by_db = {r["partition"]: r for r in nightly["runs"]}
            assert by_db["company"]["ran"]["table_cards"] == "upstream db_metadata changed", nightly
            assert "training_dataset" in by_db["company"]["ran"], nightly
            _assert_nothing_expensive(by_db["concert"])  # its export input did not change
            check_converged(site, drift, before, driver.ask("stale")["stale"])
        again = driver.ask("schedule 2026-11-30T02:00:00")
        for run in again["runs"]:
            _assert_nothing_expensive(run)
    finally:
        driver.close()


def test_a_converging_run_repeats_no_llm_generation(tmp_path: Path, openai_server: str, tiny_model: Path) -> None:
    """LLM planning and generation run once; a converging run with unchanged inputs reuses them
    even with the endpoint gone (any request would fail the step)."""
    config = tmp_path / "databases.yaml"
    config.write_text("databases:\n  - name: concert\n    demo: concert_singer\n    sample_budget: 6\n"
                      "    language: en\n    generator: llm\n", encoding="utf-8")
    llm_yaml = tmp_path / "llm.yaml"

    def endpoint(url: str) -> None:
        llm_yaml.write_text(json.dumps({"llm": {"base_url": url, "model": str(tiny_model), "max_tokens": 32,
                                                "timeout_s": 60, "max_retries": 0, "planner": {"attempts": 1},
                                                "generator": {"topup_rounds": 1}}}), encoding="utf-8")

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    site = Site(url="", dir=tmp_path, engine="sqlite", env=dict(
        os.environ, NL2SQL_DATABASES=str(config), DAGSTER_HOME=str(home), NL2SQL_HOME=str(tmp_path / "home"),
        NL2SQL_LLM_CONFIG=str(llm_yaml), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    endpoint(openai_server)
    first = _line(demo(site), "concert")
    assert EXPENSIVE <= _ran(first), first
    endpoint("http://127.0.0.1:9/v1")  # nothing listens there
    again = _line(demo(site), "concert")
    assert _ran(again) == {"db_connection", "db_metadata"} and "topic_plan" in again.split("reused")[1], again
