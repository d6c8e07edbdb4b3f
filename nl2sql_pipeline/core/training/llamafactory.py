"""LLaMA-Factory backend: write the run's YAML, run `llamafactory-cli` exactly as a user would, stream its log.

Each run leaves `<output_dir>/<command>.yaml` and `<output_dir>/<command>.log` behind, so a failed run
can be reproduced by hand with the command printed in the error.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from nl2sql_pipeline.core.training import dataset_dir as ds
from nl2sql_pipeline.core.training.recipes import LlamaFactoryRecipe, PeftRecipe, check_runnable
from nl2sql_pipeline.core.training.results import AdapterResult, LossPoint, Progress, TrainingError

SHIM_DIR = Path(__file__).with_name("lf_shim")  # holds the torchaudio stand-in; see its docstring
_TQDM = re.compile(r"(\d+)/(\d+) \[")
_PARAMS = re.compile(r"trainable params: ([\d,]+) \|\| all params: ([\d,]+)")
_EXAMPLES = re.compile(r"Num examples = ([\d,]+)")

OnProgress = Callable[[Progress], None]


def cli_path() -> str:
    """`llamafactory-cli` of this interpreter's environment (falls back to PATH)."""
    beside = Path(sys.executable).with_name("llamafactory-cli")
    found = str(beside) if beside.exists() else shutil.which("llamafactory-cli")
    if not found:
        raise TrainingError(
            "llamafactory-cli is not installed in this environment.",
            "install the training extras: `pip install -c constraints/torch-cpu.txt '.[train]'` and "
            "`pip install --no-deps llamafactory==0.9.5` (see README 'Training').",
        )
    return found


def subprocess_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for `llamafactory-cli`: offline, no trackers, and the torchaudio stand-in if needed."""
    env = dict(os.environ if base is None else base)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("WANDB_DISABLED", "true")
    # The run's working folder is its output folder, so relative entries are made absolute.
    paths = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not real_torchaudio():
        paths.insert(0, str(SHIM_DIR))
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def real_torchaudio() -> bool:
    """Whether a real torchaudio is importable (the stand-in itself, if already imported, does not count)."""
    try:
        spec = importlib.util.find_spec("torchaudio")
    except ValueError:  # a module in sys.modules without a spec
        return False
    return spec is not None and not str(spec.origin or "").startswith(str(SHIM_DIR))


def _changed_env(env: Mapping[str, str]) -> str:
    keys = ("PYTHONPATH", "HF_HUB_OFFLINE", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
    return " ".join(f"{k}={shlex.quote(env[k])}" for k in keys if k in env and env[k] != os.environ.get(k))


def run_cli(subcommand: str, config: dict[str, Any], output_dir: Path, *, on_progress: OnProgress | None = None,
            on_line: Callable[[str], None] | None = None, tail_lines: int = 40) -> str:
    """Write `config` as `<output_dir>/<subcommand>.yaml`, run `llamafactory-cli <subcommand>` on it.

    Streams progress (step/total from the progress bar; loss and learning rate from the Trainer's log
    dicts) to `on_progress`, keeps the full log in `<output_dir>/<subcommand>.log`, and returns it.
    A non-zero exit raises TrainingError with the last lines and the command to rerun by hand.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    config_path = output_dir / f"{subcommand}.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    log_path = output_dir / f"{subcommand}.log"
    env = subprocess_env()
    command = [cli_path(), subcommand, str(config_path)]
    tail: deque[str] = deque(maxlen=tail_lines)
    progress = Progress()
    with log_path.open("w", encoding="utf-8") as log, subprocess.Popen(
        command, cwd=output_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        for raw in _lines(proc.stdout):
            log.write(raw + "\n")
            progress = _parse_line(raw, progress, on_progress, int(config.get("logging_steps", 1)))
            if on_line:
                on_line(raw)
            if raw.strip() and not _TQDM.search(raw):  # progress-bar redraws would push the traceback out
                tail.append(raw)
        rc = proc.wait()
    if rc != 0:
        rerun = f"cd {shlex.quote(str(output_dir))} && {_changed_env(env)} {shlex.join(command)}".replace("&&  ", "&& ")
        raise TrainingError(
            f"`llamafactory-cli {subcommand}` exited with code {rc}. Last lines of its output:\n"
            + "\n".join(tail) + "\n",
            f"read the error above (full log: {log_path}); reproduce it by hand with:\n  {rerun}",
        )
    return log_path.read_text(encoding="utf-8")


def _lines(stream) -> Any:
    """Lines of a byte stream, splitting on \\r too (progress bars redraw with carriage returns)."""
    buf = b""
    while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
        buf += chunk
        *complete, buf = re.split(rb"\r\n|\r|\n", buf)
        for line in complete:
            yield line.decode("utf-8", "replace")
    if buf:
        yield buf.decode("utf-8", "replace")


def _parse_line(line: str, last: Progress, on_progress: OnProgress | None, logging_steps: int) -> Progress:
    text = line.strip()
    if text.startswith("{'loss'"):
        try:
            logged = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return last
        # The Trainer prints its log dict before the progress bar redraws, so the bar lags by a step:
        # the step of a loss line is the previous logged step plus logging_steps.
        step = min(last.total or 1 << 62, (last.logged_step or 0) + logging_steps)
        last = last.model_copy(update={
            "step": step, "logged_step": step,
            "loss": float(logged["loss"]),
            "learning_rate": float(logged["learning_rate"]) if "learning_rate" in logged else None,
            "epoch": float(logged["epoch"]) if "epoch" in logged else None,
        })
        if on_progress:
            on_progress(last)
    elif m := _TQDM.search(text):
        last = last.model_copy(update={"step": int(m.group(1)), "total": int(m.group(2))})
    return last


def read_trainer_log(output_dir: Path) -> list[LossPoint]:
    """LLaMA-Factory's `trainer_log.jsonl`: one line per logging step with loss and learning rate."""
    path = Path(output_dir) / "trainer_log.jsonl"
    if not path.exists():
        return []
    points = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("loss") is not None:
            points.append(LossPoint(step=row["current_steps"], loss=row["loss"], learning_rate=row.get("lr"),
                                    epoch=row.get("epoch")))
    return points


def train_config(recipe: LlamaFactoryRecipe, *, model_path: Path, dataset_dir: Path, datasets: list[str],
                 output_dir: Path) -> dict[str, Any]:
    """The YAML for `llamafactory-cli train`: every key of the reference command plus run bookkeeping."""
    config: dict[str, Any] = {
        "stage": recipe.stage, "do_train": True, "model_name_or_path": str(model_path),
        "finetuning_type": recipe.finetuning_type, "template": recipe.template,
        "dataset_dir": str(dataset_dir), "dataset": ",".join(datasets), "cutoff_len": recipe.cutoff_len,
        "learning_rate": recipe.learning_rate, "num_train_epochs": recipe.num_train_epochs,
        "per_device_train_batch_size": recipe.per_device_train_batch_size,
        "gradient_accumulation_steps": recipe.gradient_accumulation_steps,
        "lr_scheduler_type": recipe.lr_scheduler_type, "bf16": recipe.bf16,
        "lora_rank": recipe.lora_rank, "lora_alpha": recipe.lora_alpha, "lora_dropout": recipe.lora_dropout,
        "lora_target": recipe.lora_target,
        "output_dir": str(output_dir), "overwrite_output_dir": True, "logging_steps": recipe.logging_steps,
        "save_steps": recipe.save_steps, "seed": recipe.seed, "report_to": "none", "plot_loss": False,
    }
    if recipe.max_steps:
        config["max_steps"] = recipe.max_steps
    return {**config, **recipe.extra_args}


def train(recipe: LlamaFactoryRecipe, *, recipe_name: str, model_path: Path, dataset_dir: Path, output_dir: Path,
          on_progress: OnProgress | None = None, cuda: bool | None = None) -> AdapterResult:
    """Run `llamafactory-cli train` for the recipe on the exported dataset; the adapter lands in `output_dir`."""
    check_runnable(recipe, cuda=cuda)
    names = ds.dataset_names(dataset_dir, "train", recipe.dataset_format)
    expected = ds.require_examples(dataset_dir, names)
    config = train_config(recipe, model_path=model_path, dataset_dir=Path(dataset_dir), datasets=names,
                          output_dir=Path(output_dir))
    log = run_cli("train", config, output_dir, on_progress=on_progress)
    adapter = Path(output_dir)
    if not (adapter / "adapter_model.safetensors").exists():
        raise TrainingError(f"`llamafactory-cli train` exited 0 but wrote no adapter in {adapter}.",
                            f"read {adapter / 'train.log'}; check that finetuning_type is lora.")
    losses = read_trainer_log(adapter)
    notes = []
    seen = _EXAMPLES.search(log)
    if seen and int(seen.group(1).replace(",", "")) < expected:
        notes.append(f"LLaMA-Factory trained on {seen.group(1)} of {expected} rows: it skipped malformed ones")
    params = _PARAMS.search(log)
    return AdapterResult(
        adapter_dir=str(adapter), base_model=str(model_path), backend="llamafactory", recipe=recipe_name,
        dataset_dir=str(dataset_dir), dataset_version=ds.dataset_version(dataset_dir), datasets=names,
        num_examples=int(seen.group(1).replace(",", "")) if seen else expected, losses=losses,
        final_loss=losses[-1].loss if losses else None, best_loss=min((p.loss for p in losses), default=None),
        trainable_params=int(params.group(1).replace(",", "")) if params else None,
        all_params=int(params.group(2).replace(",", "")) if params else None,
        global_step=losses[-1].step if losses else 0, config_path=str(adapter / "train.yaml"),
        command=["llamafactory-cli", "train", str(adapter / "train.yaml")], notes=notes,
    )


def export_merged(recipe: LlamaFactoryRecipe | PeftRecipe, *, model_path: Path, adapter_dir: Path, export_dir: Path,
                  work_dir: Path) -> Path:
    """`llamafactory-cli export`: base + LoRA merged into a standalone model folder (for servers without LoRA)."""
    config = {
        "model_name_or_path": str(model_path), "adapter_name_or_path": str(adapter_dir),
        "template": recipe.template, "finetuning_type": "lora", "export_dir": str(export_dir),
        "export_device": "cpu", "export_legacy_format": False,
    }
    run_cli("export", config, work_dir)
    if not (Path(export_dir) / "config.json").exists():
        raise TrainingError(f"`llamafactory-cli export` wrote no model in {export_dir}.", f"read {work_dir}/export.log.")
    return Path(export_dir)
