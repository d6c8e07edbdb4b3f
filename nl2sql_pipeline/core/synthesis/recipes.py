"""The recipes of each Spider hardness level; the synthesizer renders a recipe's tree, checks
its real level with Spider's rules, and keeps it while that level still needs samples."""

from __future__ import annotations

from collections.abc import Callable

from nl2sql_pipeline.core.synthesis.grammar import Ctx
from nl2sql_pipeline.core.synthesis.ir import Tree
from nl2sql_pipeline.core.synthesis.recipes_deep import (
    h_above_average, h_group_top, h_in_subquery, h_join_filter_sort, h_set, x_join_group, x_join_set, x_nested, x_nested_link,
)
from nl2sql_pipeline.core.synthesis.recipes_flat import (
    e_aggregate, e_count, e_filter, e_having, e_join_project, e_project, e_sorted, m_columns_filter, m_group, m_join,
    m_join_group, m_range, m_top, m_two_filters,
)

Recipe = Callable[[Ctx], Tree | None]
RECIPES: dict[str, list[Recipe]] = {
    "easy": [e_project, e_filter, e_filter, e_count, e_aggregate, e_sorted, e_having, e_join_project, e_join_project],
    "medium": [m_columns_filter, m_group, m_top, m_range, m_two_filters, m_join, m_join, m_join_group, m_join_group],
    "hard": [h_in_subquery, h_above_average, h_set, h_group_top, h_join_filter_sort, h_join_filter_sort],
    "extra": [x_join_group, x_join_group, x_nested, x_nested, x_join_set, x_nested_link],
}

# Recipes that read more than one table (joins or subqueries): when a database's single-table
# share is full, the synthesizer draws from these.
MULTI_TABLE = {
    "e_join_project", "m_join", "m_join_group", "h_in_subquery", "h_join_filter_sort", "x_join_group", "x_join_set",
    "x_nested_link",
}
