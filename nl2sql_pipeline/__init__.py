"""nl2sql-pipeline: from a private database to a fine-tuned, execution-evaluated NL2SQL model.

`nl2sql_pipeline.core` is the Dagster-free core; `nl2sql_pipeline.defs` wires it into Dagster;
`nl2sql_pipeline.definitions` is the code location.
"""

__version__ = "0.1.0"
