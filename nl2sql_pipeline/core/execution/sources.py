"""Table sources: a query may read only the configured schema's tables (include/exclude applied).

Names are compared as the engine resolves them: qualified names as qualified names (`mysql.user`
is not the local `user`), PostgreSQL folding unquoted names to lower case, MySQL comparing case
as the server does (`lower_case_table_names`), SQLite ignoring case. A name that a CTE defines is
a CTE only where that CTE is visible (`WITH pg_shadow AS (SELECT * FROM pg_shadow)` reads the
real one inside its own body). System catalogs and other schemas or databases are refused
unless named in `allowed` (e.g. `information_schema.columns`, `information_schema.*`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp


@dataclass(frozen=True)
class SourcePolicy:
    """Which tables a query may read; built once per connection from the database's own list."""

    engine: str  # sqlite | postgres | mysql
    schemas: frozenset[str]  # qualifiers that mean "the configured schema" (main; public; the database)
    tables: frozenset[str]  # normalized names of readable tables in those schemas
    shadowing: frozenset[str] = frozenset()  # unqualified names the engine resolves elsewhere first
    allowed: tuple[str, ...] = ()  # opt-in "schema.table" patterns outside the configured schema
    case_sensitive: bool = False
    extra: frozenset[str] = field(default_factory=frozenset)

    def norm(self, ident: exp.Identifier | None) -> str:
        if ident is None:
            return ""
        name = ident.name
        if self.engine == "postgres":
            return name if ident.args.get("quoted") else name.lower()
        return name if self.case_sensitive else name.lower()

    def problem(self, tree: exp.Expression) -> str | None:
        """Why `tree` reads a table outside the policy, or None."""
        for table in tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                continue  # a table function: judged by the function allowlist
            name = self.norm(table.this)
            schema = self.norm(table.args.get("db"))
            catalog = self.norm(table.args.get("catalog"))
            if not schema and not catalog and _is_cte(table, name, self):
                continue
            reason = self._outside(name, schema, catalog)
            if reason:
                return reason
        return None

    def _outside(self, name: str, schema: str, catalog: str) -> str | None:
        written = ".".join(p for p in (catalog, schema, name) if p)
        if self._opted_in(name, schema):
            return None
        if catalog and self.engine != "postgres":
            return f"table {written} is outside the configured schema (three-part names are not allowed)"
        if catalog and catalog not in self.extra:
            return f"table {written} is in another database; only the configured one may be read"
        if schema and schema not in self.schemas:
            return (f"table {written} is outside the configured schema ({', '.join(sorted(self.schemas))}); "
                    "system catalogs and other schemas need validation.allowed_sources")
        if not schema and name in self.shadowing:
            return f"{name} is a system catalog, not a table of the configured schema"
        if name not in self.tables:
            return (f"table {written} is not one of the configured tables (include/exclude in databases.yaml, "
                    "or validation.allowed_sources for catalogs)")
        return None

    def _opted_in(self, name: str, schema: str) -> bool:
        if not self.allowed:
            return False
        candidates = [f"{schema}.{name}"] if schema else [name, *(f"{s}.{name}" for s in ("pg_catalog", "main"))]
        return any(fnmatch.fnmatchcase(c.lower(), p.lower()) for c in candidates for p in self.allowed)


def _is_cte(table: exp.Table, name: str, policy: SourcePolicy) -> bool:
    """Whether an unqualified `name` at `table` refers to a CTE visible there."""
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with") if isinstance(node, exp.Query) else None
        if isinstance(with_, exp.With):
            ctes = list(with_.expressions)
            inside = next((i for i, cte in enumerate(ctes) if child is cte), None)
            visible = ctes if inside is None else ctes[: inside + (1 if with_.args.get("recursive") else 0)]
            if any(policy.norm(cte.args["alias"].this) == name for cte in visible if cte.args.get("alias")):
                return True
        if isinstance(node, exp.With):
            # Coming up through a WITH: remember which CTE we are inside for the query above.
            inside_cte = next((cte for cte in node.expressions if cte is child), None)
            child = inside_cte if inside_cte is not None else node
        else:
            child = node
        node = node.parent
    return False


def matching(names: Iterable[str], include: Iterable[str], exclude: Iterable[str]) -> list[str]:
    """The names include/exclude keep (fnmatch patterns, as databases.yaml uses them)."""
    inc, exc = list(include) or ["*"], list(exclude)
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in inc)
            and not any(fnmatch.fnmatchcase(n, p) for p in exc)]
