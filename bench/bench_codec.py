"""Codec throughput on a realistic mix of the 15 event types, next to bare fastavro.

Run: ``.venv/bin/python bench/bench_codec.py [--events N] [--repeat R]``. Not a test.

Bare fastavro = ``schemaless_writer`` / ``schemaless_reader`` with the same parsed schema,
reused, on the same records (union branch given in tuple notation, no header). The fast
encoder = :class:`~sessionflow.schemas.fastwrite.EnvelopeWriter` alone (header included, no
fallback), which the codec's encode paths use. Each figure is the best of R runs over N events.

Figures measured here (2-core dev VM, ``--events 20000 --repeat 5``, us/event, ratio = bare
fastavro time / path time)::

  encode bare fastavro schemaless_writer          11.52
  encode fast encoder (EnvelopeWriter, dict)       3.71   3.10x
  encode codec.encode_record(dict)                 4.13   2.79x
  encode codec.encode(model)                       5.54   2.08x
  encode codec.encode_parts(fields, model)         5.04   2.29x   (the SDK's typed path)
  encode model_dump + fastavro (SDK before)       13.77   0.84x
  decode bare fastavro schemaless_reader           8.14
  decode codec.decode(bytes) -> dict               4.37   1.86x   (generated decoder; goal 1.5x)
  decode codec.decode_model(bytes)                18.54   0.44x   (pydantic validation on top)

The fast encoder and decoder are pure Python generated per record type and writer schema
(:mod:`sessionflow.schemas.fastwrite`, :mod:`sessionflow.schemas.fastread`);
what remains is mostly per-field interpreter work, the largest single item being the 6-byte varint
of ``occurred_at`` (~0.4 us).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from sessionflow.schemas import PAYLOAD_MODELS, EventCodec, EventEnvelope, EventType
from sessionflow.schemas.codec import MARKER
from sessionflow.schemas.examples import example_events
from sessionflow.schemas.fastwrite import EnvelopeWriter

# share of each type in a busy deployment: streams dominate, then messages and tool calls
MIX: dict[EventType, int] = {
    EventType.STREAM_CHUNK: 45,
    EventType.MESSAGE_CREATED: 10,
    EventType.MESSAGE_UPDATED: 3,
    EventType.STREAM_STARTED: 5,
    EventType.STREAM_ENDED: 5,
    EventType.TOOL_CALL_PENDING: 6,
    EventType.TOOL_CALL_APPROVED: 3,
    EventType.TOOL_CALL_REJECTED: 1,
    EventType.TOOL_CALL_COMPLETED: 5,
    EventType.TOOL_CALL_FAILED: 1,
    EventType.SESSION_CREATED: 4,
    EventType.SESSION_ACTIVATED: 4,
    EventType.SESSION_SUSPENDED: 2,
    EventType.SESSION_ENDED: 4,
    EventType.ERROR_OCCURRED: 2,
}
WORDS: tuple[str, ...] = (
    "the",
    "a",
    "token",
    "session",
    "agent",
    "tool",
    "call",
    "result",
    "stream",
)
WORDS += ("error", "user", "model", "reply")


def make_records(codec: EventCodec, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` plain event dicts following :data:`MIX`, with varied text sizes."""
    rng = random.Random(seed)
    templates = {e.event_type: codec.decode(codec.encode(e)) for e in example_events()}
    types = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    records = []
    for index, event_type in enumerate(types):
        record = dict(templates[event_type])
        payload = dict(record["payload"])
        record["sequence"] = index
        record["occurred_at"] += index
        if "delta" in payload:
            payload["delta"] = " ".join(rng.choices(WORDS, k=rng.randint(1, 6)))
            payload["chunk_index"] = index % 500
        if "content" in payload and payload["content"] is not None:
            payload["content"] = " ".join(rng.choices(WORDS, k=rng.randint(5, 120)))
        record["payload"] = payload
        records.append(record)
    return records


def best(fn: Callable[[], None], repeat: int) -> float:
    """Best wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    codec = EventCodec()
    parsed, parsed_raw = codec.current.parsed, codec.current.parsed_raw
    records = make_records(codec, args.events)
    names = {t.value: f"sessionflow.events.{m.__name__}" for t, m in PAYLOAD_MODELS.items()}
    tupled = [{**r, "payload": (names[r["event_type"]], r["payload"])} for r in records]
    messages = [codec.encode_record(r) for r in records]
    bodies = [m[10:] for m in messages]
    models = [codec.decode_model(m) for m in messages]
    records_ms = {r["event_id"]: r["occurred_at"] for r in records}

    def bare_encode() -> None:
        for record in tupled:
            out = BytesIO()
            schemaless_writer(out, parsed, record)
            out.getvalue()

    writer, header = EnvelopeWriter(parsed), MARKER + codec.current.fingerprint

    def fast_encode() -> None:
        for record in records:
            writer.write(header, record, names[record["event_type"]], record["payload"], False)

    def parts_encode() -> None:
        for m in models:
            codec.encode_parts(
                m.event_id,
                m.event_type.value,
                m.session_id,
                m.sequence,
                records_ms[m.event_id],
                m.source,
                m.causation_id,
                m.correlation_id,
                m.payload,
            )

    def dump_and_fastavro() -> None:
        for m in models:
            out = BytesIO()
            out.write(header)
            body = {**m.model_dump(), "occurred_at": records_ms[m.event_id]}
            body["payload"] = (names[m.event_type.value], body["payload"])
            schemaless_writer(out, parsed, body)
            out.getvalue()

    def bare_decode(schema: Any) -> Callable[[], None]:
        def run() -> None:
            for body in bodies:
                schemaless_reader(BytesIO(body), schema, None)

        return run

    def loop(fn: Callable[[Any], Any], items: list[Any]) -> Callable[[], None]:
        def run() -> None:
            for item in items:
                fn(item)

        return run

    def validate_and_encode(record: dict[str, Any]) -> bytes:
        return codec.encode(EventEnvelope.model_validate(record))

    n = len(records)
    r = args.repeat
    rows = [
        ("encode", "bare fastavro schemaless_writer", best(bare_encode, r), None),
        ("encode", "fast encoder (EnvelopeWriter, dict)", best(fast_encode, r), 0),
        ("encode", "codec.encode_record(dict)", best(loop(codec.encode_record, records), r), 0),
        ("encode", "codec.encode(model)", best(loop(codec.encode, models), r), 0),
        ("encode", "codec.encode_parts(fields, model)", best(parts_encode, r), 0),
        ("encode", "model_dump + fastavro (SDK before)", best(dump_and_fastavro, r), 0),
        ("encode", "model_validate(dict) + encode", best(loop(validate_and_encode, records), r), 0),
        ("decode", "bare fastavro schemaless_reader", best(bare_decode(parsed), r), None),
        ("decode", "bare fastavro, no logical types", best(bare_decode(parsed_raw), r), 7),
        ("decode", "codec.decode(bytes) -> dict", best(loop(codec.decode, messages), r), 7),
        ("decode", "codec.decode_model(bytes)", best(loop(codec.decode_model, messages), r), 7),
    ]
    avg = sum(map(len, messages)) / n
    print(f"{n} events, realistic mix of {len(MIX)} types, mean message {avg:.0f} bytes")
    print(f"{'':7}{'path':38}{'us/event':>10}{'events/s':>12}{'vs bare':>10}")
    for kind, label, seconds, base in rows:
        ratio = "" if base is None else f"{rows[base][2] / seconds:9.2f}x"
        print(f"{kind:7}{label:38}{seconds / n * 1e6:10.2f}{n / seconds:12,.0f}{ratio:>10}")
    print("vs bare = bare fastavro time / path time (1.00x = as fast; decode goal >= 1.5x)")
    print(f"fast encoder vs bare fastavro: {rows[0][2] / rows[1][2]:.2f}x")
    print(f"codec.decode vs bare fastavro without logical types: {rows[8][2] / rows[9][2]:.2f}x")


if __name__ == "__main__":
    main()
