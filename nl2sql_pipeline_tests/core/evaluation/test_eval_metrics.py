"""Text metrics: the reference design's exact match / token F1, and BLEU/ROUGE that agree with
LLaMA-Factory's own ComputeSimilarity on the same pairs."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from nl2sql_pipeline.core.evaluation.textmetrics import (
    exact_match,
    llamafactory_bleu_rouge,
    normalize_sql,
    text_scores,
    token_f1,
)

PAIRS = [  # (model output, label)
    ("SELECT count(*) FROM singer", "SELECT count(*) FROM singer"),
    ("```sql\nSELECT name FROM singer WHERE age > 20\n```", "SELECT name FROM singer WHERE age > 30"),
    ("我先解释一下：按城市统计客户数量。\nSELECT city, COUNT(*) FROM customers GROUP BY city;", "SELECT city , count(*) FROM customers GROUP BY city"),
    ("SELECT 城市, COUNT(*) AS 数量 FROM 客户 GROUP BY 城市", "SELECT 城市, SUM(金额) FROM 订单 GROUP BY 城市"),
    ("", "SELECT 1"),
    ("I do not know", "SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id"),
]


def test_normalize_and_exact_match_as_the_reference_design() -> None:
    assert normalize_sql("SELECT  name\nFROM singer -- c\nWHERE x = 1;") == "select name from singer where x = 1"
    assert exact_match("select name FROM singer", "SELECT name\n  FROM singer;")
    assert not exact_match("SELECT Name FROM singer", "SELECT name FROM singer")  # identifiers keep case


def test_token_f1() -> None:
    assert token_f1("SELECT a FROM t", "select a from t") == 1.0
    assert token_f1("SELECT a FROM t", "SELECT b FROM s") == pytest.approx(2 * 0.5 * 0.5 / 1.0)
    assert token_f1("", "SELECT a") == 0.0


def test_sacrebleu_flavour_counts_chinese_and_is_labelled_apart() -> None:
    scores = text_scores([p for p, _ in PAIRS], [g for _, g in PAIRS])
    assert scores.count == len(PAIRS)
    assert 0 < scores.sacrebleu_bleu4 < 100 and 0 < scores.rouge_score_rouge1 < 100
    same = text_scores(["SELECT 城市 FROM 客户"], ["SELECT 城市 FROM 客户"])
    assert same.rouge_score_rouge1 == pytest.approx(100.0) and same.lf_bleu4 == pytest.approx(100.0)
    assert scores.lf_bleu4 != pytest.approx(scores.sacrebleu_bleu4)  # two flavours, two numbers


def _llamafactory_compute_similarity(monkeypatch: pytest.MonkeyPatch) -> type:
    """LLaMA-Factory's metric class; its package imports torchaudio at module level, which a
    CPU-only install lacks, so an import-only stand-in (with a real __spec__) takes its place."""
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("torchaudio")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        monkeypatch.setitem(sys.modules, "torchaudio", stand_in)
    from llamafactory.train.sft.metric import ComputeSimilarity

    return ComputeSimilarity


def test_llamafactory_flavour_equals_llamafactorys_own_computation(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer
    from transformers.trainer_utils import EvalPrediction

    compute_similarity = _llamafactory_compute_similarity(monkeypatch)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = [(tokenizer.encode(p, add_special_tokens=False), tokenizer.encode(g, add_special_tokens=False)) for p, g in PAIRS]
    width = max(len(ids) for pair in encoded for ids in pair)

    def padded(ids: list[int]) -> list[int]:
        return ids + [-100] * (width - len(ids))  # IGNORE_INDEX, as the trainer pads

    preds = np.array([padded(p) for p, _ in encoded])
    labels = np.array([padded(g) for _, g in encoded])
    theirs = compute_similarity(tokenizer=tokenizer)(EvalPrediction(predictions=preds, label_ids=labels))

    # Score exactly the texts LLaMA-Factory scored (its decode of the same ids).
    decoded_preds = tokenizer.batch_decode(np.where(preds != -100, preds, tokenizer.pad_token_id), skip_special_tokens=True)
    decoded_labels = tokenizer.batch_decode(np.where(labels != -100, labels, tokenizer.pad_token_id), skip_special_tokens=True)
    ours = llamafactory_bleu_rouge(decoded_preds, decoded_labels)
    assert ours["lf_bleu4"] == pytest.approx(theirs["bleu-4"], abs=1e-9)
    assert ours["lf_rouge1"] == pytest.approx(theirs["rouge-1"], abs=1e-9)
    assert ours["lf_rouge2"] == pytest.approx(theirs["rouge-2"], abs=1e-9)
    assert ours["lf_rougeL"] == pytest.approx(theirs["rouge-l"], abs=1e-9)
    assert 0 < ours["lf_bleu4"] < 100 and 0 < ours["lf_rouge1"] < 100
