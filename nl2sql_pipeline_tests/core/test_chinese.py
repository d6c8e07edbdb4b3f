"""The one answer to "is this text Chinese" (core.chinese), which every step asks it."""

from __future__ import annotations

import pytest

from nl2sql_pipeline.core.cards import estimate_tokens
from nl2sql_pipeline.core.chinese import has_chinese, mostly_chinese


@pytest.mark.parametrize(("text", "chinese"), [
    ("客户编号", True),
    ("order_id 订单", True),       # one Han character is enough
    ("㐀", True),                   # Extension A, rare but Chinese
    ("顧客", True),                 # Japanese kanji are Han characters too
    ("カタカナ", False),            # kana alone is Japanese
    ("고객", False),                # Hangul
    ("，。：（）", False),          # Chinese punctuation without a character says nothing
    ("Kunden-ID", False),
    ("", False),
])
def test_has_chinese(text: str, chinese: bool) -> None:
    assert has_chinese(text) is chinese


def test_mostly_chinese_counts_the_non_empty_texts() -> None:
    assert mostly_chinese(["客户", "orders"])          # half is enough
    assert not mostly_chinese(["客户", "orders", "id"])
    assert mostly_chinese(["客户", "", "", "orders"])  # empty comments do not vote
    assert not mostly_chinese([]) and not mostly_chinese(["", ""])


def test_token_estimate_counts_each_cjk_character_as_one_token() -> None:
    """The broader CJK class (kana, compatibility ideographs) is what a tokenizer spends a token on."""
    assert estimate_tokens("客户カナ") == 4
    assert estimate_tokens("abcdefgh") == 2
