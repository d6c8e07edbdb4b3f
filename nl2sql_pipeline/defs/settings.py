"""Where configuration comes from, read once per process when the code location loads."""

from functools import lru_cache

import dagster as dg
from pydantic import Field

from nl2sql_pipeline.core.config import DatabaseConfig, DatabasesFile, load_databases
from nl2sql_pipeline.core.config_loader import ConfigFile, StrictModel


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
