"""The one configuration loader, on real files: where each file is found, and what its errors say
(the file, the key, what the key is for, and the fix)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pydantic import BaseModel

import nl2sql_pipeline.defs

from nl2sql_pipeline.core.config import DatabasesFile, load_databases
from nl2sql_pipeline.core.config_loader import REPO_ROOT, StrictModel, _models, _unwrapped
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.llm.settings import LLMSettings, load_llm_settings
from nl2sql_pipeline.core.serving.config import ServeConfig, load_serve_config
from nl2sql_pipeline.core.training.recipes import AnyRecipe, load_recipe
from nl2sql_pipeline.defs.settings import Orchestration, orchestration


@pytest.fixture
def fresh_orchestration() -> Iterator[Callable[[], Orchestration]]:
    orchestration.cache_clear()  # read once per process otherwise
    yield orchestration
    orchestration.cache_clear()


def _db(name: str) -> str:
    return f"databases:\n  - name: {name}\n    demo: sales_cn\n"


def _cron() -> str:
    orchestration.cache_clear()
    return orchestration().nightly_schedule.cron


# (environment variable, file name, a file holding a marker, the marker of the file that was read)
FILES: dict[str, tuple[str, str, Callable[[str], str], Callable[[], str]]] = {
    "databases": ("NL2SQL_DATABASES", "databases.yaml", _db, lambda: load_databases().databases[0].name),
    "llm": ("NL2SQL_LLM_CONFIG", "llm.yaml", lambda v: f"llm:\n  model: {v}\n", lambda: load_llm_settings().model),
    "serve": ("NL2SQL_SERVE_CONFIG", "serve.yaml", lambda v: f"adapter_name: {v}\n",
              lambda: load_serve_config().adapter_name),
    "orchestration": ("NL2SQL_ORCHESTRATION", "orchestration.yaml", lambda v: f"nightly_schedule: {{cron: '{v}'}}\n",
                      _cron),
}


@pytest.mark.parametrize("kind", sorted(FILES))
def test_search_order_is_variable_then_working_folder_then_packaged(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_orchestration: Any
) -> None:
    env, name, content, loaded = FILES[kind]
    for var in ("NL2SQL_LLM_BASE_URL", "NL2SQL_LLM_MODEL", "NL2SQL_VLLM_COMMAND", "NL2SQL_SERVE_URL", env):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    packaged = loaded()  # no ./configs here: the repository's file
    assert (REPO_ROOT / "configs" / name).exists()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / name).write_text(content("from_working_folder"), encoding="utf-8")
    assert loaded() == "from_working_folder" != packaged
    chosen = tmp_path / "elsewhere.yaml"
    chosen.write_text(content("from_variable"), encoding="utf-8")
    monkeypatch.setenv(env, str(chosen))
    assert loaded() == "from_variable"


@pytest.mark.parametrize("kind", sorted(FILES))
def test_a_named_file_that_is_missing_is_an_error_naming_the_variable(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_orchestration: Any
) -> None:
    env, name, _, loaded = FILES[kind]
    monkeypatch.setenv(env, str(tmp_path / "typo.yaml"))
    with pytest.raises(ConfigError) as err:
        loaded()
    text = str(err.value)
    assert f"{tmp_path / 'typo.yaml'} does not exist" in text and f"Fix: create it (copy configs/{name}) or point {env}" in text


def test_optional_files_nobody_named_fall_back_to_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_orchestration: Any
) -> None:
    monkeypatch.setattr("nl2sql_pipeline.core.config_loader.PACKAGED_CONFIGS", tmp_path / "nothing_packaged")
    for var in ("NL2SQL_LLM_CONFIG", "NL2SQL_ORCHESTRATION", "NL2SQL_LLM_BASE_URL", "NL2SQL_LLM_MODEL",
                "NL2SQL_DATABASES", "NL2SQL_SERVE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_llm_settings() == LLMSettings()
    assert orchestration() == Orchestration()
    with pytest.raises(ConfigError, match="llm.yaml does not exist"):  # named by the caller: not optional
        load_llm_settings(tmp_path / "llm.yaml")
    for required in (load_databases, load_serve_config):  # the pipeline cannot run on defaults
        with pytest.raises(ConfigError, match=f"{tmp_path / 'nothing_packaged'}.* does not exist"):
            required()


LOADERS: dict[str, Callable[[Path], object]] = {
    "databases": load_databases, "llm": load_llm_settings, "serve": load_serve_config, "recipe": load_recipe,
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_yaml_syntax_error_names_the_file_and_line(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.yaml"
    path.write_text("a: 1\nb: [1, 2\nc: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        LOADERS[kind](path)
    text = str(err.value)
    assert f"{path} is not valid YAML" in text and "line 3" in text and "Fix: fix the YAML syntax" in text


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_file_that_is_not_a_mapping_says_so(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path} holds a list, not a mapping of keys\. Fix: write it as `key: value`"):
        LOADERS[kind](path)


# (loader, file content, the key as shown, the rest of its line)
BAD_KEYS = [
    (load_databases, _db("a") + "    sample_budgt: 3\n", "databases.0.sample_budgt",
     "Extra inputs are not permitted (did you mean sample_budget: NL/SQL pairs to generate for this database?)"),
    (load_databases, _db("a") + "    validation: {timeout_s: soon}\n", "databases.0.validation.timeout_s",
     "Input should be a valid number, unable to parse string as a number "
     "(seconds a validation query may run before it is stopped)"),
    (load_databases, _db("a") + "    schema: [public]\n", "databases.0.schema",
     "Input should be a valid string (the database schema to read)"),
    (load_databases, _db("a") + "    planning: {sizes: 3}\n", "databases.0.planning.sizes",
     "Extra inputs are not permitted (known keys: max_tables, min_per_topic, min_tables)"),
    (load_llm_settings, "llm:\n  planner: {attempt: 2}\n", "planner.attempt",
     "Extra inputs are not permitted (did you mean attempts: LLM tries before the offline plan takes over; or "
     "template: planner prompt: zh (the reference design's), en, or auto (the database's language)?)"),
    (load_llm_settings, "llm:\n  json_mode: yaml\n", "json_mode", "Input should be 'json_schema', 'json_object' or 'off'"),
    (load_serve_config, "check: {concurrency: 0}\n", "check.concurrency",
     "Input should be greater than or equal to 1 (probe requests in flight at once)"),
    (load_recipe, "backend: peft\nlearning_rate: 1.0e-4\nnum_train_epochs: 1\nper_device_train_batch_size: 1\n"
     "lora_rank: 8\nlora_alpha: 16\ntarget_modules: [q_proj]\ngeneration: {max_new_token: 9}\n",
     "generation.max_new_token",
     "Extra inputs are not permitted (did you mean max_new_tokens: answer token limit of a prediction?)"),
    (load_recipe, "backend: grpo\nmax_steps: 0\nreward: {weights: {exec: 1}}\n", "reward.weights.exec",
     "Extra inputs are not permitted (did you mean execution: weight of the execution verdict's credit?)"),
    (load_recipe, "backend: trainer9000\n", "backend", "Input tag 'trainer9000' found using 'backend' does not match"),
]


@pytest.mark.parametrize(("load", "content", "key", "line"), BAD_KEYS, ids=[k for _, _, k, _ in BAD_KEYS])
def test_a_bad_key_is_named_with_its_help_and_the_fix(
    load: Callable[[Path], object], content: str, key: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NL2SQL_VLLM_COMMAND", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    text = str(err.value)
    assert text.startswith("Invalid ") and f" in {path}:\n" in text
    assert f"\n  - {key}: {line}" in text
    assert "Fix: correct the keys named above (see configs/" in text


def test_orchestration_errors_name_file_key_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_orchestration: Any
) -> None:
    path = tmp_path / "orchestration.yaml"
    path.write_text("schema_drift: {interval_seconds: 5}\n", encoding="utf-8")
    monkeypatch.setenv("NL2SQL_ORCHESTRATION", str(path))
    with pytest.raises(ConfigError) as err:
        orchestration()
    assert (f"Invalid orchestration settings in {path}:\n  - schema_drift.interval_seconds: Input should be greater "
            "than or equal to 30 (seconds between ticks; one catalog read per database a tick)") in str(err.value)
    assert "Fix: correct the keys named above (see configs/orchestration.yaml)." in str(err.value)


def test_rejected_values_are_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "databases.yaml"
    path.write_text(_db("a") + "    url_env: {secret: hunter22}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="databases.0.url_env: Input should be a valid string") as err:
        load_databases(path)
    assert "hunter22" not in str(err.value)


def _fields_without_help(model: type[BaseModel], seen: set[type]) -> Iterator[str]:
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        if not info.description:
            yield f"{model.__name__}.{name}"
        inner = [arg for alt in _unwrapped(info.annotation) for arg in (alt, *getattr(alt, "__args__", ()))]
        for sub in (m for t in inner for m in _models(t)):
            yield from _fields_without_help(sub, seen)


def _dagster_settings() -> list[type]:
    """Every run-config class and resource defined in defs/, found by walking the package."""
    found: list[type] = []
    for info in pkgutil.iter_modules(nl2sql_pipeline.defs.__path__, "nl2sql_pipeline.defs."):
        module = importlib.import_module(info.name)
        found += [cls for cls in vars(module).values() if isinstance(cls, type) and cls.__module__ == info.name
                  and issubclass(cls, dg.Config | dg.ConfigurableResource)]
    return found


def test_every_user_facing_config_field_has_a_description() -> None:
    """The configuration files' models, the run-config classes and the resources' settings: the
    launchpad and the errors show these descriptions."""
    roots: list[Any] = [DatabasesFile, LLMSettings, ServeConfig, Orchestration, *_models(AnyRecipe),
                        *_dagster_settings()]
    assert len(roots) > 12  # the four run configs and four resources of defs/ were found
    seen: set[type] = set()
    missing = [name for root in roots for name in _fields_without_help(root, seen)]
    assert missing == []
    assert all(issubclass(m, StrictModel) for m in seen if m.__module__.startswith("nl2sql_pipeline.core"))
