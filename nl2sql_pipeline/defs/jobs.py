"""Jobs users launch from the UI, schedules and the command line.

Run tags drive the run-level limits of dagster.yaml: `nl2sql/llm` (runs that may call the LLM)
and `nl2sql/gpu` (runs that train or serve on the GPU).
"""

import dagster as dg

from nl2sql_pipeline.defs.convergence import CONVERGE_TAGS


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

# The job that converges (defs/convergence.py): launched for one database, it probes it, reads
# its schema and brings every data_create asset downstream up to date in this one run, the export
# included; an asset whose inputs, code and settings are unchanged returns its stored value.
data_refresh_job = dg.define_asset_job(
    "data_refresh_job",
    selection=dg.AssetSelection.groups("data_create").materializable(),
    tags={"nl2sql/llm": "true", **CONVERGE_TAGS},
    description="For one database (partition): everything downstream of a schema or settings change, in one run, "
                "the export included; unchanged assets keep their stored value and data version.",
)

dataset_job = dg.define_asset_job(
    "dataset_job",
    selection=FAN_IN,
    description="Step 6's export: the LLaMA-Factory dataset_dir over all databases.",
)

# Training and serving hold the GPU: one such run at a time (tag limit and `gpu` pool).
GPU_TAGS = {"nl2sql/gpu": "true"}

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("training"),
    tags=GPU_TAGS,
    description="LoRA fine-tuning on the exported dataset and predictions of base and adapter.",
)

serving_job = dg.define_asset_job(
    "serving_job",
    selection=dg.AssetSelection.groups("serving"),
    tags=GPU_TAGS,
    description="Serve the adapter on vLLM, prove it answers, gather predictions.",
)

evaluation_job = dg.define_asset_job(
    "evaluation_job",
    selection=dg.AssetSelection.groups("evaluation"),
    description="Score base vs adapter predictions by execution match and text metrics.",
)
