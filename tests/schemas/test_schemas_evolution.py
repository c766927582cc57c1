"""Backward-transitive compatibility, golden vectors and `sessionflow schemas check`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sessionflow.cli.schemas_cmd import schemas as schemas_group
from sessionflow.schemas import (
    EventCodec,
    EventType,
    SchemaCompatibilityError,
    check_backward_transitive,
    load_published,
    reader_problems,
)
from sessionflow.schemas.compat import assert_backward_transitive
from sessionflow.schemas.examples import example_events
from sessionflow.schemas.golden import golden_problems, load_golden
from sessionflow.schemas.registry import avsc_root

VERSIONS = load_published()
CODEC = EventCodec(VERSIONS)
AVSC = Path(str(avsc_root()))


def test_current_reader_reads_every_published_version() -> None:
    reports = check_backward_transitive(VERSIONS)
    assert [r.writer for r in reports] == [v.version for v in VERSIONS]
    assert all(r.reader == VERSIONS[-1].version for r in reports)
    assert [r.problems for r in reports] == [()] * len(VERSIONS)
    assert_backward_transitive(VERSIONS)


def test_at_least_two_versions_are_published() -> None:
    assert len(VERSIONS) >= 2


def test_v2_reads_v1_message_created_with_the_new_field_defaulted() -> None:
    vector = next(v for v in load_golden(1) if v.event_type == "message.created")
    assert vector.message[2:10] == VERSIONS[0].fingerprint
    assert "model" not in vector.record["payload"]
    decoded = CODEC.decode(vector.message)
    assert decoded["payload"]["model"] is None
    assert {k: v for k, v in decoded["payload"].items() if k != "model"} == vector.record["payload"]
    assert CODEC.decode_model(vector.message).payload.model is None  # type: ignore[union-attr]


@pytest.mark.parametrize("version", [1, 2])
def test_v3_reads_v1_and_v2_data_with_producer_id_null(version: int) -> None:
    for vector in load_golden(version):
        assert "producer_id" not in vector.record
        decoded = CODEC.decode(vector.message)
        assert decoded.pop("producer_id") is None
        assert decoded["source"] == vector.record["source"] == "session-service"
        assert decoded["sequence"] == vector.record["sequence"]
        assert CODEC.decode_model(vector.message).producer_id is None


def test_v3_golden_vectors_carry_the_producer_id() -> None:
    vectors = load_golden(3)
    assert VERSIONS[2].version == 3
    assert {vector.message[2:10] for vector in vectors} == {VERSIONS[2].fingerprint}
    assert {v.record["producer_id"] for v in vectors} == {"session-service-5c3b7a1e9f00d2c4"}
    assert [CODEC.decode(v.message)["producer_id"] for v in vectors] == [
        "session-service-5c3b7a1e9f00d2c4"
    ] * len(vectors)


def test_a_v2_writer_drops_the_producer_id_it_has_no_field_for() -> None:
    event = example_events()[4]
    old_writer = EventCodec(VERSIONS, writer_version=2)

    message = old_writer.encode(event)

    assert event.producer_id is not None
    assert CODEC.writer_version(message) == 2
    assert CODEC.decode_model(message) == event.model_copy(update={"producer_id": None})
    assert CODEC.decode_model(CODEC.encode(event)) == event


@pytest.mark.parametrize("version", [v.version for v in VERSIONS])
def test_golden_vectors_of_every_version(version: int) -> None:
    vectors = load_golden(version)
    assert sorted(v.event_type for v in vectors) == sorted(t.value for t in EventType)
    assert golden_problems(CODEC, vectors) == []
    own = [item for item in VERSIONS if item.version <= version]
    own_codec = EventCodec(own, writer_version=version)
    for vector in vectors:  # the committed record re-encodes to the committed bytes
        assert own_codec.encode_record(vector.record) == vector.message, vector.event_type
        assert own_codec.decode(vector.message) == vector.record


def test_examples_encode_to_the_golden_bytes_of_the_current_version() -> None:
    golden = {v.event_type: v.message for v in load_golden(VERSIONS[-1].version)}
    for event in example_events():
        assert CODEC.encode(event) == golden[event.event_type.value], event.event_type


def test_golden_check_detects_a_changed_vector() -> None:
    vector = load_golden(1)[0]
    record = {**vector.record, "source": "someone-else"}
    changed = type(vector)(vector.event_type, vector.message, record)
    assert golden_problems(CODEC, [changed]) == [
        f"{vector.event_type}: decoded record differs from the golden one"
    ]


def _schema(version: int) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(dict(VERSIONS[version - 1].schema)))
    return result


def _record(schema: dict[str, Any], name: str) -> dict[str, Any]:
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    found: dict[str, Any] = next(b for b in payload["type"] if b["name"] == name)
    return found


def test_compat_detects_a_new_field_without_default() -> None:
    reader = _schema(2)
    field = next(f for f in _record(reader, "MessageCreated")["fields"] if f["name"] == "model")
    del field["default"]
    assert reader_problems(_schema(1), reader) == [
        "MessageCreated.model: new field without a default (data written earlier lacks it)"
    ]


def test_compat_detects_a_changed_type_and_a_removed_enum_symbol() -> None:
    reader = _schema(2)
    reader["fields"][3]["type"] = "int"  # sequence: long -> int is not a legal promotion
    ended = _record(reader, "SessionEnded")
    ended["fields"][0]["type"]["symbols"].remove("abandoned")
    problems = reader_problems(_schema(1), reader)
    assert "EventEnvelope.sequence: long cannot be read as int" in problems
    assert any("SessionOutcome lacks symbols ['abandoned']" in p for p in problems)


def test_compat_allows_promotions_and_added_enum_symbols() -> None:
    writer = _schema(1)
    reader = _schema(2)
    writer["fields"][3]["type"] = "int"  # int data read as long: legal
    ended = _record(writer, "SessionEnded")
    ended["fields"][0]["type"]["symbols"].remove("abandoned")  # reader has more symbols
    assert reader_problems(writer, reader) == []


def _candidate(tmp_path: Path, breaking: bool) -> Path:
    root = tmp_path / "avsc"
    shutil.copytree(AVSC, root)
    latest = max(int(p.name[1:]) for p in root.glob("v*"))
    new = root / f"v{latest + 1}"
    shutil.copytree(root / f"v{latest}", new)
    path = new / "sessionflow.events.StreamChunk.avsc"
    schema = json.loads(path.read_text())
    field: dict[str, Any] = {"name": "byte_offset", "type": "long", "doc": "Offset of the delta."}
    if not breaking:
        field = {**field, "type": ["null", "long"], "default": None}
    schema["fields"].append(field)
    path.write_text(json.dumps(schema))
    return root


def test_cli_check_passes_on_the_published_versions() -> None:
    result = CliRunner().invoke(schemas_group, ["check"])
    assert result.exit_code == 0, result.output
    for version in VERSIONS:
        assert f"v{version.version}  {version.fingerprint.hex()}  ok" in result.output


@pytest.mark.parametrize("breaking", [False, True])
def test_cli_check_judges_a_candidate_version(tmp_path: Path, breaking: bool) -> None:
    root = _candidate(tmp_path, breaking)
    result = CliRunner().invoke(schemas_group, ["check", "--avsc-dir", str(root)])
    if breaking:
        assert result.exit_code == 1
        assert "INCOMPATIBLE" in result.output
        assert "StreamChunk.byte_offset: new field without a default" in result.output
        with pytest.raises(SchemaCompatibilityError, match="byte_offset"):
            assert_backward_transitive(load_published(root))
    else:
        assert result.exit_code == 0, result.output
        assert "INCOMPATIBLE" not in result.output
