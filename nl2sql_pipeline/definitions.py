"""The code location: one `Definitions` for the whole pipeline."""

import dagster as dg

from nl2sql_pipeline.defs import (
    data_create,
    evaluation,
    export,
    feedback,
    generation,
    linking,
    querylog,
    serving,
    training,
    validation,
)
from nl2sql_pipeline.defs.automation import nightly_schedule, schema_drift_sensor
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.jobs import (
    data_create_job, data_refresh_job, dataset_job, evaluation_job, serving_job, training_job,
)
from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource

# One module per asset group; each only wires the core.
ASSET_MODULES = [data_create, linking, feedback, querylog, generation, validation, export, training, serving, evaluation]


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules(ASSET_MODULES),
        jobs=[data_create_job, data_refresh_job, dataset_job, training_job, serving_job, evaluation_job],
        schedules=[nightly_schedule()],
        sensors=[schema_drift_sensor()],
        resources={
            "databases": DatabasesResource(),
            "llm": LLMResource(),
            "trainer": training.TrainerResource(),
            "serving": serving.ServingResource(),
            "json_io_manager": PydanticJsonIOManager(),
        },
    )


defs = build_definitions()
