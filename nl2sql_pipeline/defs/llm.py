"""The LLM endpoint as a Dagster resource: settings from configs/llm.yaml, the key from the environment."""

import dagster as dg

from nl2sql_pipeline.core.llm import LLMClient, LLMSettings, load_llm_settings


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible endpoint for databases with `generator: llm` or `llm-sql-first`.

    The API key is read when a run needs it, from the environment variable named by `api_key_env`
    (through `dg.EnvVar`, so offline runs need no key), or bound directly with
    `LLMResource(api_key=dg.EnvVar("MY_KEY"))`. It is never logged, stored or put in metadata.
    """

    config_path: str = ""  # default: $NL2SQL_LLM_CONFIG or configs/llm.yaml
    base_url: str = ""  # overrides the file
    model: str = ""
    api_key: str = ""
    api_key_env: str = "NL2SQL_LLM_API_KEY"

    def settings(self) -> LLMSettings:
        """Returns:
        The validated settings (file, then environment overrides, then this resource's overrides).
        """
        return load_llm_settings(self.config_path or None, base_url=self.base_url, model=self.model)

    def client(self) -> LLMClient:
        """Returns:
        A client with its own counters, sharing the on-disk response cache.
        """
        key = self.api_key or dg.EnvVar(self.api_key_env).get_value()
        return LLMClient(self.settings(), api_key=key)

    def describe(self) -> dict[str, str]:
        """Returns:
        Endpoint facts safe for asset metadata (never the key).
        """
        s = self.settings()
        return {"llm_base_url": s.base_url, "llm_model": s.model, "llm_json_mode": s.json_mode}
