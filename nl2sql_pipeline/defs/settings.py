"""Where configuration comes from, read once per process when the code location loads."""

import os
from functools import lru_cache
from pathlib import Path

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nl2sql_pipeline.core.config import REPO_ROOT, DatabaseConfig, DatabasesFile, load_databases
from nl2sql_pipeline.core.errors import ConfigError


@lru_cache(maxsize=1)
def databases() -> DatabasesFile:
    return load_databases()


def database_partitions() -> dg.StaticPartitionsDefinition:
    """One partition per configured database: adding one to the YAML adds a partition."""
    return dg.StaticPartitionsDefinition([d.name for d in databases().databases])


class DatabasesResource(dg.ConfigurableResource):
    """The parsed `databases.yaml`; URLs with credentials stay in the environment (`url_env`)."""

    config_path: str = ""

    def file(self) -> DatabasesFile:
        return load_databases(self.config_path) if self.config_path else databases()

    def get(self, name: str) -> DatabaseConfig:
        return self.file().get(name)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NightlySchedule(_Section):
    enabled: bool = False
    cron: str = "0 2 * * *"
    timezone: str = "UTC"


class SchemaDrift(_Section):
    enabled: bool = False
    interval_seconds: int = Field(3600, ge=30)


class Concurrency(_Section):
    llm_runs: int = Field(4, ge=1)
    gpu_runs: int = Field(1, ge=1)


class Orchestration(_Section):
    nightly_schedule: NightlySchedule = Field(default_factory=NightlySchedule)
    schema_drift: SchemaDrift = Field(default_factory=SchemaDrift)
    concurrency: Concurrency = Field(default_factory=Concurrency)


@lru_cache(maxsize=1)
def orchestration() -> Orchestration:
    """`configs/orchestration.yaml` (or `$NL2SQL_ORCHESTRATION`); defaults when absent."""
    chosen = os.environ.get("NL2SQL_ORCHESTRATION")
    path = Path(chosen) if chosen else Path("configs/orchestration.yaml")
    if not path.exists():
        path = REPO_ROOT / "configs" / "orchestration.yaml"
    if not path.exists():
        if chosen:
            raise ConfigError(f"{chosen} does not exist.", "point NL2SQL_ORCHESTRATION at an existing file or unset it.")
        return Orchestration()
    try:
        return Orchestration.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as err:
        raise ConfigError(f"Invalid orchestration settings in {path}: {err}", "correct the keys named above (see configs/orchestration.yaml).") from None
