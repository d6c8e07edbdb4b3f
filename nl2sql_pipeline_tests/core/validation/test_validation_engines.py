"""The same three layers on PostgreSQL and MariaDB (sales_cn demo loaded into scratch databases)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.validation import validate_samples
from nl2sql_pipeline.demo import load_demo

# (sql, expected layer or "pass", fragment of the reason)
CASES = [
    ("WITH big AS (SELECT customer_id, sum(total_amount) AS spent FROM orders GROUP BY customer_id) "
     "SELECT c.customer_name, b.spent FROM customers AS c JOIN big AS b ON c.customer_id = b.customer_id", "pass", ""),
    ("SELECT store_name FROM stores AS s WHERE area_sqm > (SELECT avg(area_sqm) FROM stores WHERE province = s.province)",
     "pass", ""),
    ("SELECT city, count(*) AS n FROM customers GROUP BY city ORDER BY n DESC", "pass", ""),
    ("SELECT product_name FROM products WHERE unit_price > 100000", "pass", ""),
    ("SELECT customer_name FROM customers WHERE vip_level = 'gold'", "schema", "unknown column 'vip_level'"),
    ("SELECT o.discount FROM orders AS o", "schema", "unknown column 'discount' in 'o'"),
    ("SELECT p.product_name FROM products AS pr", "schema", "'p' is not a table or alias in FROM"),
    ("SELECT name FROM shops", "schema", "unknown table 'shops'"),
    ("SELECT store_name FROM stores WHERE", "syntax", "does not parse"),
    ("SELECT 1; UPDATE stores SET city = 'x'", "syntax", "exactly one statement"),
    ("SELECT store_id FROM stores WHERE store_id = (SELECT store_id FROM orders)", "execution", "runtime"),
]


@pytest.mark.parametrize("fixture,dialect", [("pg_db", "postgres"), ("mysql_db", "mysql")])
def test_layers_on_server_engines(request: pytest.FixtureRequest, fixture: str, dialect: str) -> None:
    url = request.getfixturevalue(fixture)
    engine = sa.create_engine(url)
    load_demo(engine, "sales_cn")
    engine.dispose()
    meta = read_schema(DatabaseConfig(name="sales", url=url))
    raw = RawSamples(database="sales", dialect=dialect, samples=[
        Sample(database="sales", topic="t", question=f"q{i}", sql=sql, language="zh") for i, (sql, _, _) in enumerate(CASES)
    ])
    with ReadOnlyExecutor(url, dialect) as executor:
        result = validate_samples(raw, meta, executor, semantic_layer=False)  # layers 1-3 (questions are stand-ins)
    for (sql, layer, fragment), item in zip(CASES, result.items):
        got = "pass" if item.passed else item.failed_layer
        assert got == layer and fragment in (item.reason or ""), f"{dialect}: {sql} -> {got}: {item.reason}"
    assert result.items[3].empty and result.items[0].row_count and result.items[0].column_count == 2


@pytest.mark.parametrize(
    ("sql", "dialect", "fragment"),
    [
        ("SELECT * FROM mysql.user", "mysql", "outside the configured schema"),
        ("SELECT * FROM other_db.customers", "mysql", "outside the configured schema"),
        ("SELECT * FROM secret.customers", "postgres", "outside the configured schema"),
        ("SELECT * FROM db.public.customers", "postgres", "names another database"),
        ("SELECT * FROM temp.customers", "sqlite", "outside the configured schema"),
    ],
)
def test_schema_layer_compares_qualified_names(sql: str, dialect: str, fragment: str) -> None:
    """A local table named like the qualified one (`user`, `customers`) does not make it resolve."""
    from nl2sql_pipeline.core.schema.metadata import ColumnInfo, SchemaMetadata, TableInfo
    from nl2sql_pipeline.core.validation import SchemaIndex, check_schema

    col = ColumnInfo(name="id", type="integer", raw_type="INT", nullable=True)
    meta = SchemaMetadata(database="d", backend=dialect, dialect=dialect,
                          tables=[TableInfo(name=n, columns=[col]) for n in ("user", "customers")])
    problems = check_schema(sql, SchemaIndex.of(meta), dialect)
    assert problems and fragment in problems[0], problems
    assert check_schema("SELECT id FROM customers", SchemaIndex.of(meta), dialect) == []
