"""A compiled pure-Python Avro binary decoder, equal to fastavro's ``schemaless_reader``.

:class:`RecordReader` resolves a fastavro-parsed writer schema onto a reader schema once
(fields the writer lacks get the reader's defaults, fields the reader lacks are skipped, enum
symbols and union branches are mapped by index) and generates straight-line Python functions
from the result, as :mod:`~sessionflow.schemas.fastwrite` does for encoding: every field's
decoding is inlined, reading a ``bytes`` object by index (one-byte varints and lengths
inline), nested records built as dict displays. Generated source holds only fixed templates
and fresh local names; schema names and constants reach it as ``repr`` literals or through
the function's namespace (see :attr:`RecordReader.source`).

Contract: when a generated reader returns ``(datum, end)``, fastavro's ``schemaless_reader``
with the same schemas and ``return_record_name=True, return_record_name_override=True`` (the
codec's options) returns an equal datum (keys in the same order, the same types) and stops at
``end``. Otherwise it raises one of :data:`READ_ERRORS`: for every input fastavro rejects and
for every input it is unsure of (truncation, invalid UTF-8, a negative length or block count,
an unknown union or enum index, a varint over 64 bits ...), and the caller lets fastavro
decide, so odd inputs keep fastavro's exact result or error. fastavro's C reader reads some
garbage as valid (negative union and enum indices as Python negative indices, varints over
10 bytes wrapped); those inputs are declined too, only successes have to match.

Supported: records, enums (indices < 64), arrays, maps, string, bytes, long, int, boolean,
null and unions of those, with the resolution rules above. Schemas must come without logical
types (the registry's ``parsed_raw``: ``timestamp-millis`` stays an int). Any other node, and
any resolution this module is unsure of (aliases, promotions, mismatched names), compiles to
code that always declines (see :attr:`RecordReader.complete`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any, Final, cast

from fastavro.const import AVRO_TYPES
from fastavro.schema import is_single_record_union

from sessionflow.schemas.codegen import CodeGenerator, indent
from sessionflow.schemas.errors import SchemaArgumentError, SchemaTypeError

Reader = Callable[[bytes, int], tuple[Any, int]]

READ_ERRORS: Final = (IndexError, KeyError, ValueError, TypeError, RecursionError)
"""What the readers raise for bytes they will not decode (the caller falls back)."""

_SKIP: Final = object()  # reader schema of a writer field the reader does not have
_PRIMITIVES: Final = frozenset({"null", "boolean", "int", "long", "string", "bytes"})


def long_tail(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """Signed value of a multi-byte varint whose first byte ``first`` was read; next position.

    Declines (``SchemaArgumentError``) over 10 bytes or 64 bits, which fastavro's C reader
    wraps instead of rejecting.
    """
    value, shift = first & 0x7F, 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise SchemaArgumentError("varint longer than 10 bytes")
    if value >> 64:
        raise SchemaArgumentError("varint above 64 bits")
    return (value >> 1) ^ -(value & 1), pos


def span(data: bytes, pos: int) -> tuple[int, int]:
    """Start and end of the bytes of a length-prefixed string at ``pos`` (length >= 0)."""
    first = data[pos]
    if first > 0x7F:
        size, pos = long_tail(data, pos + 1, first)
    else:
        size, pos = (first >> 1) ^ -(first & 1), pos + 1
    if size < 0:
        raise SchemaArgumentError("negative length")
    return pos, pos + size


def _raise_unsupported(kind: str) -> None:
    raise SchemaTypeError(f"no fast decoder for {kind}")


def _kind(node: Any) -> str:
    return node if isinstance(node, str) else str(node.get("type", ""))


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class _Generator(CodeGenerator):
    """Generates the reader functions of one (writer, reader) pair of parsed schemas."""

    def __init__(
        self, writer_named: Mapping[str, Any], reader_named: Mapping[str, Any], identity: bool
    ) -> None:
        self.writer_named = writer_named
        self.reader_named = reader_named
        self.identity = identity  # no reader schema: no resolution at all, as in fastavro
        super().__init__(
            {
                "long_tail": long_tail,
                "span": span,
                "deepcopy": deepcopy,
                "Declined": SchemaArgumentError,
                "unsupported": _raise_unsupported,
            }
        )
        self._stack: list[tuple[str, str | None]] = []
        self._functions: dict[tuple[str, str | None], str] = {}

    def define(self, name: str, lines: list[str]) -> Reader:
        """Compile ``def name(data, pos)`` with ``lines`` as body; return the function."""
        source = "\n".join([f"def {name}(data, pos):", *indent(["size = len(data)", *lines])])
        exec(compile(source + "\n", f"<fastread {name}>", "exec"), self.namespace)
        self.sources.append(source + "\n")
        return cast(Reader, self.namespace[name])

    def writer(self, node: Any) -> Any:
        """``node`` with a named-type reference replaced by its writer definition."""
        return self.writer_named.get(node, node) if isinstance(node, str) else node

    def reader(self, node: Any) -> Any:
        """``node`` with a named-type reference replaced by its reader definition."""
        return self.reader_named.get(node, node) if isinstance(node, str) else node

    def value(self, writer: Any, reader: Any, x: str) -> list[str]:
        """Lines reading ``writer`` data as ``reader`` into local ``x`` (``_SKIP``: discard)."""
        if isinstance(writer, list):
            return self.union(writer, reader, x)
        if reader is not _SKIP and isinstance(reader, list):  # fastavro: first matching branch
            reader = self.pick(writer, reader)
            if reader is None:
                return self._raise(f"{_kind(writer)} into a union")
        w = self.writer(writer)
        r = w if reader is _SKIP else self.reader(reader)
        kind = _kind(w)
        if _kind(r) != kind or "logicalType" in (w if isinstance(w, dict) else {}):
            return self._raise(f"{kind} as {_kind(r)}")
        if kind in _PRIMITIVES:
            return self.primitive(kind, x, reader is _SKIP)
        if kind in ("record", "enum") and _short(w["name"]) != _short(r["name"]):
            return self._raise(f"{w['name']} as {r['name']}")
        if kind == "record":
            return self.record(w, None if reader is _SKIP else r, x)
        if kind == "enum":
            return self.enum(w, r, x)
        if kind in ("array", "map"):
            inner = "items" if kind == "array" else "values"
            return self.block(kind, w[inner], _SKIP if reader is _SKIP else r[inner], x)
        return self._raise(kind)

    def primitive(self, kind: str, x: str, skip: bool) -> list[str]:
        """Lines reading primitive ``kind`` into ``x``."""
        if kind in ("string", "bytes"):
            read = (
                [] if skip else [f"{x} = data[pos:n]" + (".decode()" if kind == "string" else "")]
            )
            return [*_SPAN, "if n > size:", "    raise Declined('truncated')", *read, "pos = n"]
        if kind in ("long", "int"):
            return [line.format(x=x) for line in _LONG]
        if kind == "boolean":  # fastavro's C reader: any non-zero byte is True
            return [f"{x} = data[pos] != 0", "pos += 1"]
        return [f"{x} = None"]

    def record(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any] | None, x: str
    ) -> list[str]:
        """Lines reading record ``writer`` as ``reader`` (None: skip) into a dict ``x``.

        Inlined, except inside itself: a recursive record gets a function, registered before
        its body is generated, so the body simply calls it again.
        """
        key = (writer["name"], reader["name"] if reader else None)
        if key not in self._stack:
            self._stack.append(key)
            lines = self.fields(writer, reader, x)
            self._stack.pop()
            return lines
        name = self._functions.get(key)
        if name is None:
            name = self._functions[key] = self.fresh("record")
            local = self.fresh("v")
            body = self.fields(writer, reader, local)
            self.define(name, [*body, f"return {local if reader else None}, pos"])
        return [f"{x if reader else '_'}, pos = {name}(data, pos)"]

    def fields(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any] | None, x: str
    ) -> list[str]:
        """The inlined body of :meth:`record`."""
        by_name: dict[str, Mapping[str, Any]] = {}
        for field in reader["fields"] if reader else ():
            if not self.identity:
                by_name.update(dict.fromkeys(field.get("aliases", ()), field))
            by_name[field["name"]] = field
        lines: list[str] = []
        items: list[str] = []
        taken: set[str] = set()
        for field in writer["fields"]:
            target = by_name.get(field["name"])
            if reader is None or target is None:
                lines += self.value(field["type"], _SKIP, "_")
                continue
            if target["name"] in taken or target["name"] != field["name"]:
                lines += self._raise(f"field {field['name']} of {writer['name']} by alias")
            taken.add(target["name"])
            local = self.fresh("v")
            lines += self.value(field["type"], target["type"], local)
            items.append(f"{target['name']!r}: {local}")
        for field in reader["fields"] if reader else ():
            if field["name"] in taken:
                continue
            if "default" not in field:
                lines += self._raise(f"field {field['name']} without default")
                continue
            default = self.constant(field["default"])
            copied = isinstance(field["default"], (list, dict))
            items.append(f"{field['name']!r}: {f'deepcopy({default})' if copied else default}")
        return [*lines, f"{x} = {{{', '.join(items)}}}"] if reader else lines

    def enum(self, writer: Mapping[str, Any], reader: Mapping[str, Any], x: str) -> list[str]:
        """Index -> symbol through a table keyed by the one-byte zigzag index."""
        symbols = {
            index << 1: symbol
            for index, symbol in enumerate(writer["symbols"][:64])
            if symbol in reader["symbols"]  # else fastavro takes the reader default or raises
        }
        if len(symbols) < len(writer["symbols"]):
            self.unsupported.append(f"some symbols of {writer['name']}")
        return [f"{x} = {self.constant(symbols)}[data[pos]]", "pos += 1"]

    def block(self, kind: str, writer: Any, reader: Any, x: str) -> list[str]:
        """An array or map: blocks of items until a zero count (negative counts declined)."""
        count, key, item = self.fresh("n"), self.fresh("k"), self.fresh("v")
        skip = reader is _SKIP
        if kind == "array":
            body = [*self.value(writer, reader, item), *([] if skip else [f"{x}.append({item})"])]
        else:
            keys = self.primitive("string", key, skip)
            body = [
                *keys,
                *self.value(writer, reader, item),
                *([] if skip else [f"{x}[{key}] = {item}"]),
            ]
        return [
            *([] if skip else [f"{x} = {'[]' if kind == 'array' else '{}'}"]),
            f"{count} = data[pos]",
            "pos += 1",
            f"while {count}:",
            f"    if {count} > 0x7F:",
            f"        {count}, pos = long_tail(data, pos, {count})",
            f"    elif {count} & 1:",
            "        raise Declined('negative block count')",
            "    else:",
            f"        {count} >>= 1",
            f"    if {count} < 1:  # negative, or a zero in more than one byte",
            "        raise Declined('block count')",
            f"    for _ in range({count}):",
            *indent(body, 2),
            f"    {count} = data[pos]",
            "    pos += 1",
        ]

    def union(self, writer: list[Any], reader: Any, x: str) -> list[str]:
        """Branch by index; a record branch comes back as ``(name, dict)`` as fastavro's does."""
        single = is_single_record_union(writer)
        cases: list[tuple[int, list[str]]] = []
        for index, branch in enumerate(writer[:64]):
            lines = self.branch(branch, reader, x, single)
            cases.append((index << 1, lines))
        if len(writer) > 64:
            self.unsupported.append("union of more than 64 branches")
        result = "None" if reader is _SKIP else x
        if len(cases) > 2:  # a table of functions, one per branch
            table = {
                tag: self.define(self.fresh("branch"), [*lines, f"return {result}, pos"])
                for tag, lines in cases
            }
            return [f"{x}, pos = {self.constant(table)}[data[pos]](data, pos + 1)"]
        out = ["t = data[pos]", "pos += 1"]
        for tag, lines in cases:
            out += [f"{'if' if len(out) == 2 else 'elif'} t == {tag}:", *indent(lines or ["pass"])]
        return [*out, "else:", "    raise Declined('union index')"]

    def branch(self, branch: Any, reader: Any, x: str, single: bool) -> list[str]:
        """Lines reading one writer union branch, wrapped with its name where fastavro does."""
        if reader is _SKIP:
            return self.value(branch, _SKIP, x)
        target = branch if self.identity else self.pick(branch, reader)
        if target is None:
            return self._raise(f"union branch {_kind(branch)}")
        lines = self.value(branch, target, x)
        record = isinstance(branch, dict) and branch.get("type") == "record"
        named = isinstance(branch, str) and branch not in AVRO_TYPES
        if single or not (record or named):
            return lines
        if self.identity or not isinstance(reader, list):  # fastavro: the writer's name
            name = self.writer(branch)["name"]
        elif isinstance(target, dict) == record:  # else fastavro itself fails on the name
            name = target["name"] if record else self.reader(target)["name"]
        else:
            return self._raise(f"union branch {_kind(branch)} named by {_kind(target)}")
        return [*lines, f"{x} = ({name!r}, {x})"]

    def pick(self, writer: Any, reader: Any) -> Any:
        """The reader (branch) fastavro reads ``writer`` as: its first match; None if unsure."""
        options = reader if isinstance(reader, list) else [reader]
        picked = [option for option in options if self.matches(writer, option) is not False]
        return picked[0] if picked and self.matches(writer, picked[0]) else None

    def matches(self, writer: Any, reader: Any) -> bool | None:
        """Whether fastavro picks reader union branch ``reader`` for ``writer`` (None: unsure)."""
        if isinstance(writer, list) or isinstance(reader, list):
            return None
        w, r = self.writer(writer), self.reader(reader)
        wk, rk = _kind(w), _kind(r)
        if isinstance(w, dict) and isinstance(r, dict) and w.get("type") in ("record", "enum"):
            if r.get("type") not in ("record", "enum", "fixed"):
                return False
            if "aliases" in r or _short(w["name"]) != _short(r["name"]):
                return None if "aliases" in r else False
            return wk == rk or None
        if wk in _PRIMITIVES and rk in _PRIMITIVES:
            return wk == rk if (wk, rk) not in _PROMOTIONS else None
        return None if wk == rk else False

    def _raise(self, kind: str) -> list[str]:
        self.unsupported.append(kind)
        return [f"unsupported({self.constant(kind)})"]


_PROMOTIONS: Final = frozenset({("int", "long"), ("string", "bytes"), ("bytes", "string")})
_SPAN: Final = (  # n = end of the string's bytes, pos = their start
    "n = data[pos]",
    "if n & 0x81:",
    "    pos, n = span(data, pos)",
    "else:",
    "    pos += 1",
    "    n = pos + (n >> 1)",
)
_LONG: Final = (
    "{x} = data[pos]",
    "pos += 1",
    "if {x} > 0x7F:",
    "    {x}, pos = long_tail(data, pos, {x})",
    "else:",
    "    {x} = ({x} >> 1) ^ -({x} & 1)",
)


class RecordReader:
    """Generated decoder of one record schema written as ``writer``, read as ``reader``.

    ``reader`` None reads the data as the writer schema itself (fastavro without a reader
    schema). Immutable after construction; :attr:`read` is the generated function.
    """

    __slots__ = ("complete", "read", "source")

    def __init__(self, writer: Mapping[str, Any], reader: Mapping[str, Any] | None) -> None:
        generator = _Generator(
            writer.get("__named_schemas", {}),
            (reader if reader is not None else writer).get("__named_schemas", {}),
            identity=reader is None,
        )
        lines = generator.value(writer, writer if reader is None else reader, "record")
        self.read: Reader = generator.define("read", [*lines, "return record, pos"])
        """``read(data, pos)`` -> ``(datum, end)``: the datum at ``pos`` of bytes ``data``;
        raises one of :data:`READ_ERRORS`."""
        self.complete: bool = not generator.unsupported
        """False if some node has no fast decoder (data reaching it always falls back)."""
        self.source: str = "\n".join(generator.sources)
        """The generated functions, for review and debugging."""
