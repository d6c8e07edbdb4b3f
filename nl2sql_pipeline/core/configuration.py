"""`python -m nl2sql_pipeline.core.configuration`: which configuration a process started here
would load (files, homes, databases and whether their URL variables are set, LLM endpoint).

`make ui` prints it first: the web UI's code location reads the same environment as `make demo`,
and a UI started in another shell without NL2SQL_HOME / NL2SQL_DATABASES / the URL variables
shows other partitions and other runs without saying so.
"""

from __future__ import annotations

import os

from nl2sql_pipeline.core.config import databases_config_path, nl2sql_home
from nl2sql_pipeline.core.errors import Nl2SqlError


def describe() -> str:
    from nl2sql_pipeline.core.config import load_databases
    from nl2sql_pipeline.core.llm.settings import llm_config_path, load_llm_settings

    lines = [f"Configuration: {databases_config_path()}",
             f"  NL2SQL_HOME: {nl2sql_home()}",
             f"  DAGSTER_HOME: {os.environ.get('DAGSTER_HOME') or '(unset: runs are not kept)'}"]
    try:
        for db in load_databases().databases:
            if db.url_env:
                source = f"${db.url_env} ({'set' if os.environ.get(db.url_env) else 'NOT SET in this shell'})"
            else:
                source = f"demo {db.demo}" if db.demo else "url in the file"
            lines.append(f"  database {db.name}: {source}, generator {db.generator}")
    except Nl2SqlError as err:
        lines.append(f"  databases: {err}")
    try:
        llm = load_llm_settings()
        lines.append(f"  LLM: {llm.model} at {llm.base_url} (settings {llm_config_path()}; "
                     "NL2SQL_LLM_BASE_URL / NL2SQL_LLM_MODEL override them)")
    except Nl2SqlError as err:
        lines.append(f"  LLM: {err}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
