"""Generate the reference parts of docs/ from the contract's code (``make docs``).

Rewrites the blocks between ``<!-- generated:NAME:start -->`` and ``<!-- generated:NAME:end -->``:

- ``docs/events.md`` ``reference``: the envelope and every payload, nested record and enum of
  the current schema version, from the Avro schemas the models derive
  (:func:`sessionflow.schemas.avrogen.generate`) and the checks the models add;
- ``docs/wire-format.md`` ``versions``: every published version and its fingerprint.

``--check`` rewrites nothing and exits 1 when a block is stale (the tests run the same check).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sessionflow.schemas import PAYLOAD_MODELS, ErrorCode, EventType, load_published
from sessionflow.schemas import models as contract_models
from sessionflow.schemas.avrogen import generate

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NAMESPACE = "sessionflow.events."

# Field docs of published schemas are frozen; a few name the design notes the contract came
# from. The docs stand alone, so those references are left out here.
_FOREIGN_REFERENCES = (
    (re.compile(r"\s*\(seed \d{3}\)"), ""),
    (re.compile(r"\s+of seed \d{3}\b"), ""),
    (re.compile(r"\bseed error codes\b"), "error codes"),
)

# Error codes by group, in enum order; the sizes must add up to the enum (checked below).
_ERROR_GROUPS = (
    ("session", 4),
    ("message", 3),
    ("tool", 4),
    ("approval", 3),
    ("LLM", 4),
    ("system", 4),
)


def _clean(text: str) -> str:
    for pattern, replacement in _FOREIGN_REFERENCES:
        text = pattern.sub(replacement, text)
    return text.replace("|", "\\|")


def _short(name: str) -> str:
    return name.removeprefix(NAMESPACE)


def _type_text(node: Any) -> str:
    """An Avro type as a reader says it: ``string``, ``array of Attachment``, ``long or null``."""
    if isinstance(node, str):
        short = _short(node)
        return f"[{short}](#{short.lower()})" if node.startswith(NAMESPACE) else f"`{node}`"
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        inner = " or ".join(_type_text(b) for b in branches)
        return f"{inner} or null" if "null" in node else inner
    if node.get("logicalType") == "timestamp-millis":
        return "`long` (timestamp-millis, UTC)"
    if node["type"] == "array":
        return f"array of {_type_text(node['items'])}"
    if node["type"] == "map":
        return f"map of {_type_text(node['values'])}"
    return f"`{node['type']}`"


def _checks(model: type[BaseModel], field: str) -> str:
    """Constraints the models enforce beyond the Avro type (empty when none)."""
    found: list[str] = []
    for item in model.model_fields[field].metadata:
        min_length = getattr(item, "min_length", None)
        lower = getattr(item, "ge", None)
        function = getattr(getattr(item, "func", None), "__name__", "")
        if min_length:
            found.append("non-empty")
        elif lower == 0:
            found.append(">= 0")
        elif function == "_check_json":
            found.append("JSON text")
        elif function == "_check_uuid":
            found.append("UUID, canonical lowercase")
        elif function == "_to_utc_millis":
            found.append("timezone-aware; stored as UTC milliseconds")
    return "; ".join(found)


def _record_table(schema: dict[str, Any]) -> list[str]:
    model: type[BaseModel] = getattr(contract_models, schema["name"])
    lines = ["| field | type | default | checked | meaning |", "|---|---|---|---|---|"]
    for field in schema["fields"]:
        default = f"`{json.dumps(field['default'])}`" if "default" in field else "required"
        kind = "union of the 15 payload records" if field["name"] == "payload" else None
        lines.append(
            f"| `{field['name']}` | {kind or _type_text(field['type'])} | {default} "
            f"| {_checks(model, field['name'])} | {_clean(field['doc'])} |"
        )
    return lines


def _enum_section(schema: dict[str, Any]) -> list[str]:
    head = [f"### {schema['name']}", "", _clean(schema["doc"]), ""]
    if schema["name"] == ErrorCode.__name__:
        return [*head, *_error_codes(), ""]
    symbols = ", ".join(f"`{s}`" for s in schema["symbols"])
    return [*head, f"Symbols: {symbols}.", ""]


def _error_codes() -> list[str]:
    codes = [code.value for code in ErrorCode]
    if sum(size for _, size in _ERROR_GROUPS) != len(codes):
        raise SystemExit("scripts/gen_docs.py: _ERROR_GROUPS no longer covers ErrorCode")
    lines = ["| group | codes |", "|---|---|"]
    start = 0
    for group, size in _ERROR_GROUPS:
        lines.append(f"| {group} | {', '.join(f'`{c}`' for c in codes[start : start + size])} |")
        start += size
    return lines


def events_reference() -> str:
    """The generated reference block of docs/events.md."""
    schemas = generate()
    envelope = schemas[f"{NAMESPACE}EventEnvelope"]
    out = ["### EventEnvelope", "", _clean(envelope["doc"]), "", *_record_table(envelope), ""]
    out += ["### Event types", "", "| event type | payload record | meaning |", "|---|---|---|"]
    for event_type in EventType:
        record = schemas[NAMESPACE + PAYLOAD_MODELS[event_type].__name__]
        out.append(f"| `{event_type.value}` | `{record['name']}` | {_clean(record['doc'])} |")
    out.append("")
    for event_type in EventType:
        record = schemas[NAMESPACE + PAYLOAD_MODELS[event_type].__name__]
        out += [f"### {record['name']}", "", _clean(record["doc"]), "", *_record_table(record), ""]
    payloads = {model.__name__ for model in PAYLOAD_MODELS.values()} | {"EventEnvelope"}
    nested = [s for s in schemas.values() if s["type"] == "record" and s["name"] not in payloads]
    for record in nested:
        out += [f"### {record['name']}", "", _clean(record["doc"]), "", *_record_table(record), ""]
    for schema in schemas.values():
        if schema["type"] == "enum":
            out += _enum_section(schema)
    return "\n".join(out).rstrip("\n")


def versions_table() -> str:
    """The generated table of published schema versions in docs/wire-format.md."""
    lines = ["| version | fingerprint (hex, as on the wire) |", "|---|---|"]
    for version in load_published():
        lines.append(f"| v{version.version} | `{version.fingerprint.hex()}` |")
    return "\n".join(lines)


BLOCKS: dict[tuple[str, str], Callable[[], str]] = {
    ("events.md", "reference"): events_reference,
    ("wire-format.md", "versions"): versions_table,
}


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the ``name`` block's content replaced by ``body``."""
    start, end = f"<!-- generated:{name}:start -->", f"<!-- generated:{name}:end -->"
    head, found, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not found or not found_end:
        raise SystemExit(f"docs: the {start} ... {end} markers are missing")
    return f"{head}{start}\n{body}\n{end}{tail}"


def stale_files() -> list[str]:
    """Docs whose generated blocks differ from what the code generates now."""
    stale = []
    for (file, name), render in BLOCKS.items():
        text = (DOCS / file).read_text()
        if replace_block(text, name, render()) != text:
            stale.append(f"docs/{file} ({name})")
    return stale


def main(argv: list[str]) -> int:
    """Rewrite the generated blocks, or with ``--check`` report the stale ones."""
    if argv == ["--check"]:
        stale = stale_files()
        for item in stale:
            print(f"stale: {item}; run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for (file, name), render in BLOCKS.items():
        path = DOCS / file
        path.write_text(replace_block(path.read_text(), name, render()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
