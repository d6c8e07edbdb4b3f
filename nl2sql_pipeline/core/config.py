"""Structural configuration: `configs/databases.yaml`, validated with errors that name the fix.

Secrets never live in the file: a database URL that holds a password is named by the
environment variable that holds it (`url_env`).
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from nl2sql_pipeline.core.config_loader import REPO_ROOT as REPO_ROOT  # where the rest of the code finds it
from nl2sql_pipeline.core.config_loader import ConfigFile, StrictModel
from nl2sql_pipeline.core.errors import ConfigError

DEMO_DATABASES = ("concert_singer", "sales_cn")
DATABASES_FILE = ConfigFile("databases.yaml", "NL2SQL_DATABASES", "database configuration",
                            see="configs/databases.yaml and README 'Configuration'")


def nl2sql_home() -> Path:
    """Where every artifact lives: `$NL2SQL_HOME`, default `./artifacts`."""
    return Path(os.environ.get("NL2SQL_HOME", "artifacts")).resolve()


def databases_config_path() -> Path:
    """`$NL2SQL_DATABASES`, else `configs/databases.yaml` in the working or the repository folder."""
    return DATABASES_FILE.path()


class PlanningConfig(StrictModel):
    """How tables are grouped into topics and the sample budget divided."""

    min_tables: int = Field(2, ge=1, description="fewest tables in one topic")
    max_tables: int = Field(4, ge=1, description="most tables in one topic (at least min_tables)")
    min_per_topic: int = Field(5, ge=1, description="fewest samples a topic is given")

    @model_validator(mode="after")
    def _range(self) -> PlanningConfig:
        if self.max_tables < self.min_tables:
            raise ValueError("planning.max_tables must be >= planning.min_tables")
        return self


class SynthesisConfig(StrictModel):
    """The offline synthesizer: seed, hardness mix, and which values may be sampled."""

    seed: int = Field(0, description="seed of the offline synthesizer; the same seed, the same samples")
    hardness_mix: dict[Literal["easy", "medium", "hard", "extra"], float] = Field(
        default_factory=lambda: {"easy": 0.25, "medium": 0.30, "hard": 0.25, "extra": 0.20},
        description="share of samples per Spider hardness level (easy, medium, hard, extra)",
    )
    # Real values make queries return rows; private data may need them off.
    sample_values: bool = Field(True, description="whether real column values may appear in generated queries")
    no_sample: list[str] = Field(
        default_factory=list, description="`table` or `table.column` patterns (fnmatch) whose values are never sampled"
    )


class ValidationConfig(StrictModel):
    """How generated queries are executed to check them."""

    timeout_s: float = Field(5.0, gt=0, description="seconds a validation query may run before it is stopped")
    row_cap: int = Field(1000, ge=1, description="most rows read from one validation query")
    keep_empty: bool = Field(True, description="whether queries that return no rows are kept")
    # System catalogs are refused unless named here.
    allowed_sources: list[str] = Field(
        default_factory=list,
        description="`schema.table` patterns outside the configured schema that queries may read "
        "(e.g. information_schema.columns)",
    )


class QueryLogConfig(StrictModel):
    """The company's own SQL as training data: report files, query logs, the server's statement stats.

    Paths are relative to the config file. `share` caps the log pairs at that share of
    `sample_budget`; the configured generator fills the rest.
    """

    sql_dir: Path | None = Field(
        None, description="folder of *.sql files; a `-- question: ...` line right before a statement is its question"
    )
    file: Path | None = Field(None, description="JSONL or CSV file with sql[, question, count]")
    pg_stat_statements: bool = Field(
        False, description="read PostgreSQL's pg_stat_statements, when the extension is installed and readable"
    )
    performance_schema: bool = Field(
        False, description="read MySQL/MariaDB statement digests from performance_schema, when readable"
    )
    share: float = Field(0.3, ge=0.0, le=1.0, description="most log pairs, as a share of sample_budget")
    min_count: int = Field(1, ge=1, description="statements the server saw fewer times are left out")

    @model_validator(mode="after")
    def _some_source(self) -> QueryLogConfig:
        if not (self.sql_dir or self.file or self.pg_stat_statements or self.performance_schema):
            raise ValueError("query_log needs at least one of sql_dir, file, pg_stat_statements: true, performance_schema: true")
        return self

    def resolved(self, base: Path) -> QueryLogConfig:
        fix = {k: (base / p).resolve() for k in ("sql_dir", "file") if (p := getattr(self, k)) and not p.is_absolute()}
        return self.model_copy(update=fix) if fix else self


class PiiConfig(StrictModel):
    """Personal data in prompts (core/llm/pii.py): `auto` masks for any endpoint not on loopback."""

    mode: Literal["auto", "mask", "drop", "off"] = Field(
        "auto", description="auto (mask unless the endpoint is on loopback), mask, drop or off"
    )
    extra_columns: list[str] = Field(default_factory=list, description="`table.column` patterns that are sensitive too")
    allow_columns: list[str] = Field(default_factory=list, description="detected columns that may be shown after all")


class DatabaseConfig(StrictModel):
    """One database to turn into training data; its name is its Dagster partition key."""

    name: str = Field(description="partition key and folder name: letters, digits, '_', '-' or '.'")
    url: str | None = Field(None, description="SQLAlchemy URL without a password")
    url_env: str | None = Field(None, description="name of the environment variable that holds the URL")
    demo: Literal["concert_singer", "sales_cn"] | None = Field(None, description="an embedded demo database")
    dialect: str | None = Field(None, description="sqlglot dialect name; default: the URL's")
    db_schema: str | None = Field(None, alias="schema", description="the database schema to read")
    scratch_url_env: str | None = Field(
        None,
        description="environment variable with the URL where evaluation writes the neighbour databases of a "
        "PostgreSQL/MariaDB source (never the source)",
    )
    include: list[str] = Field(default_factory=lambda: ["*"], description="table-name patterns to read (fnmatch)")
    exclude: list[str] = Field(default_factory=list, description="table-name patterns to leave out (fnmatch)")
    descriptions: Path | None = Field(
        None, description="YAML of table/column comments, relative to this file; it wins over the catalog"
    )
    sample_budget: int = Field(300, ge=1, description="NL/SQL pairs to generate for this database")
    language: Literal["zh", "en"] | None = Field(None, description="zh or en; default: zh when the comments are Chinese")
    generator: Literal["offline", "llm", "llm-sql-first"] = Field(
        "offline", description="offline, llm or llm-sql-first (the LLM ones use configs/llm.yaml)"
    )
    schema_context: Literal["full", "linked", "oracle"] = Field(
        "linked",
        description="which tables a prompt shows: linked (the whole schema when it fits), full, or oracle "
        "(the gold SQL's tables: a labelled diagnostic, never what a deployed model sees)",
    )
    planning: PlanningConfig = Field(default_factory=PlanningConfig, description="how tables are grouped into topics")
    synthesis: SynthesisConfig = Field(default_factory=SynthesisConfig, description="the offline synthesizer")
    validation: ValidationConfig = Field(
        default_factory=ValidationConfig, description="how generated queries are executed to check them"
    )
    query_log: QueryLogConfig | None = Field(None, description="the company's own SQL as training data")
    pii: PiiConfig = Field(default_factory=PiiConfig, description="personal data in LLM prompts")

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", v):
            raise ValueError("name must be letters, digits, '_', '-' or '.' (it becomes a partition key and a folder)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> DatabaseConfig:
        given = [k for k in ("url", "url_env", "demo") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of url, url_env (name of an environment variable holding the URL) "
                f"or demo ({' / '.join(DEMO_DATABASES)}); got {given or 'none'}"
            )
        if self.url and re.search(r"://[^/@\s]*:[^/@\s]+@", self.url):
            raise ValueError(
                "url contains a password; put the URL in an environment variable and name it with url_env"
            )
        return self

    def includes_table(self, table: str) -> bool:
        def hit(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(table, p) for p in patterns)

        return hit(self.include) and not hit(self.exclude)

    def may_sample(self, table: str, column: str) -> bool:
        if not self.synthesis.sample_values:
            return False
        return not any(
            fnmatch.fnmatchcase(table, p) or fnmatch.fnmatchcase(f"{table}.{column}", p)
            for p in self.synthesis.no_sample
        )


class DatabasesFile(StrictModel):
    """`configs/databases.yaml`: the databases to turn into training data."""

    databases: list[DatabaseConfig] = Field(min_length=1, description="one entry per database (Dagster partition)")

    @model_validator(mode="after")
    def _unique(self) -> DatabasesFile:
        names = [d.name for d in self.databases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"database names must be unique; repeated: {', '.join(dupes)}")
        return self

    def get(self, name: str) -> DatabaseConfig:
        for db in self.databases:
            if db.name == name:
                return db
        raise ConfigError(
            f"No database named {name!r} in the configuration.",
            f"use one of {', '.join(d.name for d in self.databases)} or add it to databases.yaml.",
        )


def parse_databases(data: object, source: str = "<dict>") -> DatabasesFile:
    parsed = DATABASES_FILE.validate(DatabasesFile, data, source)
    base = Path(source).parent if source != "<dict>" else Path.cwd()
    # Descriptions files are relative to the config file, so a config travels with its folder.
    fixed = [
        db.model_copy(update={"descriptions": (base / db.descriptions).resolve()})
        if db.descriptions and not db.descriptions.is_absolute()
        else db
        for db in parsed.databases
    ]
    fixed = [db.model_copy(update={"query_log": db.query_log.resolved(base)}) if db.query_log else db for db in fixed]
    return DatabasesFile(databases=fixed)


def load_databases(path: Path | None = None) -> DatabasesFile:
    data, path = DATABASES_FILE.read(path)
    return parse_databases(data, str(path))
