"""What the generated Avro encoder and decoder share: a namespace of fresh names, indentation.

Generated source holds only fixed templates and names made by :meth:`CodeGenerator.fresh`;
values reach it through the namespace (:meth:`CodeGenerator.constant`), never as text.
"""

from __future__ import annotations

from typing import Any


class CodeGenerator:
    """The namespace generated functions run in, and the source and gaps recorded so far."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.sources: list[str] = []
        self.unsupported: list[str] = []
        self._count = 0

    def fresh(self, prefix: str) -> str:
        """A new identifier, unique in the generated module."""
        self._count += 1
        return f"{prefix}{self._count}"

    def constant(self, value: Any) -> str:
        """Name under which ``value`` is reachable from the generated code."""
        name = self.fresh("c")
        self.namespace[name] = value
        return name


def indent(lines: list[str], levels: int = 1) -> list[str]:
    """``lines`` indented by ``levels`` levels of four spaces."""
    return [" " * (4 * levels) + line for line in lines]
