"""One way to find, read and validate a YAML configuration file, and one way to say what is wrong.

A file is found the same way for every configuration: the environment variable that names it,
else `configs/<name>` in the working folder, else the copy packaged with the repository. Every
error names the file, the key, what the key is for (its `Field(description=...)`) and the fix.

>>> from pydantic import Field
>>> class Limits(StrictModel):
...     timeout_s: float = Field(5.0, gt=0, description="seconds a query may run")
>>> try:
...     ConfigFile("limits.yaml", None, "limits").validate(Limits, {"timeout": 1}, "/etc/limits.yaml")
... except ConfigError as err:
...     print(err)
Invalid limits in /etc/limits.yaml:
  - timeout: Extra inputs are not permitted (did you mean timeout_s: seconds a query may run?)
 Fix: correct the keys named above (see configs/limits.yaml).
"""

from __future__ import annotations

import difflib
import functools
import os
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from nl2sql_pipeline.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGED_CONFIGS = REPO_ROOT / "configs"
M = TypeVar("M", bound="StrictModel")


class StrictModel(BaseModel):
    """Base of every configuration section: an unknown key is an error (a typo must not silently
    fall back to a default), and a loaded configuration is never changed in place."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ConfigFile:
    """One kind of configuration file: where it is looked for and how messages name it."""

    name: str  # the file's name under configs/, e.g. "databases.yaml"
    env: str | None  # the environment variable that chooses another file
    what: str  # how messages name its contents, e.g. "database configuration"
    see: str = ""  # where its keys are documented; default configs/<name>
    optional: bool = False  # absent and named by nobody: the model's defaults apply

    def path(self) -> Path:
        """`$<env>`, else `configs/<name>` in the working folder, else the packaged one."""
        chosen = os.environ.get(self.env) if self.env else None
        if chosen:
            return Path(chosen).resolve()
        local = Path("configs") / self.name
        return local.resolve() if local.exists() else PACKAGED_CONFIGS / self.name

    def read(self, path: str | Path | None = None) -> tuple[dict[str, Any], Path]:
        """The file's YAML mapping (`{}` for an optional file nobody named that is absent) and its path."""
        named = bool(path) or bool(self.env and os.environ.get(self.env))
        path = Path(path) if path else self.path()
        if not path.exists():
            if self.optional and not named:
                return {}, path
            how = f"or point {self.env} at an existing file" if self.env else "or pass the path of an existing file"
            raise ConfigError(f"{self.what[:1].upper()}{self.what[1:]} file {path} does not exist.",
                              f"create it (copy configs/{self.name}) {how}.")
        return read_mapping(path, self.see or f"configs/{self.name}"), path

    def validate(self, schema: type[M], data: object, source: str) -> M:
        return validate(schema, data, source, what=self.what, see=self.see or f"configs/{self.name}")


def read_mapping(path: Path, see: str) -> dict[str, Any]:
    """The YAML mapping in `path` (an empty file is an empty mapping)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}", "fix the YAML syntax at the line shown.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds a {type(data).__name__}, not a mapping of keys.",
                          f"write it as `key: value` lines (see {see}).")
    return data


def validate(schema: Any, data: object, source: str, *, what: str, see: str) -> Any:
    """`data` validated as `schema` (a model class, or a type such as a tagged union of models);
    a `ValidationError` becomes a `ConfigError` naming `source`, each key and the fix."""
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(data)
        return _adapter(schema).validate_python(data)
    except ValidationError as err:
        raise ConfigError(f"Invalid {what} in {source}:\n{describe_errors(err, schema)}\n",
                          f"correct the keys named above (see {see}).") from None


@functools.cache
def _adapter(schema: Any) -> TypeAdapter:
    return TypeAdapter(schema)


def describe_errors(err: ValidationError, schema: Any) -> str:
    """One line per error: the key, pydantic's message, and what the key is for. Input values are
    never echoed: a rejected value may be a URL with a password."""
    return "\n".join(_describe_one(e, schema) for e in err.errors())


def _describe_one(error: Any, schema: Any) -> str:
    shown, field, holder = _place(schema, error["loc"])
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):  # the tag's own key is not in loc
        shown.append(str(error["ctx"]["discriminator"]).strip("'"))
    key = ".".join(shown) or "(top level)"
    hint = ""
    if error["type"] == "extra_forbidden" and holder is not None:
        keys = {(info.alias or name): info for name, info in holder.model_fields.items()}
        near = difflib.get_close_matches(str(error["loc"][-1]), sorted(keys), n=3, cutoff=0.6)
        if near:
            hint = f" (did you mean {'; or '.join(_with_help(k, keys[k]) for k in near)}?)"
        else:
            hint = f" (known keys: {', '.join(sorted(keys))})"
    elif field is not None and field.description:
        hint = f" ({field.description})"
    return f"  - {key}: {error['msg']}{hint}"


def _with_help(key: str, info: FieldInfo) -> str:
    return f"{key}: {info.description}" if info.description else key


def _place(schema: Any, loc: tuple) -> tuple[list[str], FieldInfo | None, type[BaseModel] | None]:
    """Walk an error's location through the schema: the key parts to show (discriminator tags
    left out), the last field reached and the model the last key was looked up in."""
    shown: list[str] = []
    field: FieldInfo | None = None
    holder: type[BaseModel] | None = None
    tp: Any = schema
    for part in loc:
        models = _models(tp)
        if isinstance(part, str) and models:
            hit = next(((m, f) for m in models if (f := _field(m, part))), None)
            if hit:
                holder, field, tp = hit[0], hit[1], hit[1].annotation
                shown.append(part)
                continue
            tagged = _tagged(models, part) if len(models) > 1 else None
            if tagged is not None:
                tp = tagged  # a discriminated union's tag: a step into one arm, not a key
                continue
            holder = models[0]
        shown.append(str(part))
        field, tp = None, _item_type(tp)
    return shown, field, holder


def _unwrapped(tp: Any) -> list[Any]:
    """The alternatives a type annotation stands for (through Annotated, Optional and unions)."""
    if get_origin(tp) is Annotated:
        return _unwrapped(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return [alt for arg in get_args(tp) for alt in _unwrapped(arg)]
    return [tp]


def _models(tp: Any) -> list[type[BaseModel]]:
    return [t for t in _unwrapped(tp) if isinstance(t, type) and issubclass(t, BaseModel)]


def _item_type(tp: Any) -> Any:
    """The type inside a list, tuple, set or dict (its values); None when there is none."""
    for alt in _unwrapped(tp):
        args = get_args(alt)
        if get_origin(alt) in (list, tuple, set, frozenset) and args:
            return args[0]
        if get_origin(alt) is dict and len(args) == 2:
            return args[1]
    return None


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    return next((info for name, info in model.model_fields.items() if key in (name, info.alias)), None)


def _tagged(models: list[type[BaseModel]], tag: str) -> type[BaseModel] | None:
    for model in models:
        for info in model.model_fields.values():
            if get_origin(info.annotation) is Literal and tag in get_args(info.annotation):
                return model
    return None
