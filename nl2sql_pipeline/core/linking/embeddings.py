"""An optional embedding retriever behind the linker's `extra` scores: cosine similarity between
the question and each table's card, from an OpenAI-compatible `/v1/embeddings` endpoint (vLLM
`--runner pooling`, a hosted API, ...). The endpoint serves the model: nothing is downloaded.

    retriever = EmbeddingRetriever(EmbeddingSettings(base_url="http://gpu:8000/v1", model="bge-m3"))
    linked = link(question, index, config, extra=retriever)

Table vectors are computed once per index version and kept in memory; each question costs one
request. Settings come from code or from `NL2SQL_EMBEDDINGS_BASE_URL` / `NL2SQL_EMBEDDINGS_MODEL`
(key: `NL2SQL_EMBEDDINGS_API_KEY`), so a deployment turns it on without a code change.
"""

from __future__ import annotations

import os

import numpy as np
import openai
from pydantic import BaseModel, Field

from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.linking.index import SchemaIndex

BATCH = 64


class EmbeddingError(Nl2SqlError):
    """The embeddings endpoint cannot be used."""


class EmbeddingSettings(BaseModel):
    base_url: str
    model: str
    api_key: str | None = Field(None, repr=False)
    timeout_s: float = Field(30.0, gt=0)

    @classmethod
    def from_env(cls) -> EmbeddingSettings | None:
        """The endpoint named by the environment, or None when none is configured."""
        url, model = os.environ.get("NL2SQL_EMBEDDINGS_BASE_URL"), os.environ.get("NL2SQL_EMBEDDINGS_MODEL")
        if not url:
            return None
        if not model:
            raise EmbeddingError("NL2SQL_EMBEDDINGS_BASE_URL is set but NL2SQL_EMBEDDINGS_MODEL is not.",
                                 "set NL2SQL_EMBEDDINGS_MODEL to the model id the endpoint lists at /v1/models.")
        return cls(base_url=url, model=model, api_key=os.environ.get("NL2SQL_EMBEDDINGS_API_KEY"))


class EmbeddingRetriever:
    """`extra` scores for `link`: cosine similarity of the question to each table, index order."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.settings = settings
        self.client = openai.OpenAI(base_url=settings.base_url, api_key=settings.api_key or "not-needed",
                                    timeout=settings.timeout_s, max_retries=1)
        self._tables: dict[str, np.ndarray] = {}
        self.requests = 0

    def _embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), BATCH):
            try:
                response = self.client.embeddings.create(model=self.settings.model, input=texts[start:start + BATCH])
            except openai.APIConnectionError as err:
                raise EmbeddingError(f"The embeddings endpoint {self.settings.base_url} does not answer ({err}).",
                                     "start the server or fix NL2SQL_EMBEDDINGS_BASE_URL; unset it to link by BM25 alone.") from None
            except openai.APIStatusError as err:
                raise EmbeddingError(f"The embeddings endpoint {self.settings.base_url} refused the request "
                                     f"(HTTP {err.status_code}: {str(err)[:200]}).",
                                     "check that the model id is one it serves (GET /v1/models) and that it serves embeddings.") from None
            self.requests += 1
            rows += [d.embedding for d in sorted(response.data, key=lambda d: d.index)]
        vectors = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def table_vectors(self, index: SchemaIndex) -> np.ndarray:
        key = f"{index.database}:{index.version}"
        if key not in self._tables:
            self._tables[key] = self._embed([card.text for card in index.cards.cards])
        return self._tables[key]

    def __call__(self, question: str, index: SchemaIndex) -> np.ndarray:
        return self.table_vectors(index) @ self._embed([question])[0]
