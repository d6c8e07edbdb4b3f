"""Jobs users launch from the UI, schedules and the command line.

Run tags drive the run-level limits of dagster.yaml: `nl2sql/llm` (runs that may call the LLM)
and `nl2sql/gpu` (runs that train or serve on the GPU).
"""

import dagster as dg


# Per-database steps; fan-in assets (the export over all databases) carry this tag and run
# in dataset_job instead.
ALL_DATABASES_TAG = {"nl2sql/scope": "all-databases"}
FAN_IN = dg.AssetSelection.tag("nl2sql/scope", "all-databases")
PER_DATABASE = dg.AssetSelection.groups("data_create").materializable() - FAN_IN

data_create_job = dg.define_asset_job(
    "data_create_job",
    selection=PER_DATABASE,
    tags={"nl2sql/llm": "true"},
    description="Steps 1-6 of data_create for one database (partition): metadata to validated samples.",
)

dataset_job = dg.define_asset_job(
    "dataset_job",
    selection=FAN_IN,
    description="Step 6's export: the LLaMA-Factory dataset_dir over all databases.",
)
