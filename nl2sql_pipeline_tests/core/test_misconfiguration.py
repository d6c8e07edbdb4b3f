"""Misconfigurations a new user makes, each met by a message that names the cause and the fix:
a misspelt schema, include patterns matching nothing, an empty database, a wrong password, an
LLM endpoint from the environment, and notes that `make demo` prints instead of burying them."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import probe
from nl2sql_pipeline.core.errors import ConfigError, DatabaseConnectionError
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests import pii_data
from nl2sql_pipeline_tests.conftest import REPO


def _both(db: DatabaseConfig, match: str) -> ConfigError:
    """Step 1 and step 2 fail alike (step 1 would otherwise call a bad schema a bad database)."""
    with pytest.raises(ConfigError, match=match):
        probe(db)
    with pytest.raises(ConfigError, match=match) as err:
        read_schema(db)
    return err.value


def test_misspelt_schema_on_postgres_lists_the_schemas(pg_db: str) -> None:
    pii_data.build(pg_db)
    err = _both(DatabaseConfig(name="erp", url=pg_db, schema="pubic"), "schema 'pubic' does not exist")
    assert "public" in err.cause and "(closest: public)" in err.fix


def test_misspelt_schema_on_sqlite_and_mariadb(tmp_path: Path, mysql_db: str) -> None:
    url, _, _ = pii_data.sqlite_database(tmp_path)
    err = _both(DatabaseConfig(name="crm", url=url, schema="mian"), "schema 'mian' does not exist")
    assert "main" in err.cause
    pii_data.build(mysql_db)
    db = sa.make_url(mysql_db).database
    err = _both(DatabaseConfig(name="crm", url=mysql_db, schema=db + "x"), f"schema '{db}x' does not exist")
    assert db in err.cause


def test_include_matching_nothing_names_the_pattern_and_closest_tables(tmp_path: Path) -> None:
    url, _, _ = pii_data.sqlite_database(tmp_path)
    err = _both(DatabaseConfig(name="crm", url=url, include=["customer", "order_*"]),
                "include pattern\\(s\\) 'customer', 'order_\\*' match no table")
    assert "closest table names: customers, orders" in err.cause and "case-sensitive" in err.fix
    with pytest.raises(ConfigError, match="exclude pattern\\(s\\) '\\*' remove every table"):
        read_schema(DatabaseConfig(name="crm", url=url, exclude=["*"]))


def test_some_patterns_matching_is_a_warning_note(tmp_path: Path) -> None:
    url, _, _ = pii_data.sqlite_database(tmp_path)
    meta = read_schema(DatabaseConfig(name="crm", url=url, include=["customers", "order"]))
    assert meta.table_names == ["customers"]
    assert "warning: include pattern 'order' matched no table (closest: orders)" in meta.notes


def test_empty_database_is_a_clear_error(tmp_path: Path, pg_db: str) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    err = _both(DatabaseConfig(name="empty", url=f"sqlite:///{path}"), "'empty' has no tables")
    assert "include" not in str(err) and "rejection" not in str(err)
    _both(DatabaseConfig(name="empty_pg", url=pg_db), "'empty_pg' has no tables \\(schemas: .*public")


def test_wrong_password_names_the_variable(mysql_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sa.create_engine(mysql_db)
    user, password = "nl2sql_pw_" + uuid.uuid4().hex[:10], uuid.uuid4().hex
    with engine.begin() as conn:
        conn.exec_driver_sql(f"create user '{user}'@'%%' identified by '{password}'")
    try:
        wrong = sa.make_url(mysql_db).set(username=user, password="not-" + password)
        monkeypatch.setenv("ERP_DB_URL", wrong.render_as_string(hide_password=False))
        with pytest.raises(DatabaseConnectionError, match="authentication failed") as err:
            probe(DatabaseConfig(name="erp", url_env="ERP_DB_URL"))
        assert "$ERP_DB_URL" in err.value.fix and password not in str(err.value)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"drop user '{user}'@'%%'")
        engine.dispose()


def test_llm_resource_takes_the_environment_unless_it_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nl2sql_pipeline.defs.settings import LLMResource

    config = tmp_path / "llm.yaml"
    config.write_text("llm:\n  base_url: http://127.0.0.1:8000/v1\n  model: from-file\n", encoding="utf-8")
    monkeypatch.setenv("NL2SQL_LLM_BASE_URL", "http://10.1.2.3:9000/v1")
    monkeypatch.setenv("NL2SQL_LLM_MODEL", "from-env")
    facts = LLMResource(config_path=str(config)).describe()
    assert (facts["llm_base_url"], facts["llm_model"]) == ("http://10.1.2.3:9000/v1", "from-env")
    own = LLMResource(config_path=str(config), model="from-resource").settings()
    assert (own.base_url, own.model) == ("http://10.1.2.3:9000/v1", "from-resource")


def test_demo_prints_stored_notes_and_ui_prints_its_configuration(tmp_path: Path, demo_dir: Path) -> None:
    shutil.copy(demo_dir / "concert_singer.sqlite", tmp_path / "shop.sqlite")
    (tmp_path / "shop.descriptions.yaml").write_text("tables:\n  singers:\n    comment: 歌手\n", encoding="utf-8")
    (tmp_path / "databases.yaml").write_text(
        "databases:\n  - name: shop\n    url: sqlite:///" + str(tmp_path / "shop.sqlite") + "\n"
        "    descriptions: shop.descriptions.yaml\n    include: [singer, stadium, concert*, singers_in_concert, venue]\n"
        "    sample_budget: 20\n    language: en\n  - name: erp\n    url_env: NL2SQL_TEST_UNSET_URL\n",
        encoding="utf-8")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "NL2SQL_DATABASES": str(tmp_path / "databases.yaml"), "DAGSTER_HOME": str(home),
           "NL2SQL_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("NL2SQL_TEST_UNSET_URL", None)
    shown = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.core.configuration"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"Configuration: {tmp_path / 'databases.yaml'}" in shown and f"NL2SQL_HOME: {tmp_path / 'home'}" in shown
    assert "database erp: $NL2SQL_TEST_UNSET_URL (NOT SET in this shell)" in shown
    done = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.run", "demo", "--partition", "shop"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db_metadata: descriptions: unknown table 'singers' ignored" in done.stdout
    assert "db_metadata: warning: include pattern 'venue' matched no table" in done.stdout


def test_demo_on_an_empty_database_says_so(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.sqlite").close()
    (tmp_path / "databases.yaml").write_text(
        f"databases:\n  - name: empty\n    url: sqlite:///{tmp_path / 'empty.sqlite'}\n", encoding="utf-8")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "NL2SQL_DATABASES": str(tmp_path / "databases.yaml"), "DAGSTER_HOME": str(home),
           "NL2SQL_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.run", "demo"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Database 'empty' has no tables" in out and "Fix: point the URL" in out
    assert "Traceback" not in out and "rejection" not in out
