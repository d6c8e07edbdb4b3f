"""LLM generation throughput (issue 7): stage B against a real local OpenAI-compatible server at
concurrency 1, 4, 8 and 16, next to the server's own saturated throughput on the same requests,
measured in the same run. Target: at the best concurrency, at least 0.8 of saturated.

    .venv/bin/python benchmarks/bench_llm_generation.py [--server transformers|vllm] [--budget 200]
    .venv/bin/python benchmarks/bench_llm_generation.py --url http://127.0.0.1:8000/v1 --model NAME

The server serves the tiny offline model (random weights: its answers are free text, so the
numbers are request and token throughput; "sample slots/s" counts the samples the answered
requests asked for, which is what a real model would return). Top-up and offline fill are off so
that every configuration sends the same requests; each run starts with an empty cache.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import parse_databases
from nl2sql_pipeline.core.llm import LLMClient, LLMSettings
from nl2sql_pipeline.core.llm.cache import ResponseCache
from nl2sql_pipeline.core.llm.generator import generate_with_llm
from nl2sql_pipeline.core.planning import plan_topics
from nl2sql_pipeline.core.schema.catalog import read_schema


class RecordingClient(LLMClient):
    """Keeps every request so that the saturation run can send exactly the same ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[dict[str, Any]] = []

    async def acomplete(self, messages: list[dict[str, str]], **kw: Any):  # type: ignore[override]
        self.sent.append({"messages": messages, **kw})
        return await super().acomplete(messages, **kw)


def settings(url: str, model: str, concurrency: int, max_tokens: int, batch: int) -> LLMSettings:
    return LLMSettings(base_url=url, model=model, max_tokens=max_tokens, concurrency=concurrency, timeout_s=600,
                       max_retries=0, json_mode="off",
                       generator={"batch_size": batch, "topup_rounds": 0, "offline_fill": False})


def pipeline_run(url: str, model: str, concurrency: int, args: argparse.Namespace, work: Path,
                 record: bool = False) -> tuple[dict[str, float], list[dict[str, Any]]]:
    db = parse_databases({"databases": [{"name": "sales_cn", "demo": "sales_cn", "sample_budget": args.budget,
                                         "generator": "llm"}]}).databases[0]
    cards = build_cards(read_schema(db))
    plan = plan_topics(cards, args.budget, db.planning)
    cls = RecordingClient if record else LLMClient
    cache = ResponseCache(Path(tempfile.mkdtemp(dir=work)))
    client = cls(settings(url, model, concurrency, args.max_tokens, args.batch), cache=cache)
    started = time.perf_counter()
    generate_with_llm(plan, cards, db, client, progress=_Quiet())
    seconds = time.perf_counter() - started
    stats = client.stats
    return {"seconds": seconds, "requests": stats.answered, "tokens": stats.completion_tokens,
            "slots": args.budget}, getattr(client, "sent", [])


async def _saturate(url: str, model: str, requests: list[dict[str, Any]], concurrency: int,
                    max_tokens: int) -> dict[str, float]:
    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=600)
    bound = asyncio.Semaphore(concurrency)
    tokens = 0

    async def one(req: dict[str, Any]) -> None:
        nonlocal tokens
        async with bound:
            resp = await client.chat.completions.create(model=model, messages=req["messages"], max_tokens=max_tokens,
                                                        temperature=0.7)
            tokens += resp.usage.completion_tokens if resp.usage else 0

    started = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    seconds = time.perf_counter() - started
    await client.close()
    return {"seconds": seconds, "requests": len(requests), "tokens": tokens}


class _Quiet:
    def info(self, msg: str) -> None:
        pass


@contextlib.contextmanager
def local_server(kind: str, work: Path):
    from nl2sql_pipeline.core.training.tiny_model import build_tiny_model
    from nl2sql_pipeline_tests.llm_servers import transformers_serve, vllm_serve

    model = build_tiny_model(work / "tiny")
    server = transformers_serve(model, work, continuous_batching=True) if kind == "transformers" else vllm_serve(model, work)
    with server as url:
        yield url, str(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--url", help="use a running server instead (then --model is required)")
    parser.add_argument("--model")
    parser.add_argument("--budget", type=int, default=200, help="samples asked for (sales_cn demo)")
    parser.add_argument("--batch", type=int, default=5, help="samples per request")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--saturate", type=int, nargs="+", default=[8, 16, 32],
                        help="in-flight levels of the saturation runs (the best one counts)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = (contextlib.nullcontext((args.url, args.model)) if args.url else local_server(args.server, work))
        with server as (url, model):
            run(url, model, args, work)


def run(url: str, model: str, args: argparse.Namespace, work: Path) -> None:
    _, sent = pipeline_run(url, model, 2, args, work, record=True)  # warm-up, and the request list
    print(f"server {url} model {model}: {len(sent)} requests of up to {args.batch} samples, "
          f"max_tokens {args.max_tokens}, {args.repeat} interleaved rounds (best of each counts)")
    sat: dict[int, list[dict[str, float]]] = {n: [] for n in args.saturate}
    rows: dict[int, list[dict[str, float]]] = {c: [] for c in args.concurrency}
    for _ in range(args.repeat):  # interleaved, so that load drifting on the machine hits all alike
        for n in args.saturate:
            sat[n].append(asyncio.run(_saturate(url, model, sent, n, args.max_tokens)))
        for c in args.concurrency:
            rows[c].append(pipeline_run(url, model, c, args, work)[0])
    best = {n: max(r, key=lambda s: s["requests"] / s["seconds"]) for n, r in sat.items()}
    best_sat = max(s["requests"] / s["seconds"] for s in best.values())
    best_sat_tok = max(s["tokens"] / s["seconds"] for s in best.values())
    print("saturated (raw client, no cache/parse/validation): "
          + ", ".join(f"{n} in flight {s['requests'] / s['seconds']:.2f} req/s" for n, s in best.items())
          + f" -> {best_sat:.2f} req/s, {best_sat_tok:.0f} tok/s")
    print(f"{'concurrency':>11} {'seconds':>8} {'req/s':>7} {'tok/s':>7} {'slots/s':>8} {'ratio req':>9} {'ratio tok':>9}")
    ratios = []
    for c, runs in rows.items():
        s = max(runs, key=lambda r: r["requests"] / r["seconds"])
        rps, tps = s["requests"] / s["seconds"], s["tokens"] / s["seconds"]
        ratios.append(rps / best_sat)
        print(f"{c:>11} {s['seconds']:>8.2f} {rps:>7.2f} {tps:>7.0f} {s['slots'] / s['seconds']:>8.1f} "
              f"{rps / best_sat:>9.2f} {tps / best_sat_tok:>9.2f}")
    top = max(ratios)
    print(f"best ratio {top:.2f} of saturated (target >= 0.8): {'PASS' if top >= 0.8 else 'FAIL'}")


if __name__ == "__main__":
    main()
