"""The code location: one `Definitions` for the whole pipeline."""

import dagster as dg

from nl2sql_pipeline.defs import data_create, evaluation
from nl2sql_pipeline.defs.jobs import data_create_job
from nl2sql_pipeline.defs.io_managers import ParquetIOManager, PydanticJsonIOManager
from nl2sql_pipeline.defs.settings import DatabasesResource


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([data_create, evaluation]),
        jobs=[data_create_job],
        resources={
            "databases": DatabasesResource(),
            "json_io_manager": PydanticJsonIOManager(),
            "parquet_io_manager": ParquetIOManager(),
        },
    )


defs = build_definitions()
