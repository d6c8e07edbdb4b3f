"""Training throughput on a CUDA GPU: both recipes for a few steps on random-init models of the real shapes.

- `qwen3_4b_lora` (LLaMA-Factory, the reference command: bf16, LoRA r8/alpha16 on all linear layers,
  batch 8 x grad-accum 8, cutoff 2048) through the project's own runner, i.e. a real `llamafactory-cli train`;
- `deepseek_coder_6.7b_peft` (transformers Trainer + peft, r16/alpha32 on the 7 projections,
  batch 4 x grad-accum 4) in this process.

No weights can be downloaded on the GPU machines, so each model is random-init at the real shape
(nl2sql_pipeline.core.training.random_model). Examples are NL2SQL-sized (schema + question + SQL,
~`--tokens` tokens each). Tokens/s is counted over steps 2..N from the streamed progress (the first
step pays for warm-up); peak memory is the highest `nvidia-smi` reading during the run (CUDA context
included) and, in-process, torch's max allocated.

    python benchmarks/gpu_train.py [--steps 10] [--only qwen3_4b_lora|deepseek_coder_6.7b_peft] [--work DIR]
    python benchmarks/gpu_train.py --tiny      # the same flow on CPU with a toy model, to check the script

Needs torch with CUDA, transformers, peft and (for the Qwen3 recipe) llamafactory in the running
interpreter; nothing is installed or downloaded. Exit code 2 with the reason when that is missing.
Prints a markdown table and writes `<work>/gpu_train.json`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nl2sql_pipeline.core.training import llamafactory, peft_trainer  # noqa: E402
from nl2sql_pipeline.core.training.random_model import build_random_model  # noqa: E402
from nl2sql_pipeline.core.training.recipes import load_recipe  # noqa: E402
from nl2sql_pipeline.core.training.results import Progress  # noqa: E402

RUNS = {"qwen3_4b_lora": "qwen3-4b", "deepseek_coder_6.7b_peft": "deepseek-coder-6.7b"}
REFERENCE = "reference: trainable ~40M / 6.7B = 0.59% for DeepSeek-Coder r16"


def preflight(tiny: bool, modules: tuple[str, ...] = ("transformers", "peft")) -> str | None:
    """Why this machine cannot run the benchmark (no torch, no GPU, a missing package), or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not tiny and not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed in {sys.executable} (and nothing can be downloaded here)"
    return None


class GpuMemoryPoller:
    """Highest `nvidia-smi` memory.used (MiB) seen while running (covers subprocesses too)."""

    def __init__(self) -> None:
        self.peak_mib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.peak_mib = max([self.peak_mib, *(int(x) for x in out.split() if x.isdigit())])
            except (OSError, subprocess.SubprocessError):
                return

    def __enter__(self) -> GpuMemoryPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def write_dataset(folder: Path, tokenizer, rows: int, target_tokens: int) -> float:
    """Alpaca train/dev files of NL2SQL-sized examples; returns the mean tokens per example."""
    tables = [f"CREATE TABLE t{t} (id INTEGER PRIMARY KEY, name TEXT, city TEXT, amount REAL, created_at DATE, "
              f"t{(t + 1) % 40}_id INTEGER REFERENCES t{(t + 1) % 40}(id)); -- 表{t}: 销售记录" for t in range(40)]
    examples = []
    for i in range(rows):
        schema, question = "", f"Question {i}: 每个城市 2024 年的总金额是多少？ Total amount per city in t{i % 40}?"
        sql = f"SELECT city, SUM(amount) FROM t{i % 40} WHERE created_at >= '2024-01-01' GROUP BY city"
        for line in tables[i % 40:] + tables[: i % 40]:
            if len(tokenizer(schema + line + question + sql)["input_ids"]) > target_tokens:
                break
            schema += line + "\n"
        examples.append({"instruction": "Write one SQL query for the question.", "input": schema + question,
                         "output": sql})
    folder.mkdir(parents=True, exist_ok=True)
    for split, part in (("train", examples), ("dev", examples[:16])):
        (folder / f"{split}_alpaca.jsonl").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in part))
    info = {"bench_train_alpaca": {"file_name": "train_alpaca.jsonl"}, "bench_dev_alpaca": {"file_name": "dev_alpaca.jsonl"}}
    (folder / "dataset_info.json").write_text(json.dumps(info))
    return sum(len(tokenizer(e["input"] + e["output"])["input_ids"]) for e in examples) / len(examples)


def run_one(recipe_name: str, shape: str, args: argparse.Namespace) -> dict:
    import torch
    from transformers import AutoTokenizer

    device = "cpu" if args.tiny else "cuda"
    model_dir, params, build_s = build_random_model(shape, args.work / f"{shape}-random", device=device)
    print(f"{recipe_name}: built random {shape} ({params / 1e9:.3f} B parameters) in {build_s:.0f} s", flush=True)
    overrides: dict = {"model_name_or_path": str(model_dir), "max_steps": args.steps, "logging_steps": 1}
    if args.tiny:
        overrides.update(bf16=False, per_device_train_batch_size=2, gradient_accumulation_steps=2)
    recipe = load_recipe(recipe_name, overrides)
    per_step = recipe.per_device_train_batch_size * recipe.gradient_accumulation_steps
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data = args.work / f"{recipe_name}-data"
    mean_tokens = write_dataset(data, tokenizer, rows=per_step * args.steps + 16, target_tokens=args.tokens)
    stamps: list[tuple[float, Progress]] = []

    def on_progress(p: Progress) -> None:
        stamps.append((time.perf_counter(), p))
        print(f"  {p.describe()}", flush=True)

    out = args.work / f"{recipe_name}-out"
    shutil.rmtree(out, ignore_errors=True)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    with GpuMemoryPoller() as poller:
        if recipe.backend == "llamafactory":
            result = llamafactory.train(recipe, recipe_name=recipe_name, model_path=model_dir, dataset_dir=data,
                                        output_dir=out, on_progress=on_progress, cuda=not args.tiny)
        else:
            recipe = recipe.model_copy(update={"eval_steps": 10 * args.steps})  # no eval inside the timed steps
            result = peft_trainer.train(recipe, recipe_name=recipe_name, model_path=model_dir, dataset_dir=data,
                                        output_dir=out, on_progress=on_progress, cuda=not args.tiny)
    wall = time.perf_counter() - started
    timed = [t for t, p in stamps if p.step and p.step >= 1]
    steps_timed = len(timed) - 1
    step_s = (timed[-1] - timed[0]) / steps_timed if steps_timed > 0 else float("nan")
    row = {
        "recipe": recipe_name, "backend": recipe.backend, "shape": shape, "params_b": params / 1e9,
        "trainable_percent": result.trainable_percent, "trainable_params": result.trainable_params,
        "steps": result.global_step, "samples_per_step": per_step, "mean_tokens": mean_tokens,
        "step_s": step_s, "tokens_per_s": per_step * mean_tokens / step_s if steps_timed > 0 else None,
        "peak_gpu_mib_nvidia_smi": poller.peak_mib or None,
        "peak_torch_allocated_gib": (torch.cuda.max_memory_allocated() / 2**30
                                     if torch.cuda.is_available() and recipe.backend == "peft" else None),
        "final_loss": result.final_loss, "wall_s_including_load": wall, "model_build_s": build_s,
    }
    shutil.rmtree(model_dir, ignore_errors=True)  # 8-14 GB each; the disk holds one at a time
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=512, help="tokens per example (prompt + SQL)")
    parser.add_argument("--only", choices=sorted(RUNS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_train"))
    parser.add_argument("--tiny", action="store_true", help="toy shape on CPU, to check this script")
    args = parser.parse_args()
    reason = preflight(args.tiny)
    if reason:
        print(f"not run: {reason}")
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    rows, skipped = [], []
    for recipe_name, shape in RUNS.items():
        if args.only and recipe_name != args.only:
            continue
        try:
            rows.append(run_one(recipe_name, "tiny" if args.tiny else shape, args))
        except Exception as err:  # one recipe failing (e.g. no llamafactory) must not hide the other's figures
            skipped.append(f"{recipe_name}: {type(err).__name__}: {str(err)[-1500:]}")
            print(f"FAILED {skipped[-1]}", flush=True)
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"\n{device}; random-init models; {args.steps} steps; ~{args.tokens} tokens per example; {REFERENCE}\n")
    print("| recipe | shape | params | trainable | samples/step | s/step | tokens/s | peak GPU MiB (nvidia-smi) |"
          " torch max alloc GiB | final loss |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        alloc = f"{r['peak_torch_allocated_gib']:.1f}" if r["peak_torch_allocated_gib"] else "-"
        print(f"| {r['recipe']} | {r['shape']} | {r['params_b']:.2f} B | {r['trainable_percent']:.3f}% |"
              f" {r['samples_per_step']} | {r['step_s']:.2f} | {r['tokens_per_s'] or 0:.0f} |"
              f" {r['peak_gpu_mib_nvidia_smi'] or '-'} | {alloc} | {r['final_loss']:.3f} |")
    for s in skipped:
        print(f"\nnot measured: {s}")
    out = args.work / "gpu_train.json"
    out.write_text(json.dumps({"device": device, "steps": args.steps, "rows": rows, "skipped": skipped}, indent=1))
    print(f"\nwrote {out}")
    return 0 if rows and not skipped else 1


if __name__ == "__main__":
    sys.exit(main())
