"""Step 2 end to end for one configured database: reflect, then merge a descriptions file."""

from __future__ import annotations

import sqlalchemy as sa

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import engine_for, explain_connection_error, sqlglot_dialect
from nl2sql_pipeline.core.schema.descriptions import load_descriptions, merge_descriptions
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata, extract_metadata


def read_schema(db: DatabaseConfig) -> SchemaMetadata:
    engine = engine_for(db)
    try:
        meta = extract_metadata(engine, db, sqlglot_dialect(db, engine.url))
    except sa.exc.DBAPIError as err:
        raise explain_connection_error(db, engine.url, err) from None
    path = db.descriptions
    if path is None and db.demo:
        from nl2sql_pipeline.demo import DESCRIPTIONS  # a demo carries its own comments

        path = DESCRIPTIONS.get(db.demo)
    return merge_descriptions(meta, load_descriptions(path)) if path else meta
