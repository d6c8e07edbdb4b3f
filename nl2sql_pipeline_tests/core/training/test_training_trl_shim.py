"""The trl import shim: the pinned trl + transformers really break `from trl import GRPOTrainer`,
and the repair fixes exactly the availability flags (fresh interpreters, so no test sees another's import)."""

from __future__ import annotations

import json
import subprocess
import sys

from nl2sql_pipeline_tests.conftest import REPO


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})


def test_without_the_shim_the_pinned_trl_cannot_import_grpo() -> None:
    # If this starts passing, trl or transformers changed under the pins: the shim may then go.
    done = _python("from trl import GRPOTrainer")
    assert done.returncode != 0 and "mergekit" in done.stderr


def test_the_shim_repairs_the_flags_and_grpo_imports() -> None:
    done = _python(
        "import json, importlib.util\n"
        "from nl2sql_pipeline.core.training.trl_shim import import_grpo, repair_availability_flags\n"
        "import trl.import_utils as f\n"
        "before = {k: repr(v) for k, v in vars(f).items() if k.startswith('_') and k.endswith('_available')}\n"
        "trainer, config = import_grpo()\n"
        "print(json.dumps({'before': before, 'again': repair_availability_flags(), 'trainer': trainer.__name__,\n"
        "  'config': config.__name__, 'mergekit': f.is_mergekit_available(), 'vllm': f.is_vllm_available(),\n"
        "  'pydantic': f.is_pydantic_available(), 'requests': f.is_requests_available(),\n"
        "  'deepspeed_found': importlib.util.find_spec('deepspeed') is not None, 'deepspeed': f.is_deepspeed_available()}))\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["before"]["_mergekit_available"] == "(False, None)"  # the bug: a truthy tuple
    assert (out["trainer"], out["config"]) == ("GRPOTrainer", "GRPOConfig")
    assert out["again"] == []  # idempotent: nothing left to repair
    assert out["mergekit"] is False and out["vllm"] is False  # neither is installed here
    assert out["pydantic"] is True and out["requests"] is True  # installed packages stay available
    assert out["deepspeed"] is out["deepspeed_found"]
