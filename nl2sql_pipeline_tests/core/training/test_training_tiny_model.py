from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nl2sql_pipeline.core.training.tiny_model import IM_END, build_tiny_model


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_tiny_model_loads_chats_and_generates(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert (tiny_model / "model.safetensors").exists()
    assert model.config.head_dim >= 32 and model.config.model_type == "qwen3"
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 400_000
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "查询每个城市的门店数量 / Wie viele Sänger?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = tok(prompt)["input_ids"]
    assert tok.decode(ids) == prompt  # byte-level: Chinese and umlauts round-trip
    assert tok.convert_tokens_to_ids(IM_END) in ids and tok.eos_token == IM_END
    out = model.generate(**tok(prompt, return_tensors="pt"), max_new_tokens=4, do_sample=False)
    assert out.shape[1] > len(ids)


def test_tiny_model_is_deterministic_and_refuses_foreign_folders(tmp_path: Path, tiny_model: Path) -> None:
    again = build_tiny_model(tmp_path / "again")
    assert _digest(again) == _digest(tiny_model)
    build_tiny_model(again)  # rebuilding over its own output is fine
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        build_tiny_model(other)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="head_dim"):
        build_tiny_model(tmp_path / "small_heads", head_dim=16)
