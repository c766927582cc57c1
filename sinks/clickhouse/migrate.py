"""Versioned, idempotent migrations of the ClickHouse tables (``sessionflow db migrate``).

Migrations are the numbered ``migrations/NNNN_name.sql`` files shipped in the package, applied
in order. Each statement is idempotent (``IF NOT EXISTS``); a migration applied is recorded in
``schema_migrations`` with the checksum of its text, so running ``migrate`` again applies
nothing, and a shipped migration whose text changed after it was applied is reported instead
of silently diverging. ``${db}`` and ``${retention_days}`` are filled in when applied; a
changed retention is applied to the existing tables with ``ALTER TABLE ... MODIFY TTL``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

from sessionflow.core.errors import ConfigurationError, InfrastructureError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
RETENTION_TABLES = ("events", "dead_letters")
"""Tables whose rows expire ``retention_days`` after they were ingested."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One shipped migration: its number, name, statements (templates) and checksum."""

    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def statements(self, database: str, retention_days: int) -> list[str]:
        """The migration's statements for ``database``, comments dropped."""
        rendered = Template(self.text).substitute(db=f"`{database}`", retention_days=retention_days)
        lines = [line for line in rendered.splitlines() if not line.lstrip().startswith("--")]
        return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What ``migrate`` did: versions applied now, versions found already applied."""

    applied: tuple[int, ...]
    present: tuple[int, ...]
    retention_changed: bool


def shipped() -> tuple[Migration, ...]:
    """Every migration in the package, in order."""
    root = resources.files("sessionflow.sinks.clickhouse").joinpath("migrations")
    found = []
    for entry in root.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    return tuple(sorted(found, key=lambda m: m.version))


def migrate(client: Any, database: str, retention_days: int) -> MigrationReport:
    """Bring ``database`` to the latest schema; safe to run any number of times.

    Raises :class:`ConfigurationError` when an applied migration's text differs from the
    shipped one, :class:`InfrastructureError` when ClickHouse refuses a statement.
    """
    db = f"`{database}`"
    _run(client, f"CREATE DATABASE IF NOT EXISTS {db}")
    _run(
        client,
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, "
        "checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version",
    )
    done = applied_versions(client, database)
    applied: list[int] = []
    for migration in shipped():
        known = done.get(migration.version)
        if known is not None:
            if known != migration.checksum:
                raise ConfigurationError(
                    f"ClickHouse database {database}: migration {migration.version:04d}_"
                    f"{migration.name} was applied with other text (checksum {known}, shipped "
                    f"{migration.checksum}); add a new migration instead of editing one"
                )
            continue
        for statement in migration.statements(database, retention_days):
            _run(client, statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        applied.append(migration.version)
    changed = _apply_retention(client, database, retention_days)
    present = tuple(sorted(set(done) - set(applied)))
    return MigrationReport(tuple(applied), present, changed)


def applied_versions(client: Any, database: str) -> dict[int, str]:
    """Applied migration versions and their checksums (empty before the first migrate)."""
    rows = client.query(
        f"SELECT version, any(checksum) FROM `{database}`.schema_migrations GROUP BY version"
    ).result_rows
    return {int(version): str(checksum) for version, checksum in rows}


def _apply_retention(client: Any, database: str, retention_days: int) -> bool:
    """Set the TTL of the retention tables to ``retention_days`` where it differs."""
    wanted = f"toIntervalDay({retention_days})"
    changed = False
    for table in RETENTION_TABLES:
        rows = client.query(
            "SELECT create_table_query FROM system.tables WHERE database = {d:String} "
            "AND name = {t:String}",
            parameters={"d": database, "t": table},
        ).result_rows
        if rows and wanted not in str(rows[0][0]):
            _run(
                client,
                f"ALTER TABLE `{database}`.{table} MODIFY TTL toDateTime(ingested_at) + "
                f"INTERVAL {retention_days} DAY",
            )
            changed = True
    return changed


def _run(client: Any, statement: str) -> None:
    try:
        client.command(statement)
    except Exception as exc:  # the driver raises several types; name the statement
        first = statement.split("\n", 1)[0][:80]
        raise InfrastructureError(f"ClickHouse refused a migration step ({first}): {exc}") from exc


def prepare(
    client: Any, database: str, retention_days: int, prices: list[tuple[str, float, float]]
) -> MigrationReport:
    """Migrate ``database`` and record the configured prices (what the sink does at start)."""
    report = migrate(client, database, retention_days)
    load_prices(client, database, prices)
    return report


def load_prices(client: Any, database: str, prices: list[tuple[str, float, float]]) -> int:
    """Record the configured token prices where they differ from the stored ones; count."""
    stored = {
        str(model): (float(i), float(o))
        for model, i, o in client.query(
            f"SELECT model, argMax(input_per_million, loaded_at), "
            f"argMax(output_per_million, loaded_at) FROM `{database}`.model_prices GROUP BY model"
        ).result_rows
    }
    changed = [list(price) for price in prices if stored.get(price[0]) != (price[1], price[2])]
    if changed:
        client.insert(
            f"{database}.model_prices",
            changed,
            column_names=["model", "input_per_million", "output_per_million"],
        )
    return len(changed)
