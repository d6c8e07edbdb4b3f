"""Where configuration comes from, read once per process when the code location loads, and the
resources that carry it: the databases and the LLM endpoint."""

from functools import lru_cache

import dagster as dg
from pydantic import Field

from nl2sql_pipeline.core.config import DatabaseConfig, DatabasesFile, load_databases
from nl2sql_pipeline.core.config_loader import ConfigFile, StrictModel
from nl2sql_pipeline.core.llm import LLMClient, LLMSettings, load_llm_settings


@lru_cache(maxsize=1)
def databases() -> DatabasesFile:
    return load_databases()


def database_partitions() -> dg.StaticPartitionsDefinition:
    """One partition per configured database: adding one to the YAML adds a partition."""
    return dg.StaticPartitionsDefinition([d.name for d in databases().databases])


class DatabasesResource(dg.ConfigurableResource):
    """The parsed `databases.yaml`; URLs with credentials stay in the environment (`url_env`)."""

    config_path: str = Field("", description="a databases.yaml to read; default $NL2SQL_DATABASES or configs/databases.yaml")

    def file(self) -> DatabasesFile:
        return load_databases(self.config_path) if self.config_path else databases()

    def get(self, name: str) -> DatabaseConfig:
        return self.file().get(name)


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible endpoint for databases with `generator: llm` or `llm-sql-first`.

    The API key is read when a run needs it, from the environment variable named by `api_key_env`
    (through `dg.EnvVar`, so offline runs need no key), or bound directly with
    `LLMResource(api_key=dg.EnvVar("MY_KEY"))`. It is never logged, stored or put in metadata.
    """

    config_path: str = Field("", description="an llm.yaml to read; default $NL2SQL_LLM_CONFIG or configs/llm.yaml")
    base_url: str = Field("", description="the endpoint's base URL, overriding the file")
    model: str = Field("", description="the model name, overriding the file")
    api_key: str = Field("", description="the API key, bound with dg.EnvVar; default: the variable api_key_env names")
    api_key_env: str = Field("NL2SQL_LLM_API_KEY", description="the environment variable holding the API key")

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


class NightlySchedule(StrictModel):
    """The nightly data_create run for every database."""

    enabled: bool = Field(False, description="whether the nightly data_create run is scheduled")
    cron: str = Field("0 2 * * *", description="when it runs, as a cron expression")
    timezone: str = Field("UTC", description="the timezone of the cron expression")


class SchemaDrift(StrictModel):
    """The sensor that notices a database's schema changed."""

    enabled: bool = Field(False, description="whether the sensor starts running (it exists either way)")
    interval_seconds: int = Field(3600, ge=30, description="seconds between ticks; one catalog read per database a tick")


class Concurrency(StrictModel):
    """How many runs of a kind may run at once."""

    llm_runs: int = Field(4, ge=1, description="runs that may call the LLM at once (tag nl2sql/llm, the llm pool)")
    gpu_runs: int = Field(1, ge=1, description="runs that use the GPU at once (tag nl2sql/gpu, the gpu pool)")


class Orchestration(StrictModel):
    """`configs/orchestration.yaml`: how the pipeline runs on its own."""

    nightly_schedule: NightlySchedule = Field(default_factory=NightlySchedule, description="the nightly run")
    schema_drift: SchemaDrift = Field(default_factory=SchemaDrift, description="the schema-change sensor")
    concurrency: Concurrency = Field(default_factory=Concurrency, description="limits on runs at once")


ORCHESTRATION_FILE = ConfigFile("orchestration.yaml", "NL2SQL_ORCHESTRATION", "orchestration settings", optional=True)


@lru_cache(maxsize=1)
def orchestration() -> Orchestration:
    """`$NL2SQL_ORCHESTRATION`, else `configs/orchestration.yaml`; defaults when absent and not named."""
    data, path = ORCHESTRATION_FILE.read()
    return ORCHESTRATION_FILE.validate(Orchestration, data, str(path))
