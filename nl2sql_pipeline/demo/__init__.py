"""The embedded demo databases, built from code the project ships, on first use.

Each demo is a SQLAlchemy `MetaData` (structure + comments) plus deterministic rows, so the same
schema loads into SQLite, PostgreSQL and MariaDB; on the servers the comments become real
`COMMENT`s, on SQLite they come from the demo's descriptions file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from nl2sql_pipeline.core.fsutil import atomic_write
from nl2sql_pipeline.demo import concert_singer, sales_cn

DemoBuilder = tuple[Callable[[], sa.MetaData], Callable[[], dict[str, list[dict]]]]
DEMOS: dict[str, DemoBuilder] = {
    "concert_singer": (concert_singer.metadata, concert_singer.rows),
    "sales_cn": (sales_cn.metadata, sales_cn.rows),
}
DESCRIPTIONS = {"sales_cn": Path(__file__).with_name("sales_cn.descriptions.yaml")}


def load_demo(engine: sa.Engine, name: str) -> None:
    """Create the demo's tables (with comments where the engine keeps them) and insert its rows."""
    make_metadata, make_rows = DEMOS[name]
    md = make_metadata()
    md.create_all(engine)
    rows = make_rows()
    with engine.begin() as conn:
        for table in md.sorted_tables:
            if rows.get(table.name):
                conn.execute(table.insert(), rows[table.name])


def ensure_demo_database(name: str, folder: Path) -> Path:
    """The demo's SQLite file under `folder`, built atomically if it is not there yet."""
    if name not in DEMOS:
        raise KeyError(f"unknown demo database {name!r}; known: {', '.join(DEMOS)}")
    path = Path(folder) / f"{name}.sqlite"
    if path.exists():
        return path

    def build(tmp: Path) -> None:
        tmp.unlink()  # mkstemp made an empty file; SQLite wants to create its own
        engine = sa.create_engine(f"sqlite:///{tmp}")
        try:
            load_demo(engine, name)
        finally:
            engine.dispose()

    return atomic_write(path, build)
