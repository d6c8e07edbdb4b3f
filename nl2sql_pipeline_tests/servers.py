"""Real PostgreSQL and MariaDB servers for tests: URLs from the environment with the defaults of
this project's machines; each test gets its own uniquely named database, dropped afterwards.

With CI=true a missing server is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("NL2SQL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("NL2SQL_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

HOW_TO = {
    "postgresql": (
        "start PostgreSQL on 127.0.0.1:5432 (Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
        "or set NL2SQL_TEST_PG_URL to a server where the user may CREATE DATABASE"
    ),
    "mysql": (
        "start MariaDB on 127.0.0.1:3306 (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) "
        "or set NL2SQL_TEST_MYSQL_URL to a server where the user may CREATE DATABASE"
    ),
}
START = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main start",
    "mysql": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}


def _reachable(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def require_server(url: str) -> str:
    """The server URL, starting the machine's own server if it is installed but stopped."""
    backend = make_url(url).get_backend_name()
    if _reachable(url):
        return url
    tool = "pg_ctlcluster" if backend == "postgresql" else "start-stop-daemon"
    if shutil.which(tool):
        subprocess.run(START[backend], shell=True, capture_output=True, timeout=60)
        for _ in range(30):
            if _reachable(url):
                return url
            time.sleep(1)
    message = f"{backend} test server not reachable at {make_url(url).render_as_string(hide_password=True)}: {HOW_TO[backend]}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # unreachable


@contextmanager
def scratch_database(server_url: str, prefix: str = "nl2sql_test") -> Iterator[str]:
    """Create a uniquely named database on the server, yield its URL, drop it afterwards."""
    url = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    backend = url.get_backend_name()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"create database {name}" + (" character set utf8mb4" if backend == "mysql" else ""))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        if backend == "postgresql":
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    f"select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}' and pid <> pg_backend_pid()"
                )
        from nl2sql_pipeline.core.connection import _cached_engine

        _cached_engine.cache_clear()  # release pooled connections to the scratch database
        with admin.connect() as conn:
            conn.exec_driver_sql(f"drop database if exists {name}")
        admin.dispose()


@contextmanager
def scratch_pg_role(pg_db: str, prefix: str, grants: list[str], options: str = "") -> Iterator[str]:
    """A uniquely named PostgreSQL login role with `grants` (`{role}` names it) on the scratch
    database `pg_db`; yields its URL and drops it afterwards, its sessions ended first."""
    engine = sa.create_engine(pg_db, isolation_level="AUTOCOMMIT")
    role = f"{prefix}{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"create role {role} login {options}")
        for grant in grants:
            conn.exec_driver_sql(grant.format(role=role))
    try:
        yield make_url(pg_db).set(username=role).render_as_string(hide_password=False)
    finally:
        from nl2sql_pipeline.core.connection import _cached_engine

        _cached_engine.cache_clear()
        with engine.connect() as conn:
            conn.exec_driver_sql(f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{role}'")
            conn.exec_driver_sql(f"drop owned by {role}")
            conn.exec_driver_sql(f"drop role {role}")
        engine.dispose()
