"""Import TRL's GRPO trainer under LLaMA-Factory's pins (trl 0.24.0 with transformers 5.x).

trl 0.24's `import_utils` computes its "is X installed" flags with transformers'
`_is_package_available`, which returns `(found, version)` in transformers 5.x. A one-argument
call therefore stores a tuple such as `(False, None)`, which is truthy: trl then believes every
optional package is installed and `from trl import GRPOTrainer` dies on `import mergekit`.

The repair is narrow: each flag that is a tuple is replaced by its first element (whether the
package was found), before any trl trainer module runs its import-time `if is_X_available():`.
Flags that are already booleans (a fixed trl) are left alone, so the shim is a no-op there.
Installing mergekit instead would pull its own dependency set and still leave every other flag
wrong (vllm, deepspeed, liger ...).

A second gap, at run time: GRPOTrainer writes `model.warnings_issued[...]`, a dict transformers
5.x models no longer carry; `prepare_model` gives the model an empty one.

    >>> GRPOTrainer, GRPOConfig = import_grpo()
    >>> GRPOTrainer.__name__, GRPOConfig.__name__
    ('GRPOTrainer', 'GRPOConfig')
"""

from __future__ import annotations

import sys
from typing import Any

from nl2sql_pipeline.core.training.results import TrainingError


def repair_availability_flags() -> list[str]:
    """Turn trl's tuple-valued `_<pkg>_available` flags into booleans; returns the names repaired."""
    try:
        import trl.import_utils as flags
    except ImportError as err:
        raise TrainingError(f"TRL is not importable ({err}).",
                            "install the training extra: pip install -e '.[train]' (trl==0.24.0).") from None
    repaired = []
    for name, value in list(vars(flags).items()):
        if name.startswith("_") and name.endswith("_available") and isinstance(value, tuple):
            setattr(flags, name, bool(value[0]))
            repaired.append(name)
    return sorted(repaired)


def import_grpo() -> tuple[Any, Any]:
    """`(GRPOTrainer, GRPOConfig)` from the installed trl, with the availability flags repaired first."""
    repair_availability_flags()
    try:
        from trl import GRPOConfig, GRPOTrainer
    except (ImportError, RuntimeError) as err:
        loaded = sorted(m for m in sys.modules if m.startswith("trl.trainer"))
        raise TrainingError(
            f"`from trl import GRPOTrainer` failed even after repairing trl's availability flags: {err}",
            "check that trl==0.24.0, transformers==5.6.0 and peft==0.18.1 are installed together "
            f"(LLaMA-Factory's pins); trl trainer modules already loaded: {', '.join(loaded) or 'none'}.",
        ) from None
    return GRPOTrainer, GRPOConfig


def prepare_model(model: Any) -> Any:
    """Give a transformers 5.x model the `warnings_issued` dict trl 0.24's trainers write into."""
    if not hasattr(model, "warnings_issued"):
        model.warnings_issued = {}
    return model
