"""A response cache on disk: one file per request, written atomically.

Keyed by a digest of (endpoint, model, messages, sampling parameters), never the API key.
Each answer is its own file renamed into place as soon as it arrives, so concurrent writers
never corrupt each other and a run killed with SIGKILL loses only the requests in flight.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.fsutil import atomic_write_text


def cache_key(endpoint: str, model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    blob = json.dumps(
        {"endpoint": endpoint.rstrip("/"), "model": model, "messages": messages, "params": params},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """`get`/`put` JSON records by key under `folder` (default `$NL2SQL_HOME/llm_cache`)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder else nl2sql_home() / "llm_cache"

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # unreadable (disk full at write time): ask again
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        atomic_write_text(self._path(key), json.dumps(record, ensure_ascii=False))

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*/*.json")) if self.folder.exists() else 0
