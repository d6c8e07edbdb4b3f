"""Text-similarity metrics that sit beside execution match (never instead of it).

- `exact_match` / `token_f1`: the reference design's definitions (sqlparse-normalized string
  equality; F1 over the sets of lower-cased `\\w+` tokens).
- BLEU-4 and ROUGE-1/2/L in two flavours, labelled because they disagree on the same pairs:
  "sacrebleu" (corpus BLEU, 13a tokens; rouge-score F over Unicode word tokens, so Chinese
  counts) and "llamafactory" (what predict_with_generate writes to predict_results.json:
  character-level nltk sentence BLEU-4 with smoothing method3, rouge_chinese F over jieba
  tokens, each rounded to 4 places and averaged). All scores are on a 0-100 scale.

The llamafactory flavour needs nltk, jieba and rouge-chinese (the `train` extra).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from statistics import fmean

import sqlparse
from pydantic import BaseModel

_WORD = re.compile(r"\w+")
_ROUGE_TOKEN = re.compile(r"\w+", re.UNICODE)


class TextScores(BaseModel):
    """Averages over a prediction set; BLEU/ROUGE on 0-100, exact match and F1 as fractions."""

    count: int
    exact_match: float
    token_f1: float
    sacrebleu_bleu4: float
    rouge_score_rouge1: float
    rouge_score_rouge2: float
    rouge_score_rougeL: float
    lf_bleu4: float | None = None  # None when LLaMA-Factory's metric packages are missing
    lf_rouge1: float | None = None
    lf_rouge2: float | None = None
    lf_rougeL: float | None = None


@lru_cache(maxsize=65536)  # gold queries recur (base and adapter, repeated questions); sqlparse is slow
def normalize_sql(sql: str) -> str:
    """The reference design's normalize_sql: sqlparse lower-cases keywords, drops comments,
    then all whitespace runs become one space; trailing semicolons go too (extraction drops
    them from predictions, and a gold's `;` is no difference in the query).

    >>> normalize_sql("SELECT  Name\\n FROM Singer -- oldest\\n;")
    'select Name from Singer'
    """
    formatted = sqlparse.format(sql, keyword_case="lower", strip_comments=True)
    return " ".join(formatted.split()).rstrip("; ")


def exact_match(pred: str, gold: str) -> bool:
    return normalize_sql(pred) == normalize_sql(gold)


def token_f1(pred: str, gold: str) -> float:
    """F1 of the sets of lower-cased word tokens (the reference design's calculate_token_f1).

    >>> round(token_f1("SELECT name FROM singer", "select name, age from singer"), 3)  # P 4/4, R 4/5
    0.889
    """
    pred_tokens = set(_WORD.findall(pred.lower()))
    gold_tokens = set(_WORD.findall(gold.lower()))
    common = len(pred_tokens & gold_tokens)
    if not pred_tokens or not gold_tokens or not common:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


class _UnicodeWords:
    """rouge-score's default tokenizer drops every non-ASCII letter; this keeps Chinese."""

    def tokenize(self, text: str) -> list[str]:
        return _ROUGE_TOKEN.findall(text.lower())


def sacrebleu_rouge(preds: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU-4 (sacrebleu, 13a) and mean ROUGE-1/2/L F (rouge-score), 0-100."""
    import sacrebleu
    from rouge_score import rouge_scorer

    bleu = sacrebleu.corpus_bleu(list(preds), [list(golds)]).score if preds else 0.0
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_UnicodeWords())
    scores = [scorer.score(gold, pred) for pred, gold in zip(preds, golds)]
    result = {"sacrebleu_bleu4": bleu}
    for key in ("rouge1", "rouge2", "rougeL"):
        result[f"rouge_score_{key}"] = 100 * fmean(s[key].fmeasure for s in scores) if scores else 0.0
    return result


def llamafactory_bleu_rouge(preds: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """LLaMA-Factory's ComputeSimilarity on decoded text: per pair, rounded, then averaged.

    Raises ImportError when nltk, jieba or rouge_chinese is missing.
    """
    import jieba
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    jieba.setLogLevel(logging.WARNING)
    columns: dict[str, list[float]] = {"lf_rouge1": [], "lf_rouge2": [], "lf_rougeL": [], "lf_bleu4": []}
    smoothing = SmoothingFunction().method3
    for pred, label in zip(preds, labels):
        hypothesis, reference = list(jieba.cut(pred)), list(jieba.cut(label))
        if not " ".join(hypothesis).split() or not " ".join(reference).split():
            rouge = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
        else:
            scores = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
            rouge = {k: v["f"] for k, v in scores.items()}
        columns["lf_rouge1"].append(round(rouge["rouge-1"] * 100, 4))
        columns["lf_rouge2"].append(round(rouge["rouge-2"] * 100, 4))
        columns["lf_rougeL"].append(round(rouge["rouge-l"] * 100, 4))
        bleu = sentence_bleu([list(label)], list(pred), smoothing_function=smoothing)
        columns["lf_bleu4"].append(round(bleu * 100, 4))
    return {k: fmean(v) if v else 0.0 for k, v in columns.items()}


def text_scores(
    preds: Sequence[str],
    golds: Sequence[str],
    *,
    outputs: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    llamafactory: bool = True,
) -> TextScores:
    """Every text metric over aligned predictions and references.

    Exact match and token F1 compare the extracted SQL `preds` with the gold SQL `golds`.
    BLEU/ROUGE compare the raw model `outputs` with the training `labels` (both default to
    preds/golds). Pass generated_predictions.jsonl's labels as written, trailing newline included:
    they are the very strings LLaMA-Factory scored for predict_results.json.
    """
    outputs = preds if outputs is None else outputs
    labels = golds if labels is None else labels
    if not len(preds) == len(golds) == len(outputs) == len(labels):
        raise ValueError(
            f"{len(preds)} predictions, {len(golds)} golds, {len(outputs)} outputs, {len(labels)} labels: they must be aligned"
        )
    result: dict[str, float | None] = dict(sacrebleu_rouge(outputs, labels))
    if llamafactory:
        try:
            result.update(llamafactory_bleu_rouge(outputs, labels))
        except ImportError:
            pass  # the fields stay None: reported as "n/a", never as zero
    return TextScores(
        count=len(preds),
        exact_match=fmean(exact_match(p, g) for p, g in zip(preds, golds)) if preds else 0.0,
        token_f1=fmean(token_f1(p, g) for p, g in zip(preds, golds)) if preds else 0.0,
        **result,
    )
