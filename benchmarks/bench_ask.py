"""Latency of one asked question by stage (linking, model, validation, execution), beside the
bare model call on the same prompts in the same run: what the answering path adds to the model.

    .venv/bin/python benchmarks/bench_ask.py [--questions 40] [--corrections 0]
    .venv/bin/python benchmarks/bench_ask.py --url http://127.0.0.1:8000/v1 --model nl2sql --database DB

By default two endpoints answer the same questions (spider-de's concert_singer dev split, on its SQLite database):
`transformers serve` with the tiny offline model on CPU (random weights: its answers are not SQL,
so this row measures the model stage), and a loopback endpoint that replays each question's gold
SQL at once (so linking, validation and execution run on real queries). With --url, ask any
served model (e.g. the GPU vLLM of the serving check) about a configured database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from nl2sql_pipeline.core.ask.answer import AskConfig, answer_question
from nl2sql_pipeline.core.ask.model import ChatEndpoint, OpenAIChatModel
from nl2sql_pipeline.core.ask.schema import schema_for
from nl2sql_pipeline.core.config import parse_databases

SPIDER = Path(__file__).resolve().parents[1] / "nl2sql_pipeline_tests" / "data" / "spider_de"


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


@contextlib.contextmanager
def gold_replay(gold: dict[str, str]) -> Iterator[str]:
    """An OpenAI-compatible endpoint answering each prompt with its question's gold SQL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            question = body["messages"][-1]["content"].rsplit("Question: ", 1)[-1].strip()
            text = gold.get(question, "SELECT 1")
            data = json.dumps({"id": "r", "object": "chat.completion", "created": 0, "model": "replay", "choices": [
                {"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                for i in range(body.get("n", 1))]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def measure(url: str, model_id: str, schema, questions: list[str], config: AskConfig, max_tokens: int) -> dict:
    model = OpenAIChatModel(ChatEndpoint(base_url=url, model=model_id, timeout_s=120))
    model.chat(schema.prompt(questions[0])[0], n=1, temperature=0.0, max_tokens=4)  # warm-up
    stages: dict[str, list[float]] = {"bare model call (baseline)": []}
    for q in questions:
        started = time.perf_counter()
        model.chat(schema.prompt(q)[0], n=1, temperature=0.0, max_tokens=max_tokens)
        stages["bare model call (baseline)"].append(time.perf_counter() - started)
    answered = 0
    for q in questions:
        started = time.perf_counter()
        answer = answer_question(q, schema, model, config)
        answered += answer.ok
        t = answer.timings
        for name, value in (("linking", t.linking_s), ("model", t.model_s), ("validation", t.validation_s),
                            ("execution", t.execution_s), ("whole path", time.perf_counter() - started)):
            stages.setdefault(name, []).append(value)
    return {"stages": stages, "answered": answered}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=40)
    p.add_argument("--corrections", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--url")
    p.add_argument("--model")
    p.add_argument("--database", default="concert_singer", help="with --url: a database of NL2SQL_DATABASES")
    args = p.parse_args()
    dev = [q for q in json.loads((SPIDER / "dev.json").read_text()) if q["db_id"] == "concert_singer"]
    gold = {q["question"]: q["query"] for q in dev}
    questions = [q["question"] for q in dev]
    questions = (questions * (args.questions // len(questions) + 1))[: args.questions]
    runs = {}
    with contextlib.ExitStack() as stack:
        config = AskConfig(max_corrections=args.corrections, max_tokens=args.max_tokens)
        if args.url:
            from nl2sql_pipeline.core.config import load_databases

            schema = schema_for(load_databases().get(args.database))
            runs[f"{args.model} at {args.url}"] = measure(args.url, args.model, schema, questions, config, args.max_tokens)
        else:
            from nl2sql_pipeline.core.training.tiny_model import build_tiny_model
            from nl2sql_pipeline_tests.llm_servers import transformers_serve

            path = SPIDER / "database" / "concert_singer" / "concert_singer.sqlite"
            schema = schema_for(parse_databases({"databases": [{"name": "concert_singer",
                                                                "url": f"sqlite:///{path}"}]}).databases[0])
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            tiny = build_tiny_model(work / "tiny")
            url = stack.enter_context(transformers_serve(tiny, work))
            runs["tiny model, transformers serve (CPU)"] = measure(url, str(tiny), schema, questions, config,
                                                                   args.max_tokens)
            url = stack.enter_context(gold_replay(gold))
            runs["gold replay (no model time)"] = measure(url, "replay", schema, questions, config, args.max_tokens)
    print(f"{len(questions)} questions on {args.database}, corrections {args.corrections}\n")
    print("| endpoint | stage | p50 ms | p95 ms | mean ms |\n|---|---|---|---|---|")
    for label, run in runs.items():
        for name, values in run["stages"].items():
            p50, p95 = percentiles(values)
            print(f"| {label} | {name} | {p50 * 1000:.2f} | {p95 * 1000:.2f} | {statistics.mean(values) * 1000:.2f} |")
    for label, run in runs.items():
        stages = run["stages"]
        overhead = statistics.median(stages["whole path"]) - statistics.median(stages["bare model call (baseline)"])
        print(f"\n{label}: {run['answered']}/{len(questions)} answered; path overhead over the bare model call "
              f"(median): {overhead * 1000:.2f} ms")


if __name__ == "__main__":
    main()
