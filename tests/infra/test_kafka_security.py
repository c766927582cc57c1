"""SASL_SSL on the real local broker: produce, consume and administer with each mechanism;
a wrong password, an untrusted CA and a certificate naming another host each fail at once in
one line; no secret shows in output, settings, repr or the broker's logs."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import pytest
from pydantic import SecretStr

from sessionflow.core.kafka_clients import (
    KafkaAuthenticationError,
    KafkaTlsError,
    check_connection,
    new_admin,
    new_consumer,
    ssl_context,
)
from sessionflow.core.local_kafka import LocalKafka, LocalKafkaError, LocalKafkaSettings
from sessionflow.core.local_kafka.tls import write_tls_material, write_untrusted_ca
from sessionflow.core.settings import KafkaSettings, PathSettings
from sessionflow.producers.errors import BrokerUnavailableError
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings, TopicSettings
from sessionflow.producers.topics import create_topics, describe_topics
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.ids import new_session_id
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports

Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
MECHANISMS: tuple[Mechanism, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
FAIL_FAST_S = 5.0
"""In-process failures must come well inside the 15 s start timeout (no waiting it out)."""
CLI_FAIL_FAST_S = 15.0
"""A CLI failure, interpreter start included, well inside the 30 s admin timeout."""


def secured(broker: LocalKafka, mechanism: Mechanism, **update: object) -> KafkaSettings:
    settings = broker.secured_listener().kafka_settings(mechanism)
    topic = unique_name("secure")
    return settings.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq", **update})


def secrets_of(broker: LocalKafka) -> list[str]:
    credentials = broker.secured_listener().credentials
    return [
        credentials.password.get_secret_value(),
        credentials.client_key_password.get_secret_value(),
    ]


def run_cli(kafka: KafkaSettings, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, **kafka_env(kafka)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, time.monotonic() - started


async def consume(kafka: KafkaSettings, group: str, count: int) -> list[bytes]:
    """``count`` record values of ``kafka.topic`` read by a consumer group, committed."""
    consumer = new_consumer(kafka, kafka.topic, group_id=group, auto_offset_reset="earliest")
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    async with consumer:
        while len(values) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(r.value for r in records)
        await consumer.commit()
    return values


# ----------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_produce_consume_administer(secured_broker: LocalKafka, mechanism: Mechanism) -> None:
    kafka = secured(secured_broker, mechanism)
    group = unique_name("secure-group")
    session = new_session_id()

    outcomes = await create_topics(kafka, TopicSettings(partitions=2))
    async with SessionEventProducer(kafka, ProducerSettings(source="security")) as producer:
        sent = [
            await producer.session_created(session, config={"approval_mode": "auto"}),
            await producer.message_created(session, message_id="m1", role="user", content="hi"),
        ]
    values = await consume(kafka, group, len(sent))
    (described,) = await describe_topics(kafka, [kafka.topic])

    assert [(o.name, o.created) for o in outcomes] == [(kafka.topic, True), (kafka.dlq_topic, True)]
    codec = EventCodec()
    assert [codec.decode_model(v).event_id for v in values] == [d.event_id for d in sent]
    assert sum(described.end_offsets.values()) == len(sent)
    (lag,) = [g for g in described.groups if g.group_id == group]
    assert lag.total_lag == 0


async def test_mutual_tls_with_an_encrypted_client_key(secured_broker: LocalKafka) -> None:
    listener = secured_broker.secured_listener()
    kafka = listener.kafka_settings("SCRAM-SHA-256", client_certificate=True)
    admin = new_admin(kafka)

    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()

    assert kafka.ssl_key_password is not None
    assert isinstance(topics, list)


def test_cli_describe_over_sasl_ssl_shows_no_secret(secured_broker: LocalKafka) -> None:
    listener = secured_broker.secured_listener()
    kafka = listener.kafka_settings("SCRAM-SHA-512", client_certificate=True)
    topic = unique_name("secure-cli")
    kafka = kafka.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})

    created, _ = run_cli(kafka, "-v", "topics", "create", "--partitions", "2")
    described, _ = run_cli(kafka, "-v", "topics", "describe")

    assert created.returncode == 0, created.stderr[-2000:]
    assert described.returncode == 0, described.stderr[-2000:]
    assert kafka.topic in described.stdout
    assert "DEBUG" in described.stderr  # -v really logged, so the next check has content
    for secret in secrets_of(secured_broker):
        for output in (created.stdout, created.stderr, described.stdout, described.stderr):
            assert secret not in output


# ----------------------------------------------------------------------------- failures


async def test_wrong_password_fails_fast_in_one_line(secured_broker: LocalKafka) -> None:
    kafka = secured(secured_broker, "SCRAM-SHA-512", sasl_password=SecretStr("not-the-password"))
    await create_topics(secured(secured_broker, "SCRAM-SHA-512", topic=kafka.topic))  # it exists
    producer = SessionEventProducer(kafka, ProducerSettings(source="security"))

    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as caught:
        await producer.start()
    elapsed = time.monotonic() - started

    assert elapsed < FAIL_FAST_S
    assert isinstance(caught.value.__cause__, KafkaAuthenticationError)
    message = str(caught.value)
    assert "\n" not in message
    assert "SASL authentication" in message
    assert "KAFKA_SASL_PASSWORD" in message
    assert "not-the-password" not in message


async def test_untrusted_ca_fails_fast_in_one_line(
    secured_broker: LocalKafka, tmp_path: Path
) -> None:
    other_ca = write_untrusted_ca(tmp_path / "other-ca.pem")
    kafka = secured(secured_broker, "SCRAM-SHA-512", ssl_cafile=other_ca)

    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as caught:
        await SessionEventProducer(kafka, ProducerSettings(source="security")).start()
    elapsed = time.monotonic() - started

    assert elapsed < FAIL_FAST_S
    assert isinstance(caught.value.__cause__, KafkaTlsError)
    assert "\n" not in str(caught.value)
    assert f"not trusted by KAFKA_SSL_CAFILE={other_ca}" in str(caught.value)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong-password", "SASL authentication of user"),
        ("untrusted-ca", "is not trusted by KAFKA_SSL_CAFILE="),
    ],
)
def test_cli_failure_is_one_line_exit_1(
    secured_broker: LocalKafka, tmp_path: Path, case: str, expected: str
) -> None:
    update: dict[str, object] = (
        {"sasl_password": SecretStr("not-the-password")}
        if case == "wrong-password"
        else {"ssl_cafile": write_untrusted_ca(tmp_path / "other-ca.pem")}
    )
    kafka = secured(secured_broker, "SCRAM-SHA-512", **update)

    result, elapsed = run_cli(kafka, "topics", "describe")

    assert result.returncode == 1
    assert elapsed < CLI_FAIL_FAST_S
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert result.stdout == ""


# ----------------------------------------------------------------------------- hostname check


def test_hostname_is_checked_by_default(secured_broker: LocalKafka) -> None:
    kafka = secured(secured_broker, "SCRAM-SHA-512")

    context = ssl_context(kafka)

    assert kafka.ssl_check_hostname is True
    assert context.check_hostname is True
    assert context.verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_broker_certificate_names_its_addresses(
    secured_broker: LocalKafka, host: str
) -> None:
    port = secured_broker.secured_listener().port
    kafka = secured(secured_broker, "PLAIN", bootstrap_servers=f"{host}:{port}")

    await check_connection(kafka, timeout_s=FAIL_FAST_S)  # raises if the name does not match


@asynccontextmanager
async def tls_proxy(tmp_path: Path, target: KafkaSettings) -> AsyncIterator[tuple[int, Path]]:
    """A TLS endpoint whose certificate names only ``elsewhere.example`` (own CA), relaying
    to the broker's SASL_SSL listener; yields its port and the CA file that trusts it."""
    files = write_tls_material(tmp_path / "proxy", ["elsewhere.example"], "unused")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(files.broker_keystore)
    host, port = target.bootstrap_servers.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(
            host, int(port), ssl=ssl_context(target)
        )
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=server_side)
    try:
        yield server.sockets[0].getsockname()[1], files.ca_file
    finally:
        server.close()


async def test_a_certificate_naming_another_host_is_refused_unless_unchecked(
    secured_broker: LocalKafka, tmp_path: Path
) -> None:
    target = secured(secured_broker, "SCRAM-SHA-512")
    async with tls_proxy(tmp_path, target) as (port, proxy_ca):
        checked = target.model_copy(
            update={"bootstrap_servers": f"127.0.0.1:{port}", "ssl_cafile": proxy_ca}
        )
        unchecked = checked.model_copy(update={"ssl_check_hostname": False})

        with pytest.raises(KafkaTlsError, match="does not name that host") as caught:
            await check_connection(checked, timeout_s=FAIL_FAST_S)
        await check_connection(unchecked, timeout_s=FAIL_FAST_S)  # TLS accepted, SASL passes

    assert "KAFKA_SSL_CHECK_HOSTNAME" in str(caught.value)


# ----------------------------------------------------------------------------- no secret leaks


def test_settings_repr_and_catalog_show_no_secret(secured_broker: LocalKafka) -> None:
    listener = secured_broker.secured_listener()
    kafka = listener.kafka_settings("SCRAM-SHA-512", client_certificate=True)

    result, _ = run_cli(kafka, "settings")

    assert result.returncode == 0
    for env in ("KAFKA_SSL_CAFILE", "KAFKA_SSL_KEY_PASSWORD", "KAFKA_SSL_CHECK_HOSTNAME"):
        assert f"`{env}`" in result.stdout
    for secret in secrets_of(secured_broker):
        assert secret not in result.stdout + result.stderr
        assert secret not in repr(kafka)
        assert secret not in str(kafka)
        assert secret not in repr(listener)


def broker_logs_and_cmdline(broker: LocalKafka) -> tuple[str, str]:
    logs = sorted((broker.home / "logs").glob("*"))
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    cmdline = Path(f"/proc/{broker.status().pid}/cmdline").read_bytes()
    return text, cmdline.decode(errors="replace")


async def test_broker_files_and_process_keep_secrets(secured_broker: LocalKafka) -> None:
    good = secured(secured_broker, "PLAIN")
    await check_connection(good)  # a PLAIN login and a failed one, so the log has SASL activity
    with pytest.raises(KafkaAuthenticationError):
        await check_connection(good.model_copy(update={"sasl_password": SecretStr("wrong")}))
    text, cmdline = broker_logs_and_cmdline(secured_broker)

    assert "SASL_SSL" in text  # the log does describe the secured listener
    for secret in secrets_of(secured_broker):
        assert secret not in text
        assert secret not in cmdline
    for private in ("server.properties", "secured/credentials.json", "secured/client-key.pem"):
        assert (secured_broker.home / private).stat().st_mode & 0o077 == 0, private


def test_sasl_ssl_port_on_a_broker_formatted_without_it_is_one_line(tmp_path: Path) -> None:
    ports = free_ports(3)
    settings = LocalKafkaSettings(port=ports[0], controller_port=ports[1], sasl_ssl_port=ports[2])
    paths = PathSettings(cache_dir=PathSettings().cache_dir, data_dir=tmp_path)
    broker = LocalKafka(settings, paths)
    (broker.home / "data").mkdir(parents=True)
    (broker.home / "data" / "meta.properties").write_text("formatted earlier, plaintext only\n")

    with pytest.raises(LocalKafkaError) as caught:
        broker.up()

    assert "was created without a SASL_SSL listener" in str(caught.value)
    assert "SESSIONFLOW_KAFKA_SASL_SSL_PORT" in str(caught.value)
    assert not broker.status().running


# ----------------------------------------------------------------------------- README


def readme_secured_example() -> tuple[dict[str, str], list[str]]:
    """The README's secured-cluster example: its exported variables and its command."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("A secured cluster", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    exported: dict[str, str] = {}
    command: list[str] = []
    for line in block.splitlines():
        code = line.split("#", 1)[0].strip()
        if code.startswith("export "):
            name, value = code.removeprefix("export ").split("=", 1)
            exported[name] = value.strip("'")
        elif code:
            command = code.split()
    return exported, command


def test_the_readme_secured_example_works_on_a_real_sasl_ssl_listener(
    secured_broker: LocalKafka,
) -> None:
    exported, command = readme_secured_example()
    real = secured(secured_broker, "SCRAM-SHA-512")
    asyncio.run(create_topics(real))
    ours = kafka_env(real)  # the example's names, with this broker's values
    env = {**os.environ, **{name: ours[name] for name in exported}}
    env.update(KAFKA_TOPIC=real.topic, KAFKA_DLQ_TOPIC=real.dlq_topic)

    assert command[0] == "sessionflow"
    assert set(exported) == {
        "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE",
    }  # fmt: skip
    assert exported["KAFKA_SECURITY_PROTOCOL"] == env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert exported["KAFKA_SASL_MECHANISM"] == env["KAFKA_SASL_MECHANISM"]
    result = subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", *command[1:]],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert real.topic in result.stdout
