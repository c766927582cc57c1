"""The state contract: Avro schema of the processors' session state, and its codec.

Every published version lives in ``schemas/state/v<N>.avsc`` (frozen once published, like the
event schemas). Values use the same single-object encoding as events (``C3 01``, the 8-byte
CRC-64-AVRO fingerprint of the writer schema, the body), so a reader resolves any published
writer version by fingerprint. The plain-dict shape mirrors the schema: timestamps as int
epoch milliseconds, enums as their symbols, maps as dicts, bytes as bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from io import BytesIO
from typing import Any, Final

import fastavro
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import to_parsing_canonical_form

from sessionflow.schemas.errors import (
    BadMarkerError,
    MalformedBodyError,
    SchemaLoadError,
    UnknownFingerprintError,
)
from sessionflow.schemas.fastwrite import RecordWriter
from sessionflow.schemas.registry import crc64_avro_fingerprint, strip_logical_types

STATE_MARKER: Final = b"\xc3\x01"
_HEADER: Final = 10


@dataclass(frozen=True, slots=True)
class StateVersion:
    """One published version of the state schema."""

    version: int
    schema: dict[str, Any]
    fingerprint: bytes
    parsed: Any


def load_state_versions() -> tuple[StateVersion, ...]:
    """Every published state schema version, oldest first."""
    root = resources.files("sessionflow.schemas").joinpath("state")
    found = []
    for entry in root.iterdir():
        name = entry.name
        if name.startswith("v") and name.endswith(".avsc") and name[1:-5].isdigit():
            try:
                schema = json.loads(entry.read_text("utf-8"))
                canonical = to_parsing_canonical_form(schema)
                parsed = fastavro.parse_schema(strip_logical_types(schema))
            except Exception as exc:  # fastavro raises several types for a bad schema
                raise SchemaLoadError(f"state/{name}: {exc}") from exc
            found.append(
                StateVersion(int(name[1:-5]), schema, crc64_avro_fingerprint(canonical), parsed)
            )
    if not found:
        raise SchemaLoadError("no published state schema under schemas/state/")
    return tuple(sorted(found, key=lambda v: v.version))


class StateCodec:
    """Encoder/decoder of session state values; build once per process and share."""

    __slots__ = ("_fast", "_header", "_readers", "_writer", "current", "versions")

    def __init__(self, versions: tuple[StateVersion, ...] | None = None) -> None:
        self.versions = versions if versions is not None else load_state_versions()
        self.current = self.versions[-1]
        self._writer = self.current.parsed
        self._header = STATE_MARKER + self.current.fingerprint
        self._fast = RecordWriter(self._writer, from_model=True)
        self._readers = {
            v.fingerprint: (v.parsed, None if v is self.current else self.current.parsed)
            for v in self.versions
        }

    def encode(self, state: dict[str, Any]) -> bytes:
        """Single-object encoding of a state dict with the current schema."""
        out = BytesIO()
        out.write(self._header)
        schemaless_writer(out, self._writer, state)
        return out.getvalue()

    def encode_object(self, state: Any) -> bytes:
        """Single-object encoding of any object whose attributes are the schema's fields.

        A generated encoder, byte-identical to :meth:`encode` of the same content (about
        four times faster); raises one of :data:`ENCODE_ERRORS` for a value it cannot
        encode, so the caller falls back to :meth:`encode` of a plain record.
        """
        return self._fast.write(self._header, state)

    def decode(self, data: bytes) -> dict[str, Any]:
        """The state dict of ``data``, projected on the current schema; raises DecodeError."""
        if len(data) < _HEADER or data[:2] != STATE_MARKER:
            raise BadMarkerError("not a single-object encoded state (marker C3 01 missing)")
        fingerprint = bytes(data[2:_HEADER])
        schemas = self._readers.get(fingerprint)
        if schemas is None:
            raise UnknownFingerprintError(fingerprint)
        stream = BytesIO(data)
        stream.seek(_HEADER)
        try:
            record: Any = schemaless_reader(stream, schemas[0], schemas[1])
        except Exception as exc:  # fastavro raises many types for bad bytes
            raise MalformedBodyError(f"state body does not decode: {exc}") from exc
        if not isinstance(record, dict):
            raise MalformedBodyError("state body is not a record")
        return record


STATE_TABLE: Final = "sessions"
"""Name of the processors' session table; its changelog is the state stream."""


def state_topic(group: str) -> str:
    """The state stream of processors running as ``group`` (app id and state version).

    Keys are session ids (UTF-8), values states of this contract; one record per changed
    session per batch, the latest per key is the current state.
    """
    return f"{group}-{STATE_TABLE}-changelog"
