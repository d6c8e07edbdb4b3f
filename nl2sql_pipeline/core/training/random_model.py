"""Random-init models of the reference design's real shapes, for GPU benchmarks where no weights can be downloaded.

Throughput and memory depend on the shape, not on the weights, so a random Qwen3-4B or
DeepSeek-Coder-6.7B (Llama architecture) measures what the real one would. The tokenizer is the
tiny model's byte-level one (its ids all fall inside the real vocabularies).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from nl2sql_pipeline.core.training.tiny_model import build_tiny_model

REFERENCE_SHAPES: dict[str, tuple[str, dict]] = {
    # Qwen3-4B: the reference design's LLaMA-Factory LoRA run.
    "qwen3-4b": ("qwen3", dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                               num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936,
                               max_position_embeddings=40960, tie_word_embeddings=True)),
    # DeepSeek-Coder 6.7B: the PEFT branch (reference: ~40M trainable = 0.59% at r16 on 7 projections).
    "deepseek-coder-6.7b": ("llama", dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                          num_attention_heads=32, num_key_value_heads=32, vocab_size=32256,
                                          max_position_embeddings=16384, tie_word_embeddings=False)),
    # The same flow at toy size, to check a benchmark script on a CPU.
    "tiny": ("qwen3", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=2, head_dim=32, vocab_size=2048, tie_word_embeddings=True)),
}


def build_random_model(shape: str, out_dir: Path, *, device: str = "cuda") -> tuple[Path, int, float]:
    """Write a random-init model of `shape` (bf16 on CUDA, fp32 on CPU); returns (folder, parameters, seconds)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config

    arch, dims = REFERENCE_SHAPES[shape]
    out_dir = Path(out_dir)
    started = time.perf_counter()
    tokenizer_src = build_tiny_model(out_dir.parent / f".{out_dir.name}-tokenizer")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_src)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    config = (LlamaConfig if arch == "llama" else Qwen3Config)(
        **dims, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        torch.manual_seed(0)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tokenizer_src / name, out_dir / name)
    shutil.rmtree(tokenizer_src, ignore_errors=True)
    return out_dir, params, time.perf_counter() - started
