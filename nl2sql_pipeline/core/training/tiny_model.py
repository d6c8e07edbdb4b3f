"""A tiny random-init Qwen3 chat model built offline, for tests and CPU benchmarks.

Nothing may download weights here, yet LLaMA-Factory, `transformers serve` and vLLM all want a
real model directory. This builds one in a few seconds: a byte-level BPE tokenizer trained with
`tokenizers` on SQL and Chinese/German text (byte-level, so any input still encodes), wrapped as
a fast tokenizer with Qwen's ChatML special tokens and chat template, and a random-init
`Qwen3ForCausalLM` saved as safetensors. The same arguments give the same files.

    >>> import tempfile
    >>> from transformers import AutoModelForCausalLM
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = build_tiny_model(Path(tmp) / "tiny")
    ...     type(AutoModelForCausalLM.from_pretrained(path)).__name__
    'Qwen3ForCausalLM'
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

IM_START, IM_END, ENDOFTEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
MARKER = "tiny_model.json"  # written last: its presence means the folder is a complete tiny model

# Qwen's ChatML template without the tool/reasoning branches: what `transformers serve` and
# vLLM apply to /v1/chat/completions, and the same layout as LLaMA-Factory's `qwen3_nothink`.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_SQL = (
    "SELECT DISTINCT name, COUNT(*) AS n FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
    "WHERE age > 30 AND country = 'France' OR year BETWEEN 2014 AND 2015 GROUP BY country HAVING COUNT(*) >= 2 "
    "ORDER BY n DESC LIMIT 10; SELECT AVG(unit_price), MAX(salary), MIN(quantity), SUM(total_amount) FROM orders "
    "LEFT JOIN customers ON orders.customer_id = customers.customer_id WHERE status IN ('已完成', '已发货') "
    "AND name LIKE '%张%' AND NOT EXISTS (SELECT 1 FROM payments) UNION SELECT * FROM stores EXCEPT "
    "SELECT * FROM stores INTERSECT SELECT * FROM stores; WITH t AS (SELECT CASE WHEN x IS NULL THEN 0 ELSE 1 END "
    "FROM t) SELECT CAST(order_date AS DATE) FROM t;"
)
_TEXT = (
    "How many singers do we have? Show the name and the country of every singer older than 30. "
    "Wie viele Sängerinnen und Sänger haben wir? Zeige Name und Land aller Sänger, deren Alter über 30 ist. "
    "查询每个城市的门店数量。列出2023年销售额最高的10个商品。哪些客户的会员等级是金卡？"
    "统计每位员工的订单总金额，并按金额降序排列。"
    "You are a SQL expert. Given the database schema, write one SQL query that answers the question. "
    "你是一名SQL专家。根据数据库结构，写出回答问题的SQL语句。"
)


def default_corpus() -> list[str]:
    """SQL, English/German/Chinese questions and the `sales_cn` demo's Chinese comments."""
    texts = [_SQL, _TEXT]
    descriptions = Path(__file__).parents[2] / "demo" / "sales_cn.descriptions.yaml"
    if descriptions.exists():
        tables = yaml.safe_load(descriptions.read_text(encoding="utf-8")).get("tables", {})
        for name, spec in tables.items():
            cols = spec.get("columns") or {}
            texts.append(f"{name} {spec.get('comment', '')} " + " ".join(f"{k} {v}" for k, v in cols.items()))
    # A few ChatML conversations so role names and newlines become tokens of their own.
    texts += [f"{IM_START}{role}\n{_TEXT[:80]}{IM_END}\n" for role in ("system", "user", "assistant")]
    return texts


def _train_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus * 4, trainer=trainer)
    return tok


def build_tiny_model(
    out_dir: Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    head_dim: int = 32,
    vocab_size: int = 1024,
    seed: int = 0,
    corpus: list[str] | None = None,
    max_position_embeddings: int = 4096,
) -> Path:
    """Write a random-init Qwen3 causal LM and its tokenizer to `out_dir` and return it.

    `head_dim` stays >= 32 because vLLM's CPU attention rejects smaller heads (on the first
    request, after /health already said OK). `corpus` is extra text for the tokenizer.
    """
    if head_dim < 32:
        raise ValueError(f"head_dim={head_dim}: vLLM's CPU attention needs head_dim >= 32")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise FileExistsError(f"{out_dir} exists and is not a tiny model built here; pick an empty folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write_model(work, hidden_size, num_layers, num_heads, head_dim, vocab_size, seed, corpus,
                     max_position_embeddings)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out_dir


def _write_model(out_dir: Path, hidden_size: int, num_layers: int, num_heads: int, head_dim: int,
                 vocab_size: int, seed: int, corpus: list[str] | None, max_position_embeddings: int) -> None:
    import torch
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(default_corpus() + list(corpus or []), vocab_size),
        eos_token=IM_END, pad_token=ENDOFTEXT, unk_token=None, bos_token=None,
        model_max_length=max_position_embeddings, padding_side="right", clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    # transformers 5 writes its own class name; the 4.x alias loads in both (vLLM's venv pins another version).
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False))

    eos_id, pad_id = tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        head_dim=head_dim,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=[eos_id, pad_id], pad_token_id=pad_id)
    model.save_pretrained(out_dir, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    (out_dir / MARKER).write_text(json.dumps({"builder": __name__, "seed": seed, "parameters": params}, indent=2))
