"""Golden byte vectors: one encoded example per event type and published version.

``schemas/golden/v<N>.json`` holds, per event type, the hex of the single-object message
written with version N's schema and the record a version-N reader decodes from it. The files
are written once when a version is published (``python -m sessionflow.schemas.golden <N>``)
and never changed afterwards: any wire-format change then fails the golden tests.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.enums import EventType
from sessionflow.schemas.errors import SchemaError, SchemaLoadError
from sessionflow.schemas.examples import example_events
from sessionflow.schemas.models import PAYLOAD_MODELS
from sessionflow.schemas.registry import load_published


@dataclass(frozen=True, slots=True)
class GoldenVector:
    """One committed message: its bytes and the record its own version decodes it to."""

    event_type: str
    message: bytes
    record: dict[str, Any]


def golden_root() -> Traversable:
    """Directory of the golden files inside the installed package."""
    return resources.files("sessionflow.schemas").joinpath("golden")


def load_golden(version: int, root: Traversable | None = None) -> list[GoldenVector]:
    """Vectors committed for ``version`` ([] if none); :class:`SchemaLoadError` if unreadable."""
    entry = (golden_root() if root is None else root).joinpath(f"v{version}.json")
    if not entry.is_file():
        return []
    try:
        doc = json.loads(entry.read_text("utf-8"))
        return [
            GoldenVector(event_type, bytes.fromhex(item["hex"]), item["record"])
            for event_type, item in doc["vectors"].items()
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SchemaLoadError(f"golden/v{version}.json: {exc}") from exc


def build_golden(version: int) -> dict[str, Any]:
    """Encode :func:`example_events` with ``version``'s schema; return the golden document."""
    versions = load_published()
    own = [item for item in versions if item.version <= version]
    writer = EventCodec(own, writer_version=version)
    reader = EventCodec([own[-1]])  # the record as a reader of that very version sees it
    vectors = {}
    for event in example_events():
        message = writer.encode(event)
        vectors[event.event_type.value] = {
            "hex": message.hex(),
            "record": reader.decode(message),
        }
    return {"version": version, "fingerprint": own[-1].fingerprint.hex(), "vectors": vectors}


def golden_problems(codec: EventCodec, vectors: list[GoldenVector]) -> list[str]:
    """Decode ``vectors`` with ``codec``'s reader; describe every mismatch ([] = all good).

    A vector must decode to its committed record, except that fields the reader has and the
    writer lacked (in the envelope or the payload) take the reader's default.
    """
    problems = []
    for vector in vectors:
        try:
            decoded = codec.decode(vector.message)
        except SchemaError as exc:
            problems.append(f"{vector.event_type}: {type(exc).__name__}: {exc}")
            continue
        expected = dict(vector.record)
        payload = dict(expected.pop("payload"))
        _fill_defaults(expected, decoded, _envelope_defaults(codec))
        _fill_defaults(payload, decoded["payload"], _payload_defaults(codec, vector.event_type))
        if decoded != {**expected, "payload": payload}:
            problems.append(f"{vector.event_type}: decoded record differs from the golden one")
    return problems


_MISSING = object()


def _fill_defaults(
    expected: dict[str, Any], decoded: Mapping[str, Any], defaults: Mapping[str, Any]
) -> None:
    for name in decoded:
        if name != "payload":
            expected.setdefault(name, defaults.get(name, _MISSING))


def _envelope_defaults(codec: EventCodec) -> dict[str, Any]:
    fields = codec.current.schema["fields"]
    return {f["name"]: f["default"] for f in fields if "default" in f}


def _payload_defaults(codec: EventCodec, event_type: str) -> dict[str, Any]:
    record_name = PAYLOAD_MODELS[EventType(event_type)].__name__
    payload_field = next(f for f in codec.current.schema["fields"] if f["name"] == "payload")
    for branch in payload_field["type"]:
        if isinstance(branch, Mapping) and branch.get("name") == record_name:
            return {f["name"]: f["default"] for f in branch["fields"] if "default" in f}
    return {}


def main(argv: list[str]) -> int:
    """``python -m sessionflow.schemas.golden <N> [--force]``: write ``golden/v<N>.json``."""
    if not argv or not argv[0].isdigit():
        print("usage: python -m sessionflow.schemas.golden <version> [--force]", file=sys.stderr)
        return 2
    path = Path(__file__).parent / "golden" / f"v{argv[0]}.json"
    if path.exists() and "--force" not in argv:
        print(f"{path} exists; golden vectors are immutable (use --force)", file=sys.stderr)
        return 1
    doc = build_golden(int(argv[0]))
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
