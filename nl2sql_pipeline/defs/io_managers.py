"""The typed IO manager: pydantic models as JSON.

Paths are `<base>/<asset key>/<partition>.json` (or `<asset key>.json` unpartitioned); writes
are atomic; each output reports `path`, `size_bytes` and, for a model with a length, `row_count`.
Loading several partitions (a fan-in asset) gives a dict of partition key -> value. An
`optional_input()` loads None (per partition) where its upstream was never materialized, so an
asset can declare an upstream it uses when there is one (predictions from training or serving,
a database's query log or feedback).
"""

import importlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel, Field

from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.fsutil import atomic_write_text

OPTIONAL = "nl2sql/optional"  # input metadata: None where the upstream was never materialized
# Modules whose models were stored under another path before a move: stored assets keep loading
# (a downstream-only run must not fail on a materialization it did not redo).
MOVED_MODULES = {
    f"nl2sql_pipeline.core.{old}": f"nl2sql_pipeline.core.schema.{new}"
    for old, new in (("catalog", "catalog"), ("metadata", "metadata"), ("reflection", "reflection"),
                     ("descriptions", "descriptions"), ("schema_diff", "diff"))
}


class PydanticJsonIOManager(dg.ConfigurableIOManager):
    """Pydantic models as JSON, with the model's class recorded so any reader gets the type back."""

    # Empty: `$NL2SQL_HOME/assets`, read when a run starts, not when the code location loads.
    base_dir: str = Field("", description="folder of the stored assets; empty: $NL2SQL_HOME/assets")

    def _path(self, key: dg.AssetKey, partition: str | None) -> Path:
        base = Path(self.base_dir) if self.base_dir else nl2sql_home() / "assets"
        root = base.joinpath(*key.path)
        return root / f"{partition}.json" if partition is not None else root.with_suffix(".json")

    def _write(self, path: Path, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, BaseModel):
            raise TypeError(f"PydanticJsonIOManager stores pydantic models, got {type(obj).__name__}")
        cls = type(obj)
        text = json.dumps({"model": f"{cls.__module__}:{cls.__qualname__}", "value": obj.model_dump(mode="json")},
                          ensure_ascii=False, indent=1)
        atomic_write_text(path, text)
        metadata: dict[str, Any] = {"size_bytes": len(text.encode())}
        if hasattr(obj, "__len__"):
            metadata["row_count"] = len(obj)  # type: ignore[arg-type]
        return metadata

    def _read(self, path: Path) -> BaseModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        module, _, name = data["model"].partition(":")
        cls = importlib.import_module(MOVED_MODULES.get(module, module))
        for part in name.split("."):
            cls = getattr(cls, part)
        return cls.model_validate(data["value"])

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            # A partition-range run (single-run backfill) returns {partition: value}.
            for key in context.asset_partition_keys:
                self._write(self._path(context.asset_key, key), obj[key])
            folder = self._path(context.asset_key, "x").parent
            context.add_output_metadata({"path": dg.MetadataValue.path(str(folder))})
            return
        partition = context.partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key, partition)
        metadata = self._write(path, obj)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path)), **metadata})

    def load_previous(self, key: dg.AssetKey, partition: str | None) -> Any | None:
        """The value an asset stored last (for its partition), or None: for its own diffs and
        incremental reuse. Another asset's value comes in through a declared input instead."""
        path = self._path(key, partition)
        return self._read(path) if path.exists() else None

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        if not context.has_asset_partitions:
            return self._load(context, self._path(key, None))
        keys = context.asset_partition_keys
        if len(keys) == 1 and not _wants_mapping(context):
            return self._load(context, self._path(key, keys[0]))
        found = {k: self._path(key, k) for k in keys}
        if _is_optional(context):
            return {k: self._read(p) if p.exists() else None for k, p in found.items()}
        return {k: self._read(p) for k, p in found.items() if p.exists()}

    def _load(self, context: dg.InputContext, path: Path) -> Any:
        if not path.exists() and _is_optional(context):
            return None
        return self._read(path)


def optional_input(**kwargs: Any) -> dg.AssetIn:
    """An input used when its upstream was materialized and None (per partition) until then;
    loaded by this manager also where a test's graph leaves the producer out."""
    return dg.AssetIn(metadata={OPTIONAL: True}, input_manager_key="json_io_manager", **kwargs)


def _wants_mapping(context: dg.InputContext) -> bool:
    """A fan-in input is annotated as a dict; a one-partition run of it still wants the dict."""
    typing_type = getattr(context.dagster_type, "typing_type", None)
    return getattr(typing_type, "__origin__", typing_type) is dict


def _is_optional(context: dg.InputContext) -> bool:
    return bool((context.definition_metadata or {}).get(OPTIONAL))
