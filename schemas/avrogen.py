"""Derive the Avro schema files of the current version from the pydantic models.

One file per named type (``<fullname>.avsc``): the envelope, the 15 payloads, the nested
records and the enums; references between files are by full name. A published version is
produced once (``python -m sessionflow.schemas.avrogen <dir>``) and then frozen; the test
suite proves the latest published version equals :func:`generate` field by field.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sessionflow.schemas.enums import EventType
from sessionflow.schemas.errors import SchemaArgumentError, SchemaTypeError
from sessionflow.schemas.models import AVRO_NAMESPACE, EventEnvelope

AvroSchema = Any
"""A JSON-shaped Avro schema (str, list or dict)."""


def generate() -> dict[str, dict[str, Any]]:
    """Return ``{fullname: schema}`` for every named type reachable from the envelope."""
    out: dict[str, dict[str, Any]] = {}
    _record(EventEnvelope, out)
    return out


def fullname(tp: type) -> str:
    """Avro full name of a model or enum class."""
    return f"{AVRO_NAMESPACE}.{tp.__name__}"


def write(directory: Path) -> list[Path]:
    """Write one ``<fullname>.avsc`` per named type into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in generate().items():
        path = directory / f"{name}.avsc"
        path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _doc(tp: type) -> str:
    return " ".join((inspect.getdoc(tp) or "").split("\n\n")[0].split())


def _record(model: type[BaseModel], out: dict[str, dict[str, Any]]) -> str:
    name = fullname(model)
    if name not in out:
        out[name] = {}  # reserve the name first: recursion terminates
        fields = [_field(fname, info, out) for fname, info in model.model_fields.items()]
        out[name] = {
            "type": "record",
            "name": model.__name__,
            "namespace": AVRO_NAMESPACE,
            "doc": _doc(model),
            "fields": fields,
        }
    return name


def _field(name: str, info: FieldInfo, out: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if not info.description:
        raise SchemaArgumentError(f"field {name!r} has no description (the Avro doc)")
    field: dict[str, Any] = {"name": name, "type": _type(info.annotation, out)}
    field["doc"] = info.description
    if info.default is not PydanticUndefined:
        field["default"] = _default(info.default)
    elif info.default_factory is not None:
        field["default"] = _default(info.default_factory())  # type: ignore[call-arg]
    return field


def _default(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    return value


def _type(tp: Any, out: dict[str, dict[str, Any]]) -> AvroSchema:
    origin = get_origin(tp)
    if origin is Annotated:
        return _type(get_args(tp)[0], out)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        branches = [_type(arg, out) for arg in args if arg is not type(None)]
        return ["null", *branches] if type(None) in args else branches
    if origin is list:
        return {"type": "array", "items": _type(get_args(tp)[0], out)}
    if origin is dict:
        key, value = get_args(tp)
        if key is not str:
            raise SchemaTypeError(f"map keys must be str, got {key!r}")
        return {"type": "map", "values": _type(value, out)}
    return _plain(tp, out)


def _plain(tp: Any, out: dict[str, dict[str, Any]]) -> AvroSchema:
    if tp is EventType:
        return "string"
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        name = fullname(tp)
        out.setdefault(
            name,
            {
                "type": "enum",
                "name": tp.__name__,
                "namespace": AVRO_NAMESPACE,
                "doc": _doc(tp),
                "symbols": [member.value for member in tp],
            },
        )
        return name
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _record(tp, out)
    primitives: dict[Any, AvroSchema] = {
        str: "string",
        bool: "boolean",
        int: "long",
        float: "double",
        bytes: "bytes",
    }
    if tp in primitives:
        return primitives[tp]
    if getattr(tp, "__name__", "") == "AwareDatetime":
        return {"type": "long", "logicalType": "timestamp-millis"}
    raise SchemaTypeError(f"no Avro mapping for {tp!r}")


def main(argv: list[str]) -> int:
    """``python -m sessionflow.schemas.avrogen <dir>``: write the current schema files there."""
    if len(argv) != 1:
        print("usage: python -m sessionflow.schemas.avrogen <directory>", file=sys.stderr)
        return 2
    for path in write(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
