"""Golden byte vectors: one encoded example per event type and published version.

``schemas/golden/v<N>.json`` holds, per event type, the hex of the single-object message
written with version N's schema and the record a version-N reader decodes from it. The files
are written once when a version is published (``python -m schemas.golden <N>``) and never
changed afterwards: any wire-format change then fails the golden tests.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from schemas.codec import EventCodec
from schemas.errors import SchemaLoadError
from schemas.examples import example_events
from schemas.registry import load_published


@dataclass(frozen=True, slots=True)
class GoldenVector:
    """One committed message: its bytes and the record its own version decodes it to."""

    event_type: str
    message: bytes
    record: dict[str, Any]


def golden_root() -> Traversable:
    """Directory of the golden files inside the installed package."""
    return resources.files("schemas").joinpath("golden")


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


def main(argv: list[str]) -> int:
    """``python -m schemas.golden <N> [--force]``: write ``schemas/golden/v<N>.json``."""
    if not argv or not argv[0].isdigit():
        print("usage: python -m schemas.golden <version> [--force]", file=sys.stderr)
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
