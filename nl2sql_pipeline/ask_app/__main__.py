"""`nl2sql-serve-ui` (or `make ask-ui`): the ask page and API on one port.

    nl2sql-serve-ui [--config databases.yaml] [--endpoint URL --model NAME] [--host 127.0.0.1] [--port $PORT]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from nl2sql_pipeline.core.ask.answer import AskConfig
from nl2sql_pipeline.core.ask.cli import endpoint_from
from nl2sql_pipeline.core.ask.model import OpenAIChatModel
from nl2sql_pipeline.core.config import databases_config_path, load_databases
from nl2sql_pipeline.core.errors import Nl2SqlError


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nl2sql-serve-ui", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, help="databases.yaml (default: NL2SQL_DATABASES, else configs/databases.yaml)")
    p.add_argument("--endpoint", help="OpenAI-compatible /v1 URL (default: the serving check's server)")
    p.add_argument("--model", help="model id to ask (default: the served adapter's name)")
    p.add_argument("--api-key-env", help="environment variable holding the endpoint's API key")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8765")))
    p.add_argument("--corrections", type=int, default=2)
    p.add_argument("--samples", type=int, default=1)
    args = p.parse_args(argv)
    import uvicorn

    from nl2sql_pipeline.ask_app.app import create_app, required_token

    try:
        token = required_token(args.host)
        databases = load_databases(args.config)
        endpoint = endpoint_from(args)
        app = create_app(databases, OpenAIChatModel(endpoint), token=token,
                         config=AskConfig(max_corrections=args.corrections, samples=args.samples))
    except (Nl2SqlError, ValueError) as err:
        print(f"nl2sql-serve-ui: {err}", file=sys.stderr)
        return 2
    print(f"nl2sql-serve-ui: databases from {args.config or databases_config_path()}, model {endpoint.model} at "
          f"{endpoint.base_url}; http://{args.host}:{args.port}/" + (" (bearer token required)" if token else ""),
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
