"""docker-compose.yml cannot run here (no Docker engine): keep it honest by reading it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click
import pytest
import yaml

from sessionflow.cli.main import cli
from sessionflow.cli.settings_catalog import env_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def own_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: spec for name, spec in services.items() if "build" in spec}


def resolves_to_command(args: list[str]) -> bool:
    group: click.Command = cli
    for word in args:
        if word.startswith("-"):
            break
        if not isinstance(group, click.Group) or word not in group.commands:
            return False
        group = group.commands[word]
    return not isinstance(group, click.Group)


def test_kafka_is_the_official_image_in_kraft_mode(services: dict[str, Any]) -> None:
    kafka = services["kafka"]

    assert kafka["image"].startswith("apache/kafka:4")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]


def test_clickhouse_server_is_present(services: dict[str, Any]) -> None:
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")


def test_own_services_read_only_real_settings(services: dict[str, Any]) -> None:
    known = env_names()
    ours = own_services(services)

    assert ours, "the pipeline's own services are missing"
    for name, spec in ours.items():
        unknown = set(spec["environment"]) - known
        assert not unknown, f"service {name} sets env vars no settings class reads: {unknown}"


def test_own_services_reach_the_compose_infrastructure(services: dict[str, Any]) -> None:
    for spec in own_services(services).values():
        env = spec["environment"]
        kafka_host = env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0]
        clickhouse_host = urlparse(env["CLICKHOUSE_DSN"]).hostname

        assert kafka_host in services
        assert (
            f"{kafka_host}:{env['KAFKA_BOOTSTRAP_SERVERS'].split(':')[1]}"
            in (services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"])
        )
        assert clickhouse_host in services


def test_own_services_run_real_cli_commands(services: dict[str, Any]) -> None:
    for name, spec in own_services(services).items():
        assert resolves_to_command(spec["command"]), f"{name}: {spec['command']} is no command"
