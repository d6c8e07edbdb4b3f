"""Is this text Chinese: the one answer every step uses (comments, questions, legends, labels).

Text is Chinese when it holds a Han ideograph (CJK Unified Ideographs and Extension A, where all
common Chinese characters are); a set of texts is when at least half of its non-empty ones are.
"""

from __future__ import annotations

import re

HAN = "\u3400-\u9fff"  # a character class body, for patterns that embed it (`[的{HAN}]`)
# What a tokenizer spends about one token on: Han, kana and compatibility ideographs.
CJK = "\u3040-\u30ff" + HAN + "\uf900-\ufaff"
HAN_CHARACTER = re.compile(f"[{HAN}]")


def has_chinese(text: str) -> bool:
    """True when `text` holds a Chinese character.

    >>> has_chinese("客户 id"), has_chinese("customer"), has_chinese("カタカナ")
    (True, False, False)
    """
    return HAN_CHARACTER.search(text) is not None


def mostly_chinese(texts: list[str]) -> bool:
    """True when at least half of the (non-empty) texts contain Chinese characters.

    >>> mostly_chinese(["客户", "", "orders"]), mostly_chinese(["客户", "orders", "id"]), mostly_chinese(["", ""])
    (True, False, False)
    """
    texts = [t for t in texts if t]
    return bool(texts) and sum(1 for t in texts if has_chinese(t)) * 2 >= len(texts)
