"""GRPO throughput on a CUDA GPU: the qwen3_4b_grpo recipe on a random-init Qwen3-4B, rollouts/s and step time.

No weights can be downloaded on the GPU machines, so the model is random-init at the real shape
(nl2sql_pipeline.core.training.random_model); its rollouts are noise that rarely stops early, so
every completion runs to `max_completion_length`: an upper bound on generation time. The prompts
are real: the pipeline's own export of the concert_singer demo (offline synthesizer, validation,
schema in every prompt), and every rollout is rewarded on that SQLite database through the
read-only executor, so the reward's share of a step is measured too.

The baseline in the same run is TRL's plain transformers generation; the vLLM arm (colocated, as
the recipe's `generation_backend: auto` picks on a GPU) runs when vllm is importable.

    python benchmarks/gpu_grpo.py [--steps 6] [--completion 256] [--only transformers|vllm] [--work DIR]
    python benchmarks/gpu_grpo.py --tiny --steps 2     # toy shape on CPU, to check the script

Exit code 2 with the reason when torch/CUDA or the training stack is missing. Prints a markdown
table and writes `<work>/gpu_grpo.json`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "closed_loop"))


def run_arm(generation: str, model_dir: Path, dataset: Path, targets: dict, args: argparse.Namespace) -> dict:
    import torch

    from nl2sql_pipeline.core.training import grpo
    from nl2sql_pipeline.core.training.recipes import load_recipe

    overrides: dict = {"model_name_or_path": str(model_dir), "start_from": "base", "max_steps": args.steps,
                       "generation_backend": generation, "max_completion_length": args.completion,
                       "logging_steps": 1, "save_steps": 10**6}
    if args.tiny:
        overrides.update(bf16=False, num_generations=4, per_device_train_batch_size=8, gradient_accumulation_steps=1,
                         gradient_checkpointing=False)
    recipe = load_recipe("qwen3_4b_grpo", overrides)
    stamps: list[float] = []
    out = args.work / f"rl-{generation}"
    shutil.rmtree(out, ignore_errors=True)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    from gpu_train import GpuMemoryPoller  # nvidia-smi's peak covers vLLM's own allocations too

    with GpuMemoryPoller() as poller:
        result = grpo.train(recipe, recipe_name="qwen3_4b_grpo", model_path=model_dir, start_adapter=None,
                            dataset_dir=dataset, output_dir=out, targets=targets,
                            on_progress=lambda p, total: (stamps.append(time.perf_counter()),
                                                          print(f"  {generation}: step {p.step}/{total}, reward "
                                                                f"{p.reward:.3f}", flush=True)))
    per_step = recipe.per_device_train_batch_size * recipe.gradient_accumulation_steps
    step_s = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else result.train_s / max(1, result.global_step)
    return {
        "generation": result.generation, "steps": result.global_step, "rollouts_per_step": per_step,
        "prompts_per_step": recipe.prompts_per_step, "num_generations": recipe.num_generations,
        "max_completion_length": recipe.max_completion_length, "step_s": step_s,
        "rollouts_per_s": per_step / step_s if step_s else None, "train_s": result.train_s,
        "reward_s_per_step": result.reward_s / max(1, result.global_step), "reward_stats": result.reward_stats,
        "trainable_params": result.trainable_params, "peak_gpu_mib_nvidia_smi": poller.peak_mib or None,
        "peak_torch_allocated_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per arm (step 1 is excluded from s/step)")
    parser.add_argument("--completion", type=int, default=256, help="max_completion_length")
    parser.add_argument("--budget", type=int, default=200, help="demo samples to synthesize for the prompts")
    parser.add_argument("--only", choices=["transformers", "vllm"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_grpo"))
    parser.add_argument("--tiny", action="store_true", help="toy shape on CPU, to check this script")
    args = parser.parse_args()
    from gpu_train import preflight

    reason = preflight(args.tiny, ("transformers", "peft", "trl", "datasets"))
    if reason:
        print(f"not run: {reason}")
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NL2SQL_HOME", str(args.work / "home"))
    import torch

    from nl2sql_pipeline.core.connection import resolve_url
    from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget
    from nl2sql_pipeline.core.training.random_model import build_random_model
    from run import make_dataset  # benchmarks/closed_loop/run.py: the pipeline's own dataset steps

    db, facts = make_dataset("concert_singer", args.budget, args.work / "dataset")
    targets = {db.name: DatabaseTarget(url=resolve_url(db).render_as_string(hide_password=False), dialect="sqlite")}
    shape = "tiny" if args.tiny else "qwen3-4b"
    model_dir, params, build_s = build_random_model(shape, args.work / f"{shape}-random",
                                                    device="cpu" if args.tiny else "cuda")
    print(f"built random {shape} ({params / 1e9:.3f} B parameters) in {build_s:.0f} s; dataset {facts['exported']}",
          flush=True)
    arms = [a for a in ("transformers", "vllm") if not args.only or a == args.only]
    rows, skipped = [], []
    for arm in arms:
        if arm == "vllm" and (args.tiny or importlib.util.find_spec("vllm") is None):
            skipped.append("vllm: " + ("not on the CPU toy run" if args.tiny else "vllm is not installed"))
            continue
        try:
            rows.append(run_arm(arm, model_dir, args.work / "dataset", targets, args))
        except Exception as err:  # one arm failing must not hide the other's figures
            skipped.append(f"{arm}: {type(err).__name__}: {str(err)[-1500:]}")
            print(f"FAILED {skipped[-1]}", flush=True)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"\n{device}; random-init {shape} ({params / 1e9:.2f} B); {args.steps} steps; rollouts up to "
          f"{args.completion} tokens; rewards on the concert_singer SQLite demo\n")
    print("| generation | rollouts/step (prompts x G) | s/step | rollouts/s | reward s/step | queries run |"
          " cache hits | peak GPU MiB (nvidia-smi) | torch max alloc GiB |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        alloc = f"{r['peak_torch_allocated_gib']:.1f}" if r["peak_torch_allocated_gib"] else "-"
        print(f"| {r['generation']} | {r['rollouts_per_step']} ({r['prompts_per_step']} x {r['num_generations']}) |"
              f" {r['step_s']:.2f} | {r['rollouts_per_s'] or 0:.1f} | {r['reward_s_per_step']:.3f} |"
              f" {r['reward_stats'].get('queries_run', 0)} | {r['reward_stats'].get('cache_hits', 0)} |"
              f" {r['peak_gpu_mib_nvidia_smi'] or '-'} | {alloc} |")
    for s in skipped:
        print(f"\nnot measured: {s}")
    out = args.work / "gpu_grpo.json"
    out.write_text(json.dumps({"device": device, "shape": shape, "steps": args.steps, "rows": rows,
                               "skipped": skipped}, indent=1))
    print(f"\nwrote {out}")
    shutil.rmtree(model_dir, ignore_errors=True)  # ~8 GB at the real shape
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
