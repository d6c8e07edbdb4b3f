"""IR -> SQL per dialect, as data: each case is a tree and the SQL expected in four dialects."""

from __future__ import annotations

import pytest
import sqlglot

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Compound, Cond, Query, YearOf
from nl2sql_pipeline.core.synthesis.render_sql import Renderer
from nl2sql_pipeline.core.synthesis.schema import Column

SINGER = "sänger"
AGE = Column(table=SINGER, name="alter", type="integer", label="alter", key=False, nullable=True)
NAME = Column(table=SINGER, name="Name", type="text", label="name", key=False, nullable=True)
BORN = Column(table=SINGER, name="born_on", type="date", label="born on", key=False, nullable=True)


def q(**kw: object) -> Query:
    return Query(table=SINGER, entity="sänger", **kw)  # type: ignore[arg-type]


CASES = [
    (
        q(select=[Col(NAME)], where=[Cond(Col(AGE), ">", (30,))], order=[(Col(AGE), True)], limit=3),
        {
            "sqlite": 'SELECT "Name" FROM "sänger" WHERE "alter" > 30 ORDER BY "alter" DESC LIMIT 3',
            "postgres": 'SELECT "Name" FROM "sänger" WHERE "alter" > 30 ORDER BY "alter" DESC LIMIT 3',
            "mysql": "SELECT `Name` FROM `sänger` WHERE `alter` > 30 ORDER BY `alter` DESC LIMIT 3",
            "tsql": 'SELECT TOP 3 [Name] FROM [sänger] WHERE [alter] > 30 ORDER BY [alter] DESC',
        },
    ),
    (
        q(select=[Agg("count")], where=[Cond(YearOf(Col(BORN)), "=", (1990,))]),
        {
            "sqlite": "SELECT COUNT(*) FROM \"sänger\" WHERE CAST(STRFTIME('%Y', born_on) AS INTEGER) = 1990",
            "postgres": 'SELECT COUNT(*) FROM "sänger" WHERE EXTRACT(YEAR FROM born_on) = 1990',
            "mysql": "SELECT COUNT(*) FROM `sänger` WHERE EXTRACT(YEAR FROM born_on) = 1990",
            "tsql": "SELECT COUNT(*) FROM [sänger] WHERE DATEPART(YEAR, born_on) = 1990",
        },
    ),
    (
        Compound("except", q(select=[Col(NAME)], where=[Cond(Col(NAME), "like", ("%a%",))]),
                 q(select=[Col(NAME)], where=[Cond(Col(AGE), "is-null")])),
        {
            "sqlite": 'SELECT "Name" FROM "sänger" WHERE "Name" LIKE \'%a%\' EXCEPT SELECT "Name" FROM "sänger" WHERE "alter" IS NULL',
            "postgres": 'SELECT "Name" FROM "sänger" WHERE "Name" LIKE \'%a%\' EXCEPT SELECT "Name" FROM "sänger" WHERE "alter" IS NULL',
            "mysql": "SELECT `Name` FROM `sänger` WHERE `Name` LIKE '%a%' EXCEPT SELECT `Name` FROM `sänger` WHERE `alter` IS NULL",
            "tsql": "SELECT [Name] FROM [sänger] WHERE [Name] LIKE '%a%' EXCEPT SELECT [Name] FROM [sänger] WHERE [alter] IS NULL",
        },
    ),
    (
        q(select=[Col(NAME)], where=[Cond(Col(AGE), "<sub", sub=q(select=[Agg("avg", Col(AGE))]))], order=[(Col(AGE), False)]),
        {
            "sqlite": 'SELECT "Name" FROM "sänger" WHERE "alter" < (SELECT AVG("alter") FROM "sänger") ORDER BY "alter"',
            "postgres": 'SELECT "Name" FROM "sänger" WHERE "alter" < (SELECT AVG("alter") FROM "sänger") ORDER BY "alter"',
            "mysql": "SELECT `Name` FROM `sänger` WHERE `alter` < (SELECT AVG(`alter`) FROM `sänger`) ORDER BY `alter`",
            "tsql": 'SELECT [Name] FROM [sänger] WHERE [alter] < (SELECT AVG([alter]) FROM [sänger]) ORDER BY [alter]',
        },
    ),
]


@pytest.mark.parametrize(("tree", "expected"), CASES)
@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_rendering(tree: object, expected: dict[str, str], dialect: str) -> None:
    sql = Renderer(dialect).sql(tree)  # type: ignore[arg-type]
    assert sql == expected[dialect]
    assert sqlglot.parse_one(sql, read=dialect).sql(dialect=dialect) == sql  # round-trips in its own dialect
