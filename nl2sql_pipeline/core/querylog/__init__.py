"""The company's own SQL as training data: report files, query logs and the server's statement
statistics become validated question/SQL pairs (`source: log`).

`logged_queries(db, meta, executor)` is the entry point; `take_log_pairs` / `reduce_plan` put
them in front of the configured generator in `raw_samples`.
"""

from nl2sql_pipeline.core.querylog.logged import logged_queries
from nl2sql_pipeline.core.querylog.merge import reduce_plan, take_log_pairs, with_log_pairs
from nl2sql_pipeline.core.querylog.models import LOG_TOPIC, LoggedQueries

__all__ = ["LOG_TOPIC", "LoggedQueries", "logged_queries", "reduce_plan", "take_log_pairs", "with_log_pairs"]
