from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nl2sql_pipeline_tests.servers import MYSQL_URL, PG_URL, require_server, scratch_database

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SPIDER_DE = DATA / "spider_de"


@pytest.fixture(scope="session", autouse=True)
def _isolated_session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped fixtures run before any test's own home exists (a module's
    validated demo samples, say): they write under the session's temporary folder instead of the
    checkout's artifacts/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NL2SQL_HOME", str(tmp_path_factory.mktemp("nl2sql_session_home")))
        yield


def with_stand_ins(assets: list) -> list:
    """`assets` plus a spec for each upstream they declare that the test does not build: Dagster
    needs every input's asset in the graph; never materialized, an optional input loads None."""
    import dagster as dg

    built = {key for a in assets for key in a.keys}
    missing: dict = {}
    for a in assets:  # partitioned like the asset that reads it, so it loads per partition
        for key in a.dependency_keys - built:
            missing.setdefault(key, a.partitions_def)
    return [*assets, *(dg.AssetSpec(key, partitions_def=p) for key, p in sorted(missing.items(), key=lambda kv: str(kv[0])))]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes artifacts under its own NL2SQL_HOME, never into the checkout."""
    monkeypatch.setenv("NL2SQL_HOME", str(tmp_path_factory.mktemp("nl2sql_home")))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nl2sql_pipeline.demo import ensure_demo_database

    folder = tmp_path_factory.mktemp("demo")
    for name in ("concert_singer", "sales_cn"):
        ensure_demo_database(name, folder)
    return folder


@pytest.fixture(scope="session")
def pg_server() -> str:
    return require_server(PG_URL)


@pytest.fixture(scope="session")
def mysql_server() -> str:
    return require_server(MYSQL_URL)


@pytest.fixture
def pg_db(pg_server: str) -> Iterator[str]:
    with scratch_database(pg_server) as url:
        yield url


@pytest.fixture
def mysql_db(mysql_server: str) -> Iterator[str]:
    with scratch_database(mysql_server) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init Qwen3 chat model (~150k parameters, ChatML tokenizer) built offline in seconds."""
    from nl2sql_pipeline.core.training.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "qwen3-tiny")


@pytest.fixture(scope="session")
def openai_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`transformers serve` with the tiny model on a loopback port (free text: ignores response_format)."""
    from nl2sql_pipeline_tests.llm_servers import transformers_serve

    with transformers_serve(tiny_model, tmp_path_factory.mktemp("openai_server")) as url:
        yield url
