"""Jobs users launch from the UI, schedules and the command line."""

import dagster as dg

from nl2sql_pipeline.defs.settings import database_partitions

data_create_job = dg.define_asset_job(
    "data_create_job",
    selection=dg.AssetSelection.groups("data_create"),
    partitions_def=database_partitions(),
    description="Steps 1-6 of data_create for one database (partition).",
)
