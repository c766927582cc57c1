"""docker-compose.yml cannot run here (no Docker engine): keep it honest by reading it."""

from __future__ import annotations

import json
import re
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


def test_prometheus_scrapes_every_component_on_its_metrics_port(services: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for s in job["static_configs"]
               for t in s["targets"]}  # fmt: skip
    assert targets == {"processor:6066", "sink:8124"}
    for target in targets:
        host, port = target.split(":")
        assert f"{port}:{port}" in services[host]["ports"]
    mounted = services["prometheus"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == ROOT / "deploy" / "prometheus" / "prometheus.yml"


def test_grafana_is_provisioned_with_both_datasources_and_the_dashboard(
    services: dict[str, Any],
) -> None:
    grafana = services["grafana"]
    for volume in grafana["volumes"]:
        assert (ROOT / volume.split(":")[0]).is_dir(), volume
    sources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/datasources.yml").read_text()
    )["datasources"]
    assert {s["uid"] for s in sources} == {"prometheus", "clickhouse"}
    dashboard = grafana_dashboard()
    used = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    assert used == {"prometheus", "clickhouse"}
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]


def grafana_dashboard() -> dict[str, Any]:
    """The provisioned Grafana dashboard."""
    path = ROOT / "deploy" / "grafana" / "dashboards" / "sessionflow.json"
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


_PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "le", "event_type",
                 "reason", "partition", "topic", "plugin", "m"}  # fmt: skip


def grafana_metric_names() -> set[str]:
    """Every metric name the dashboard's PromQL uses."""
    names = set()
    for panel in grafana_dashboard()["panels"]:
        for target in panel["targets"]:
            if "expr" in target:
                words = re.findall(r"[a-z_][a-z0-9_]*", target["expr"])
                names |= {w for w in words if w not in _PROMQL_WORDS}
    return names


def grafana_tables() -> set[str]:
    """Every ClickHouse table the dashboard's SQL reads (``sessionflow.<table>``)."""
    tables = set()
    for panel in grafana_dashboard()["panels"]:
        for target in panel["targets"]:
            tables |= set(re.findall(r"FROM sessionflow\.(\w+)", target.get("rawSql", "")))
    return tables
