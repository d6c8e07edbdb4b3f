"""Steps 4-5 with an LLM over any OpenAI-compatible endpoint (vLLM, DeepSeek, DashScope, Ollama,
OpenAI): settings, a cached and retried client, defensive parsing, the planner and the generator."""

from nl2sql_pipeline.core.llm.client import Completion, LLMClient, LLMError
from nl2sql_pipeline.core.llm.settings import LLMSettings, load_llm_settings

__all__ = ["Completion", "LLMClient", "LLMError", "LLMSettings", "load_llm_settings"]
