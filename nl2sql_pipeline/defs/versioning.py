"""Code versions derived from what determines an asset's output, and content-hash data versions."""

import hashlib
import inspect
from pathlib import Path
from types import ModuleType

import dagster as dg
from pydantic import BaseModel


def code_version(*parts: ModuleType | Path | str) -> str:
    """A digest of modules' source, files' bytes and literal strings (e.g. a config section)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, ModuleType) and hasattr(part, "__path__"):  # a package: all its modules
            for f in sorted(Path(next(iter(part.__path__))).rglob("*.py")):
                digest.update(f.read_bytes())
        elif isinstance(part, ModuleType):
            digest.update(inspect.getsource(part).encode())
        elif isinstance(part, Path):
            for f in sorted(part.rglob("*")) if part.is_dir() else [part]:
                if f.is_file():
                    digest.update(f.read_bytes())
        else:
            digest.update(part.encode())
    return digest.hexdigest()[:12]


def content_version(value: BaseModel | str | bytes) -> dg.DataVersion:
    if isinstance(value, BaseModel):
        value = value.model_dump_json()
    if isinstance(value, str):
        value = value.encode()
    return dg.DataVersion(hashlib.sha256(value).hexdigest()[:16])
