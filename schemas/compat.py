"""Schema compatibility per the Avro spec's schema-resolution rules.

:func:`reader_problems` lists why a reader schema cannot read data written with a writer
schema (empty list = compatible). :func:`check_backward_transitive` applies it to every
published version against the current reader: the contract's evolution rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sessionflow.schemas.errors import SchemaCompatibilityError
from sessionflow.schemas.registry import SchemaVersion

_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_PROMOTIONS: Final = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


@dataclass(frozen=True, slots=True)
class VersionReport:
    """Whether the reader (version ``reader``) reads data written by version ``writer``."""

    writer: int
    reader: int
    problems: tuple[str, ...]

    @property
    def compatible(self) -> bool:
        """True when there is no problem."""
        return not self.problems


def check_backward_transitive(versions: Sequence[SchemaVersion]) -> list[VersionReport]:
    """Report, for every version (oldest first), whether the latest one reads its data."""
    if not versions:
        return []
    reader = versions[-1]
    return [
        VersionReport(
            item.version, reader.version, tuple(reader_problems(item.schema, reader.schema))
        )
        for item in versions
    ]


def assert_backward_transitive(versions: Sequence[SchemaVersion]) -> None:
    """Raise :class:`SchemaCompatibilityError` naming every incompatible version."""
    bad = [report for report in check_backward_transitive(versions) if not report.compatible]
    if bad:
        raise SchemaCompatibilityError(
            "; ".join(f"v{r.reader} cannot read v{r.writer}: {r.problems[0]}" for r in bad)
        )


def reader_problems(writer: Any, reader: Any) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (JSON schemas); [] if it can."""
    checker = _Checker(_index(writer), _index(reader))
    checker.check(writer, reader, "")
    return checker.problems


def _index(schema: Any) -> dict[str, Mapping[str, Any]]:
    names: dict[str, Mapping[str, Any]] = {}

    def walk(node: Any, namespace: str) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, namespace)
        elif isinstance(node, Mapping):
            kind = node.get("type")
            if kind in ("record", "enum", "fixed", "error"):
                name = _qualify(node["name"], node.get("namespace", namespace))
                names[name] = {**node, "name": name}
                namespace = name.rpartition(".")[0]
            for field in node.get("fields", ()):
                walk(field["type"], namespace)
            for key in ("items", "values"):
                if key in node:
                    walk(node[key], namespace)
            if isinstance(kind, dict | list):
                walk(kind, namespace)

    walk(schema, "")
    return names


def _qualify(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


class _Checker:
    def __init__(self, writer_names: Mapping[str, Any], reader_names: Mapping[str, Any]) -> None:
        self.writer_names = writer_names
        self.reader_names = reader_names
        self.problems: list[str] = []
        self._seen: set[tuple[str, str]] = set()

    def _resolve(self, node: Any, names: Mapping[str, Any]) -> Any:
        if isinstance(node, Mapping) and not isinstance(node.get("type"), str | type(None)):
            return self._resolve(node["type"], names)
        if isinstance(node, Mapping) and node.get("type") in _PRIMITIVES:
            return node["type"]
        if isinstance(node, str) and node not in _PRIMITIVES:
            found = names.get(node) or next(
                (v for k, v in names.items() if k.rpartition(".")[2] == node), None
            )
            if found is None:
                raise SchemaCompatibilityError(f"unknown named type {node!r}")
            return found
        return node

    def readable(self, writer: Any, reader: Any) -> bool:
        sub = _Checker(self.writer_names, self.reader_names)
        sub._seen = set(self._seen)
        sub.check(writer, reader, "")
        return not sub.problems

    def check(self, writer: Any, reader: Any, path: str) -> None:
        writer = self._resolve(writer, self.writer_names)
        reader = self._resolve(reader, self.reader_names)
        where = path or "<root>"
        if isinstance(writer, list):
            for branch in writer:
                self.check(branch, reader, path)
            return
        if isinstance(reader, list):
            if not any(self.readable(writer, branch) for branch in reader):
                same = [
                    b
                    for b in reader
                    if _short(self._resolve(b, self.reader_names)) == _short(writer)
                ]
                if same:  # explain why the namesake branch does not fit
                    self.check(writer, same[0], path)
                else:
                    self.problems.append(f"{where}: no reader union branch reads {_kind(writer)}")
            return
        if isinstance(writer, str) or isinstance(reader, str):
            if not (isinstance(writer, str) and isinstance(reader, str)) or (
                writer != reader and (writer, reader) not in _PROMOTIONS
            ):
                self.problems.append(f"{where}: {_kind(writer)} cannot be read as {_kind(reader)}")
            return
        self._named(writer, reader, where)

    def _named(self, writer: Mapping[str, Any], reader: Mapping[str, Any], where: str) -> None:
        kind = writer["type"]
        if kind != reader["type"]:
            self.problems.append(f"{where}: {kind} cannot be read as {reader['type']}")
            return
        if kind == "array":
            self.check(writer["items"], reader["items"], f"{where}[]")
            return
        if kind == "map":
            self.check(writer["values"], reader["values"], f"{where}{{}}")
            return
        short = writer["name"].rpartition(".")[2]
        aliases = {a.rpartition(".")[2] for a in reader.get("aliases", ())}
        if short != reader["name"].rpartition(".")[2] and short not in aliases:
            self.problems.append(f"{where}: {kind} {writer['name']} read as {reader['name']}")
            return
        if kind == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                self.problems.append(f"{where}: enum {short} lacks symbols {missing}")
        elif kind == "fixed":
            if writer["size"] != reader["size"]:
                self.problems.append(f"{where}: fixed {short} size differs")
        else:
            self._record(writer, reader)

    def _record(self, writer: Mapping[str, Any], reader: Mapping[str, Any]) -> None:
        key = (writer["name"], reader["name"])
        if key in self._seen:
            return
        self._seen.add(key)
        written = {field["name"]: field for field in writer["fields"]}
        short = reader["name"].rpartition(".")[2]
        for field in reader["fields"]:
            source = written.get(field["name"]) or next(
                (written[a] for a in field.get("aliases", ()) if a in written), None
            )
            if source is not None:
                self.check(source["type"], field["type"], f"{short}.{field['name']}")
            elif "default" not in field:
                self.problems.append(
                    f"{short}.{field['name']}: new field without a default "
                    "(data written earlier lacks it)"
                )


def _kind(node: Any) -> str:
    if isinstance(node, Mapping):
        return str(node.get("name", node.get("type")))
    return str(node)


def _short(node: Any) -> str:
    return _kind(node).rpartition(".")[2]
