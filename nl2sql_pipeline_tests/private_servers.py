"""Private PostgreSQL and MariaDB instances on free loopback ports, for tests that need a
server-wide setting (shared_preload_libraries, performance_schema) the shared servers must
never get. Each lives in its own temporary folder and is stopped and removed afterwards.

A missing server binary skips the test, or fails it with CI=true.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from nl2sql_pipeline_tests.llm_servers import free_port
from nl2sql_pipeline_tests.servers import IN_CI


def _missing(what: str) -> None:
    message = f"{what} is not installed here (apt-get install postgresql / mariadb-server)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _folder(owner: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"nl2sql_{owner}_", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(root, owner)
    return root


def _wait(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("select 1")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            engine.dispose()


@contextmanager
def private_postgres(*settings: str) -> Iterator[str]:
    """A fresh PostgreSQL cluster started with `-c setting=value` options; yields a superuser URL."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        _missing("PostgreSQL's initdb")
    bindir = Path(binaries[-1]).parent
    root = _folder("postgres")
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    port = free_port()
    options = " ".join([f"-p {port}", f"-k {root}", "-c listen_addresses=127.0.0.1", "-c fsync=off",
                        "-c shared_buffers=16MB", "-c max_connections=20", *(f"-c {s}" for s in settings)])
    try:
        subprocess.run([*as_owner, str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
        subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-o", options, "-l",
                        str(root / "log"), "-w", "start"], check=True, capture_output=True, timeout=120)
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
        _wait(url)
        yield url
    finally:
        subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def private_mariadb(*options: str) -> Iterator[str]:
    """A fresh MariaDB data directory and server with extra `--option`s; yields a root URL."""
    server, install = shutil.which("mariadbd") or "/usr/sbin/mariadbd", shutil.which("mariadb-install-db")
    if not install or not Path(server).exists():
        _missing("MariaDB (mariadbd, mariadb-install-db)")
    root = _folder("mysql")
    port = free_port()
    process = None
    user = ["--user=mysql"] if os.geteuid() == 0 else []  # mariadbd refuses to run as root
    try:
        subprocess.run([install, "--no-defaults", *user, f"--datadir={root / 'data'}", "--skip-test-db",
                        "--auth-root-authentication-method=normal"], check=True, capture_output=True, timeout=180)
        with open(root / "server.log", "wb") as log:
            process = subprocess.Popen(
                [server, "--no-defaults", *user, f"--datadir={root / 'data'}", "--bind-address=127.0.0.1",
                 f"--port={port}", f"--socket={root / 'sock'}", "--character-set-server=utf8mb4",
                 "--innodb-buffer-pool-size=16M", "--skip-name-resolve", *options],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"mysql+pymysql://root@127.0.0.1:{port}/mysql"
        _wait(url)
        yield url
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)
