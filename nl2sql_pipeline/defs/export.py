"""The end of step 6: the validated pairs of every database as one LLaMA-Factory dataset_dir."""

from typing import Literal

import dagster as dg
from pydantic import Field

from nl2sql_pipeline.core import export
from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.export import ExportConfig, export_dataset
from nl2sql_pipeline.core.fsutil import sha256_files
from nl2sql_pipeline.core.linking import linker as linking_linker
from nl2sql_pipeline.core.linking import prompt as linking_prompt
from nl2sql_pipeline.core.linking import report as linking_report
from nl2sql_pipeline.defs.conditions import ON_CONTENT_CHANGE
from nl2sql_pipeline.defs.convergence import converging
from nl2sql_pipeline.defs.data_create import GROUP
from nl2sql_pipeline.defs.jobs import ALL_DATABASES_TAG
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version


class ExportSettings(dg.Config):
    """How prompts are written; the defaults follow the reference design."""

    instruction_language: Literal["zh", "en"] = Field("zh", description="language of the prompts' instruction")
    instruction: str = Field("", description="an instruction that replaces the language's default one")
    schema_format: Literal["ddl", "cards"] = Field("ddl", description="how a prompt shows the schema: DDL or table cards")
    schema_budget_tokens: int = Field(1200, description="most schema tokens in one prompt")
    schema_max_tables: int = Field(0, description="most tables in one prompt; 0: only the budget limits them")
    oracle_dev: bool = Field(False, description="also export the dev split with oracle schemas, for the diagnostic score")


@dg.asset(
    group_name=GROUP,
    kinds={"python", "json"},
    tags=ALL_DATABASES_TAG,
    # Converging runs of several databases each end with the export: one at a time, so the last
    # one reads every database's newest samples (slots: `make dagster-home`).
    pool="export",
    code_version=code_version(export, linking_linker, linking_prompt, linking_report),
    io_manager_key="json_io_manager",
    automation_condition=ON_CONTENT_CHANGE,
    ins={
        "validated_samples": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
        "table_cards": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
        "schema_index": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
    },
)
# a converging run reuses the export when its inputs did not change and its files are all there
@converging(intact=lambda _, version: (nl2sql_home() / "dataset").is_dir()
            and sha256_files(sorted((nl2sql_home() / "dataset").iterdir()))[:16] == version.value)
def training_dataset(context: dg.AssetExecutionContext, config: ExportSettings, databases: DatabasesResource,
                     validated_samples: dict, table_cards: dict, schema_index: dict) -> dg.Output:
    """Step 6's export: `$NL2SQL_HOME/dataset/`, a LLaMA-Factory dataset_dir over all databases: Alpaca and
    ShareGPT JSONL (train/dev) with the schema in every prompt, dataset_info.json, samples.jsonl and
    report.json/report.md. Unchanged inputs leave every file byte-identical."""
    contexts = {key: databases.get(key).schema_context for key in validated_samples}
    base = ExportConfig.for_language(config.instruction_language, schema_format=config.schema_format,
                                     schema_budget_tokens=config.schema_budget_tokens, schema_context=contexts,
                                     schema_max_tables=config.schema_max_tables, oracle_dev=config.oracle_dev)
    settings = base.model_copy(update={"instruction": config.instruction}) if config.instruction else base
    report = export_dataset(list(validated_samples.values()), table_cards, nl2sql_home() / "dataset", settings,
                            indexes=schema_index)
    context.log.info(f"dataset: {report.files}; changed files: {report.changed or 'none'}")
    folder = nl2sql_home() / "dataset"
    return dg.Output(
        report,
        data_version=dg.DataVersion(sha256_files(sorted(folder.iterdir()))[:16]),
        metadata={
            "dataset_dir": dg.MetadataValue.path(report.dataset_dir),
            "databases": len(validated_samples),
            "train_rows": report.files.get("alpaca_train.jsonl", 0),
            "dev_rows": report.files.get("alpaca_dev.jsonl", 0),
            "by_hardness": report.counts["hardness"],
            "by_database": report.counts["database"],
            "linking": dg.MetadataValue.json(report.linking),
            "changed_files": ", ".join(report.changed) or "none",
            "report": dg.MetadataValue.md((folder / "report.md").read_text(encoding="utf-8")),
        },
    )
