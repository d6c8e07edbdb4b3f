"""Where configuration comes from, read once per process when the code location loads."""

from functools import lru_cache

import dagster as dg

from nl2sql_pipeline.core.config import DatabaseConfig, DatabasesFile, load_databases


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
