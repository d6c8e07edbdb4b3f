"""Every bad input of steps 1-2 and the configuration gets an error naming the cause and the fix,
and never the password."""

import socket
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.config import DatabaseConfig, load_databases, parse_databases
from nl2sql_pipeline.core.connection import probe
from nl2sql_pipeline.core.errors import ConfigError, DatabaseConnectionError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_sqlite_file_is_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(DatabaseConnectionError, match="does not exist") as err:
        probe(DatabaseConfig(name="x", url=f"sqlite:///{missing}"))
    assert "Fix:" in str(err.value)
    assert not missing.exists()


def test_wrong_port_names_host_and_port(monkeypatch: pytest.MonkeyPatch, pg_server: str) -> None:
    port = _free_port()
    password = "s3cretpw"
    monkeypatch.setenv("BAD_URL", f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{port}/postgres")
    with pytest.raises(DatabaseConnectionError, match=f"cannot reach the server at 127.0.0.1:{port}") as err:
        probe(DatabaseConfig(name="x", url_env="BAD_URL"))
    assert password not in str(err.value)
    assert "server is running" in str(err.value)


def test_wrong_password_mariadb(mysql_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = sa.create_engine(mysql_server)
    with admin.begin() as conn:
        conn.exec_driver_sql("create user if not exists 'nl2sql_pw_test'@'%%' identified by 'right-pass'")
        conn.exec_driver_sql("create user if not exists 'nl2sql_pw_test'@'localhost' identified by 'right-pass'")
    try:
        url = sa.make_url(mysql_server).set(username="nl2sql_pw_test", password="Wr0ngPassw0rd")
        monkeypatch.setenv("BAD_URL", url.render_as_string(hide_password=False))
        with pytest.raises(DatabaseConnectionError, match="authentication failed") as err:
            probe(DatabaseConfig(name="x", url_env="BAD_URL"))
        assert "Wr0ngPassw0rd" not in str(err.value)
        assert "password" in err.value.fix
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql("drop user if exists 'nl2sql_pw_test'@'%%'")
            conn.exec_driver_sql("drop user if exists 'nl2sql_pw_test'@'localhost'")
        admin.dispose()


def test_unknown_database_on_server(pg_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAD_URL", sa.make_url(pg_server).set(database="no_such_db_xyz").render_as_string(hide_password=False))
    with pytest.raises(DatabaseConnectionError, match="'no_such_db_xyz' does not exist"):
        probe(DatabaseConfig(name="x", url_env="BAD_URL"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [("nosuchdb+driver://u@h/db", "no driver"), ("mssql+pymssql://u@127.0.0.1/db", "nl2sql-pipeline\\[mssql\\]")],
)
def test_unknown_or_missing_driver(url: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # hidden even where the mssql extra is installed (None in sys.modules makes its import fail),
    # so the missing-driver path runs everywhere instead of skipping
    monkeypatch.setitem(sys.modules, "pymssql", None)
    with pytest.raises(DatabaseConnectionError, match=expected):
        probe(DatabaseConfig(name="x", url=url))


def test_unset_url_env() -> None:
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE_XYZ is not set"):
        probe(DatabaseConfig(name="x", url_env="NOT_SET_ANYWHERE_XYZ"))


FAKE_PASSWORD = "hunter22"  # a config that writes a password into its URL must be refused, unechoed


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"databases": [{"name": "a", "url": "sqlite:///x", "sample_budgt": 3}]}, "databases.0.sample_budgt: Extra inputs"),
        ({"databases": [{"name": "a"}]}, "give exactly one of url, url_env"),
        ({"databases": [{"name": "a", "url": f"postgresql://u:{FAKE_PASSWORD}@h/db"}]}, "put the URL in an environment variable"),
        ({"databases": [{"name": "a", "demo": "concert_singer"}, {"name": "a", "demo": "sales_cn"}]}, "repeated: a"),
        ({"databases": [{"name": "bad name!", "demo": "sales_cn"}]}, "partition key"),
        ({"databases": [{"name": "a", "demo": "sales_cn", "planning": {"min_tables": 4, "max_tables": 2}}]}, "max_tables"),
        ({"databases": []}, "databases"),
    ],
)
def test_config_errors_name_key_and_fix(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_databases(data, "/etc/x/databases.yaml")
    text = str(err.value)
    assert expected in text
    assert "/etc/x/databases.yaml" in text and "Fix:" in text
    assert FAKE_PASSWORD not in text


def test_config_file_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NL2SQL_DATABASES"):
        load_databases(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("databases: [\n  - name: a\n    url: x\n  oops", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_databases(bad)


def test_descriptions_relative_to_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "conf" / "dbs.yaml"
    cfg.parent.mkdir()
    cfg.write_text("databases:\n  - name: a\n    demo: sales_cn\n    descriptions: desc.yaml\n", encoding="utf-8")
    assert load_databases(cfg).get("a").descriptions == cfg.parent / "desc.yaml"
    with pytest.raises(ConfigError, match="No database named 'b'"):
        load_databases(cfg).get("b")
