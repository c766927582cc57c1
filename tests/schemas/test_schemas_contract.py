"""The .avsc files, the models and the seeds agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sessionflow.schemas import PAYLOAD_MODELS, ErrorCode, EventType, load_published
from sessionflow.schemas.avrogen import generate
from sessionflow.schemas.registry import avsc_root

AVSC = Path(str(avsc_root()))
SEED_EVENT_TYPES = [
    "session.created",
    "session.activated",
    "session.suspended",
    "session.ended",
    "message.created",
    "message.updated",
    "tool_call.pending",
    "tool_call.approved",
    "tool_call.rejected",
    "tool_call.completed",
    "tool_call.failed",
    "stream.started",
    "stream.chunk",
    "stream.ended",
    "error.occurred",
]
SEED_ERROR_CODES = [
    "SESSION_NOT_FOUND",
    "SESSION_ALREADY_EXISTS",
    "INVALID_STATE",
    "SESSION_EXPIRED",
    "MESSAGE_NOT_FOUND",
    "INVALID_MESSAGE",
    "MESSAGE_TOO_LONG",
    "TOOL_NOT_FOUND",
    "TOOL_EXECUTION_FAILED",
    "TOOL_TIMEOUT",
    "INVALID_TOOL_ARGS",
    "APPROVAL_REQUIRED",
    "APPROVAL_TIMEOUT",
    "APPROVAL_REJECTED",
    "LLM_ERROR",
    "LLM_TIMEOUT",
    "RATE_LIMITED",
    "TOKEN_LIMIT",
    "INTERNAL_ERROR",
    "DATABASE_ERROR",
    "CACHE_ERROR",
    "VALIDATION_ERROR",
]


def _latest_dir() -> Path:
    return max(AVSC.glob("v*"), key=lambda p: int(p.name[1:]))


def _committed(directory: Path) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.avsc"))}


def test_seed_sets_are_complete() -> None:
    assert [t.value for t in EventType] == SEED_EVENT_TYPES
    assert [c.value for c in ErrorCode] == SEED_ERROR_CODES
    assert set(PAYLOAD_MODELS) == set(EventType)
    assert len(set(PAYLOAD_MODELS.values())) == 15


def test_latest_avsc_files_are_exactly_what_the_models_derive() -> None:
    committed = _committed(_latest_dir())
    derived = generate()
    assert sorted(committed) == sorted(derived)
    for name, schema in derived.items():
        if schema.get("type") == "record":
            assert [f["name"] for f in committed[name]["fields"]] == [
                f["name"] for f in schema["fields"]
            ], name
            for mine, theirs in zip(schema["fields"], committed[name]["fields"], strict=True):
                assert mine == theirs, f"{name}.{mine['name']}"
        assert committed[name] == schema, name


@pytest.mark.parametrize("event_type", list(EventType))
def test_each_payload_model_mirrors_its_record_field_by_field(event_type: EventType) -> None:
    model = PAYLOAD_MODELS[event_type]
    record = _committed(_latest_dir())[f"sessionflow.events.{model.__name__}"]
    assert [f["name"] for f in record["fields"]] == list(model.model_fields)
    for avro_field in record["fields"]:
        info = model.model_fields[avro_field["name"]]
        assert avro_field["doc"] == info.description
        assert ("default" in avro_field) == (not info.is_required())


@pytest.mark.parametrize("version_dir", sorted(AVSC.glob("v*")), ids=lambda p: p.name)
def test_every_published_field_and_type_has_a_doc(version_dir: Path) -> None:
    for name, schema in _committed(version_dir).items():
        assert schema.get("doc"), name
        for field in schema.get("fields", ()):
            assert field.get("doc"), f"{version_dir.name} {name}.{field['name']}"


def test_envelope_union_lists_the_15_payloads_in_event_type_order() -> None:
    envelope = _committed(_latest_dir())["sessionflow.events.EventEnvelope"]
    payload = next(f for f in envelope["fields"] if f["name"] == "payload")
    names = [f"sessionflow.events.{PAYLOAD_MODELS[t].__name__}" for t in EventType]
    assert payload["type"] == names


def test_published_versions_load_with_distinct_fingerprints() -> None:
    versions = load_published()
    assert [v.version for v in versions] == sorted(int(p.name[1:]) for p in AVSC.glob("v*"))
    assert len({v.fingerprint for v in versions}) == len(versions)
    assert all(len(v.fingerprint) == 8 for v in versions)


# The stable public API that producers, processors and sinks import (see the package docstring).
PUBLIC_API = {
    *("EventType", "MessageRole", "ApprovalMode", "SessionOutcome", "ErrorCode"),
    *("EventEnvelope", "ContractModel", "Payload", "PAYLOAD_MODELS"),
    *("SessionCreated", "SessionActivated", "SessionSuspended", "SessionEnded"),
    *("MessageCreated", "MessageUpdated"),
    *("ToolCallPending", "ToolCallApproved", "ToolCallRejected"),
    *("ToolCallCompleted", "ToolCallFailed"),
    *("StreamStarted", "StreamChunk", "StreamEnded", "ErrorOccurred"),
    *("SessionConfig", "Attachment", "TokenUsage"),
    *("EventCodec", "make_event", "validate_event", "payload_model"),
    *("new_session_id", "new_event_id", "is_session_id"),
    *("millis_to_datetime", "datetime_to_millis"),
    *("load_published", "SchemaVersion", "check_backward_transitive", "reader_problems"),
    "VersionReport",
    *("SchemaError", "DecodeError", "BadMarkerError", "UnknownFingerprintError"),
    *("TruncatedBodyError", "TrailingBytesError", "MalformedBodyError", "ResolutionError"),
    *("InconsistentEventError", "EventValidationError", "SchemaLoadError"),
    "SchemaCompatibilityError",
}


def test_public_api_names_resolve() -> None:
    """A fresh interpreter's star import gives exactly the public API, all from the package."""
    probe = (
        "from sessionflow.schemas import *\n"
        "import inspect\n"
        "names = {n: v for n, v in dict(globals()).items() if not n.startswith('__')}\n"
        "names.pop('inspect')\n"
        "for name, value in sorted(names.items()):\n"
        "    home = getattr(inspect.getmodule(value), '__name__', '-')\n"
        "    print(name, home)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    found = dict(line.split(" ") for line in result.stdout.splitlines())
    assert set(found) == PUBLIC_API
    foreign = {n: home for n, home in found.items() if home not in ("-", "typing", "types")}
    assert all(home.startswith("sessionflow.schemas.") for home in foreign.values()), foreign
