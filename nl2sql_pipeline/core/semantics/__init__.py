"""Column semantics: comments parsed into labels, legends, units, ranges and formats, and each
column classified by role (identifier, category, flag, measure, datetime, text)."""

from nl2sql_pipeline.core.semantics.roles import ROLES, ColumnSemantics, Profile, Role, classify
from nl2sql_pipeline.core.semantics.index import SemanticIndex, profile_table
from nl2sql_pipeline.core.semantics.legend import ParsedComment, parse_comment, table_label

__all__ = ["ROLES", "ColumnSemantics", "ParsedComment", "Profile", "Role", "SemanticIndex", "classify",
           "parse_comment", "profile_table", "table_label"]
