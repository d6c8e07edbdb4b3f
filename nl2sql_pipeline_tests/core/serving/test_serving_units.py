"""Serving pieces that need no model server: config, the launch command, log parsing, dev items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.serving.config import load_serve_config, parse_serve_config
from nl2sql_pipeline.core.serving.items import dev_probe_items
from nl2sql_pipeline.core.serving.server import (
    ServingError,
    base_model_id,
    fatal_error,
    serve_command,
    served_endpoint,
    vllm_lora_rank,
)
from nl2sql_pipeline.core.training.dataset_dir import DatasetError


def adapter(tmp_path: Path, rank: int) -> Path:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "lora_alpha": 2 * rank}))
    return folder


def test_repository_serve_yaml_is_the_reference_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NL2SQL_VLLM_COMMAND", raising=False)
    monkeypatch.delenv("NL2SQL_SERVE_URL", raising=False)
    config = load_serve_config()
    assert config.port == 8000 and config.launch_command == ["vllm"] and config.attach_url is None


def test_serve_command_is_vllm_serve_with_the_adapter(tmp_path: Path) -> None:
    config = parse_serve_config({"port": 8011, "tensor_parallel_size": 2, "extra_args": ["--dtype", "bfloat16"]})
    cmd = serve_command(config, "/models/qwen3-4b", adapter(tmp_path, 12))
    assert cmd[:3] == ["vllm", "serve", "/models/qwen3-4b"]
    joined = " ".join(cmd)
    for part in ("--enable-lora", f"--lora-modules nl2sql={tmp_path / 'adapter'}", "--max-lora-rank 16",
                 "--port 8011", "--tensor-parallel-size 2", "--max-model-len 4096", "--gpu-memory-utilization 0.9"):
        assert part in joined
    assert cmd[-2:] == ["--dtype", "bfloat16"]


def test_lora_rank_rounds_up_to_what_vllm_accepts() -> None:
    assert [vllm_lora_rank(r) for r in (1, 4, 8, 9, 16, 64, 300)] == [1, 8, 8, 16, 16, 64, 320]
    with pytest.raises(ServingError, match="exceeds"):
        vllm_lora_rank(1024)


def test_environment_overrides_command_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("port: 8001\n")
    monkeypatch.setenv("NL2SQL_VLLM_COMMAND", "'/opt/my venv/bin/python' launcher.py")
    monkeypatch.setenv("NL2SQL_SERVE_URL", "http://gpu-box:8000/v1/")
    config = load_serve_config(path)
    assert config.launch_command == ["/opt/my venv/bin/python", "launcher.py"]
    assert config.attach_url == "http://gpu-box:8000/v1"


@pytest.mark.parametrize(
    "data, named",
    [({"port": 70000}, "port"), ({"attach_url": "gpu-box:8000"}, "attach_url"), ({"max_lora": 8}, "max_lora"),
     ({"launch_command": []}, "launch_command"), ({"check": {"concurrency": 0}}, "check.concurrency")],
)
def test_bad_config_names_the_key(data: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=rf"(?s){named}.*Fix: correct the keys"):
        parse_serve_config(data, "serve.yaml")


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_serve_config({"api_key_env": "MY_VLLM_KEY"})
    monkeypatch.delenv("MY_VLLM_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_VLLM_KEY, which is not set.*Fix: export MY_VLLM_KEY"):
        config.api_key()
    monkeypatch.setenv("MY_VLLM_KEY", "s3cret")
    assert config.api_key() == "s3cret" and "s3cret" not in config.model_dump_json()


def test_missing_config_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist.*NL2SQL_SERVE_CONFIG"):
        load_serve_config(tmp_path / "nope.yaml")


def test_fatal_error_is_the_api_servers_own_traceback() -> None:
    worker = "(Worker pid=7) ERROR Traceback (most recent call last):\n(Worker pid=7) ERROR ValueError: x\n"
    assert fatal_error("(APIServer pid=1) INFO starting\n" + worker) is None
    log = worker + "Traceback (most recent call last):\n  File \"x.py\"\nValueError: Call to add_lora method failed\n"
    assert fatal_error(log) == "ValueError: Call to add_lora method failed"


def test_base_model_is_the_entry_without_parent() -> None:
    models = [{"id": "nl2sql", "parent": "/m/base"}, {"id": "/m/base", "parent": None}]
    assert base_model_id(models, "nl2sql") == "/m/base"
    assert base_model_id([{"id": "nl2sql", "parent": "/m/base"}], "nl2sql") is None


def test_attaching_to_nothing_is_a_clear_error(tmp_path: Path) -> None:
    config = parse_serve_config({"attach_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(ServingError, match="No OpenAI-compatible server answers at http://127.0.0.1:9/v1/models"):
        with served_endpoint(config, "base", tmp_path, tmp_path):
            pass


def _dataset(folder: Path, dev_rows: int, prompts: list[dict]) -> Path:
    folder.mkdir()
    rows = [{"database": "db", "split": "train", "question": "t", "sql": "SELECT 0"}]
    rows += [{"database": "db", "split": "dev", "topic": "x", "hardness": "easy", "question": f"q{i}",
              "sql": f"SELECT {i}"} for i in range(dev_rows)]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "sql_dev_alpaca.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    (folder / "dataset_info.json").write_text(json.dumps({"sql_dev_alpaca": {"file_name": "sql_dev_alpaca.jsonl"}}))
    return folder


def test_dev_items_pair_audit_rows_with_prompts(tmp_path: Path) -> None:
    prompts = [{"instruction": "Write SQL.", "input": f"schema\nq{i}", "output": f"SELECT {i}", "system": "sys"}
               for i in range(3)]
    items = dev_probe_items(_dataset(tmp_path / "d", 3, prompts), limit=2)
    assert [i.gold_sql for i in items] == ["SELECT 0", "SELECT 1"]
    assert items[1].messages == [{"role": "system", "content": "sys"},
                                 {"role": "user", "content": "Write SQL.\nschema\nq1"}]


def test_dev_items_refuse_misaligned_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="2 dev rows but the dev prompt files hold 1.*Fix: re-export"):
        dev_probe_items(_dataset(tmp_path / "d", 2, [{"instruction": "x", "input": "", "output": "y"}]))
