"""`nl2sql-ask`: ask a configured database a question through the tuned model.

    nl2sql-ask --config databases.yaml --database NAME [--endpoint URL --model NAME] "question"

The endpoint defaults to the serving check's server (configs/serve.yaml: attach_url, else
http://host:port/v1, asking the adapter's name). Prints the SQL, the rows as a table, every
attempt and the time per stage; `--json` prints the whole answer for scripts. Exit status: 0 when
the question was answered, 1 when it was not (unsafe, failing or unreachable model), 2 for bad
arguments or configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nl2sql_pipeline.core.ask.answer import Answer, AskConfig, answer_question
from nl2sql_pipeline.core.ask.model import ChatEndpoint, OpenAIChatModel
from nl2sql_pipeline.core.ask.schema import schema_for
from nl2sql_pipeline.core.config import load_databases
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.serving.config import load_serve_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nl2sql-ask", description=__doc__.split("\n\n")[0])
    p.add_argument("question")
    p.add_argument("--config", type=Path, help="databases.yaml (default: NL2SQL_DATABASES, else configs/databases.yaml)")
    p.add_argument("--database", required=True, help="a database name from the configuration")
    p.add_argument("--endpoint", help="OpenAI-compatible /v1 URL (default: the serving check's server)")
    p.add_argument("--model", help="model id to ask (default: the served adapter's name)")
    p.add_argument("--api-key-env", help="environment variable holding the endpoint's API key")
    p.add_argument("--corrections", type=int, default=2, help="correction rounds after an error (default 2)")
    p.add_argument("--samples", type=int, default=1, help="self-consistency samples; the majority result wins")
    p.add_argument("--rows", type=int, default=50, help="rows to print (default 50)")
    p.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    return p


def endpoint_from(args: argparse.Namespace) -> ChatEndpoint:
    if args.endpoint and args.model:
        return ChatEndpoint(base_url=args.endpoint.rstrip("/"), model=args.model, api_key_env=args.api_key_env)
    serve = load_serve_config()
    base_url = args.endpoint or serve.attach_url or f"http://{serve.host}:{serve.port}/v1"
    return ChatEndpoint(base_url=base_url.rstrip("/"), model=args.model or serve.adapter_name,
                    api_key_env=args.api_key_env or serve.api_key_env, timeout_s=serve.request_timeout_s)


def render_table(columns: list[str], rows: list[list], limit: int) -> str:
    shown = [["NULL" if v is None else str(v) for v in row] for row in rows[:limit]]
    widths = [max([len(c), *(len(r[i]) for r in shown)]) for i, c in enumerate(columns)]
    line = lambda cells: " | ".join(cell.ljust(w) for cell, w in zip(cells, widths))  # noqa: E731
    out = [line(columns), "-+-".join("-" * w for w in widths), *(line(r) for r in shown)]
    if len(rows) > limit:
        out.append(f"... {len(rows) - limit} more rows")
    return "\n".join(out)


def render(answer: Answer, limit: int) -> str:
    lines = [f"database: {answer.database} ({answer.dialect}); schema shown: {', '.join(answer.tables)}"]
    for a in answer.attempts:
        verdict = f"{a.row_count} rows" if a.failed is None else f"{a.failed}: {a.error}"
        lines.append(f"attempt {a.round + 1}: {a.sql or a.output[:200]!r} -> {verdict}")
    t = answer.timings
    lines.append(f"time: linking {t.linking_s * 1000:.0f} ms, model {t.model_s * 1000:.0f} ms, "
                 f"validation {t.validation_s * 1000:.0f} ms, execution {t.execution_s * 1000:.0f} ms")
    if not answer.ok:
        lines.append(f"not answered ({answer.failed}): {answer.error}")
        return "\n".join(lines)
    votes = f" ({answer.votes} samples agree)" if answer.votes > 1 else ""
    lines += ["", f"SQL{votes}:", answer.sql, "", render_table(answer.columns, answer.rows, limit)]
    if answer.truncated:
        lines.append("(more rows exist than were fetched)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        db = load_databases(args.config).get(args.database)
        endpoint = endpoint_from(args)
        config = AskConfig(max_corrections=args.corrections, samples=args.samples)
        schema = schema_for(db)
    except (Nl2SqlError, ValueError) as err:
        print(f"nl2sql-ask: {err}", file=sys.stderr)
        return 2
    answer = answer_question(args.question, schema, OpenAIChatModel(endpoint), config)
    print(answer.model_dump_json(indent=2) if args.json else render(answer, args.rows))
    return 0 if answer.ok else 1


if __name__ == "__main__":
    sys.exit(main())
