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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nl2sql_pipeline.core.errors import ConfigError

DEMO_DATABASES = ("concert_singer", "sales_cn")
REPO_ROOT = Path(__file__).resolve().parents[2]


def nl2sql_home() -> Path:
    """Where every artifact lives: `$NL2SQL_HOME`, default `./artifacts`."""
    return Path(os.environ.get("NL2SQL_HOME", "artifacts")).resolve()


def databases_config_path() -> Path:
    """`$NL2SQL_DATABASES`, else `configs/databases.yaml` in the working or the repository folder."""
    chosen = os.environ.get("NL2SQL_DATABASES")
    if chosen:
        return Path(chosen).resolve()
    local = Path("configs/databases.yaml")
    return local.resolve() if local.exists() else REPO_ROOT / "configs" / "databases.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanningConfig(_Strict):
    """How tables are grouped into topics and the sample budget divided."""

    min_tables: int = Field(2, ge=1)
    max_tables: int = Field(4, ge=1)
    min_per_topic: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _range(self) -> PlanningConfig:
        if self.max_tables < self.min_tables:
            raise ValueError("planning.max_tables must be >= planning.min_tables")
        return self


class SynthesisConfig(_Strict):
    """The offline synthesizer: seed, hardness mix, and which values may be sampled."""

    seed: int = 0
    hardness_mix: dict[Literal["easy", "medium", "hard", "extra"], float] = Field(
        default_factory=lambda: {"easy": 0.25, "medium": 0.30, "hard": 0.25, "extra": 0.20}
    )
    # Real values make queries return rows; switch off for private data. Patterns are
    # `table` or `table.column` (fnmatch).
    sample_values: bool = True
    no_sample: list[str] = Field(default_factory=list)


class ValidationConfig(_Strict):
    timeout_s: float = Field(5.0, gt=0)
    row_cap: int = Field(1000, ge=1)
    keep_empty: bool = True
    # Opt-in `schema.table` patterns outside the configured schema that queries may read
    # (e.g. `information_schema.columns`); system catalogs are refused without them.
    allowed_sources: list[str] = Field(default_factory=list)


class QueryLogConfig(_Strict):
    """The company's own SQL as training data: report files, query logs, the server's statement stats.

    Paths are relative to the config file. `share` caps the log pairs at that share of
    `sample_budget`; the configured generator fills the rest.
    """

    sql_dir: Path | None = None  # *.sql files; a `-- question: ...` line right before a statement is its question
    file: Path | None = None  # JSONL or CSV with sql[, question, count]
    pg_stat_statements: bool = False  # PostgreSQL, when the extension is installed and readable
    performance_schema: bool = False  # MySQL/MariaDB statement digests, when readable
    share: float = Field(0.3, ge=0.0, le=1.0)
    min_count: int = Field(1, ge=1)  # statements the server saw fewer times are left out

    @model_validator(mode="after")
    def _some_source(self) -> QueryLogConfig:
        if not (self.sql_dir or self.file or self.pg_stat_statements or self.performance_schema):
            raise ValueError("query_log needs at least one of sql_dir, file, pg_stat_statements: true, performance_schema: true")
        return self

    def resolved(self, base: Path) -> QueryLogConfig:
        fix = {k: (base / p).resolve() for k in ("sql_dir", "file") if (p := getattr(self, k)) and not p.is_absolute()}
        return self.model_copy(update=fix) if fix else self


class PiiConfig(_Strict):
    """Personal data in prompts (core/llm/pii.py): `auto` masks for any endpoint not on loopback."""

    mode: Literal["auto", "mask", "drop", "off"] = "auto"
    extra_columns: list[str] = Field(default_factory=list)  # `table.column` patterns that are sensitive too
    allow_columns: list[str] = Field(default_factory=list)  # detected columns that may be shown after all


class DatabaseConfig(_Strict):
    """One database to turn into training data; its name is its Dagster partition key."""

    name: str
    url: str | None = None
    url_env: str | None = None
    demo: Literal["concert_singer", "sales_cn"] | None = None
    dialect: str | None = None
    db_schema: str | None = Field(None, alias="schema")
    # Evaluation's neighbour databases of a PostgreSQL/MariaDB source are written here (never the source)
    scratch_url_env: str | None = None
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    descriptions: Path | None = None
    sample_budget: int = Field(300, ge=1)
    language: Literal["zh", "en"] | None = None
    generator: Literal["offline", "llm", "llm-sql-first"] = "offline"
    # Which tables a prompt shows (core.linking): linked (the whole schema when it fits), full,
    # or oracle (the gold SQL's tables: a labelled diagnostic, never what a deployed model sees).
    schema_context: Literal["full", "linked", "oracle"] = "linked"
    planning: PlanningConfig = Field(default_factory=PlanningConfig)
    synthesis: SynthesisConfig = Field(default_factory=SynthesisConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    query_log: QueryLogConfig | None = None
    pii: PiiConfig = Field(default_factory=PiiConfig)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

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


class DatabasesFile(_Strict):
    databases: list[DatabaseConfig] = Field(min_length=1)

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


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  - {key}: {e['msg']}")
    return "\n".join(lines)


def parse_databases(data: object, source: str = "<dict>") -> DatabasesFile:
    try:
        parsed = DatabasesFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(
            f"Invalid database configuration in {source}:\n{_describe(err)}\n",
            "correct the keys named above (see configs/databases.yaml and README 'Configuration').",
        ) from None
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
    path = Path(path) if path else databases_config_path()
    if not path.exists():
        raise ConfigError(
            f"Database configuration file {path} does not exist.",
            "create it (copy configs/databases.yaml) or point NL2SQL_DATABASES at an existing file.",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}", "fix the YAML syntax at the line shown.") from None
    return parse_databases(data, str(path))
