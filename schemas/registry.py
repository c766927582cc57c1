"""The published schema versions, loaded from ``schemas/avsc/v<N>/`` (package data).

Each version directory holds one ``<fullname>.avsc`` per named type; the envelope file
(:data:`ENVELOPE_NAME`) is the root. Loading composes the files into one standalone schema,
computes its Parsing Canonical Form and CRC-64-AVRO fingerprint, and parses it with fastavro
twice: as written (logical types on, for writing) and without logical types (for the fast
decode path; ``logicalType`` is not part of the canonical form, so fingerprints agree).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any, Final

import fastavro
from fastavro.schema import fingerprint as _fingerprint
from fastavro.schema import to_parsing_canonical_form

from sessionflow.schemas.errors import SchemaLoadError

ENVELOPE_NAME: Final = "sessionflow.events.EventEnvelope"
_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One published version of the envelope schema.

    ``schema`` is the composed JSON schema (docs and logical types included),
    ``fingerprint`` the 8 little-endian bytes of its CRC-64-AVRO fingerprint, ``parsed`` the
    fastavro-parsed schema for writing and ``parsed_raw`` the parsed schema without logical
    types for reading.
    """

    version: int
    schema: Mapping[str, Any]
    canonical: str
    fingerprint: bytes
    parsed: Any
    parsed_raw: Any


def crc64_avro_fingerprint(canonical_form: str) -> bytes:
    """8-byte little-endian CRC-64-AVRO fingerprint of a Parsing Canonical Form."""
    return bytes.fromhex(_fingerprint(canonical_form, "CRC-64-AVRO"))


def avsc_root() -> Traversable:
    """Directory holding the ``v<N>`` version directories (inside the installed package)."""
    return resources.files("sessionflow.schemas").joinpath("avsc")


def load_published(root: Traversable | None = None) -> tuple[SchemaVersion, ...]:
    """Load every published version under ``root`` (default: the package's), oldest first.

    Raises :class:`SchemaLoadError` on a missing or invalid file or duplicate fingerprints.
    """
    base = avsc_root() if root is None else root
    dirs = sorted(
        (int(entry.name[1:]), entry)
        for entry in base.iterdir()
        if entry.is_dir() and entry.name.startswith("v") and entry.name[1:].isdigit()
    )
    if not dirs:
        raise SchemaLoadError(f"no published schema versions under {base}")
    versions = tuple(load_version(number, directory) for number, directory in dirs)
    seen: dict[bytes, int] = {}
    for item in versions:
        if item.fingerprint in seen:
            raise SchemaLoadError(
                f"v{item.version} has the same fingerprint as v{seen[item.fingerprint]}"
            )
        seen[item.fingerprint] = item.version
    return versions


def load_version(version: int, directory: Traversable) -> SchemaVersion:
    """Compose, fingerprint and parse the version stored in ``directory``."""
    defs: dict[str, Any] = {}
    for entry in directory.iterdir():
        if entry.name.endswith(".avsc"):
            try:
                defs[entry.name[: -len(".avsc")]] = json.loads(entry.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise SchemaLoadError(f"v{version}/{entry.name}: {exc}") from exc
    schema = compose(defs, ENVELOPE_NAME)
    try:
        canonical = to_parsing_canonical_form(schema)
        parsed = fastavro.parse_schema(schema)
        parsed_raw = fastavro.parse_schema(strip_logical_types(schema))
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise SchemaLoadError(f"v{version}: invalid schema: {exc}") from exc
    return SchemaVersion(
        version=version,
        schema=MappingProxyType(schema),
        canonical=canonical,
        fingerprint=crc64_avro_fingerprint(canonical),
        parsed=parsed,
        parsed_raw=parsed_raw,
    )


def compose(defs: Mapping[str, Any], root: str) -> dict[str, Any]:
    """Inline the named types of ``defs`` (fullname -> schema) into one schema rooted at ``root``.

    Each named type is defined at its first use (document order) and referenced by full name
    afterwards, as Avro requires.
    """
    done: set[str] = set()

    def expand(node: Any) -> Any:
        if isinstance(node, str):
            if node in _PRIMITIVES or node in done:
                return node
            if node not in defs:
                raise SchemaLoadError(f"unknown named type {node!r}")
            done.add(node)
            return expand(defs[node])
        if isinstance(node, list):
            return [expand(branch) for branch in node]
        if not isinstance(node, dict):
            raise SchemaLoadError(f"unexpected schema node {node!r}")
        kind = node.get("type")
        if kind == "record":
            name = node["name"] if "." in node["name"] else f"{node['namespace']}.{node['name']}"
            done.add(name)
            fields = [{**field, "type": expand(field["type"])} for field in node["fields"]]
            return {**node, "fields": fields}
        if kind == "array":
            return {**node, "items": expand(node["items"])}
        if kind == "map":
            return {**node, "values": expand(node["values"])}
        if kind in ("enum", "fixed"):
            return node
        return {**node, "type": expand(kind)}

    result = expand(root)
    if not isinstance(result, dict):
        raise SchemaLoadError(f"{root} is not a record")
    return result


def strip_logical_types(node: Any) -> Any:
    """Copy of ``node`` without any ``logicalType`` annotation (same wire format)."""
    if isinstance(node, list):
        return [strip_logical_types(item) for item in node]
    if isinstance(node, dict):
        return {k: strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    return node
