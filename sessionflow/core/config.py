"""Build settings at an entry point, turning every validation failure into one line.

``load_settings(KafkaSettings)`` reads the environment like ``KafkaSettings()`` does, but a
bad value raises :class:`ConfigurationError` whose message names the environment variable
and the problem, e.g. ``SESSIONFLOW_KAFKA_PORT: must be an integer from 1 to 65535 (got
99999)``. Model-level validators (combinations of settings) keep their own message. Several
problems are joined with ``; `` so the message stays one line. Secret values are never echoed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings
from pydantic_settings.exceptions import SettingsError

from sessionflow.core.errors import ConfigurationError

S = TypeVar("S", bound=BaseSettings)

_TYPE_WORDS = {
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "int_type": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
}
_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_BOUND_SYMBOLS = ((annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"),
                  (annotated_types.Le, "le", "<="), (annotated_types.Lt, "lt", "<"))  # fmt: skip
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def load_settings(cls: type[S], /, **overrides: Any) -> S:
    """``cls(**overrides)`` read from the environment; :class:`ConfigurationError` if invalid.

    The error message is one line naming each failing variable (or override) and its problem.
    """
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = [_describe(cls, error, overrides) for error in exc.errors()]
        raise ConfigurationError("; ".join(problems)) from None
    except SettingsError as exc:  # a value pydantic-settings could not even parse
        raise ConfigurationError(_one_line(str(exc))) from None


def writable_dir(path: Path, variable: str, *, create: bool) -> Path:
    """``path`` as a directory this process can write to, created first if ``create``.

    Without ``create`` a missing directory is fine as long as it could be created later (its
    nearest existing parent is a writable directory). Raises :class:`ConfigurationError`
    naming ``variable`` (the setting the path comes from).
    """
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"{variable}: {path} is not a directory")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"{variable}: cannot create {path}: {exc.strerror or exc}"
            ) from None
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{variable}: {existing} is not a writable directory")
    return path


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable that sets ``field`` of ``cls`` (its alias, else prefix + name)."""
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return alias.upper()
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0].upper()
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _describe(cls: type[BaseSettings], error: ErrorDetails, overrides: Mapping[str, Any]) -> str:
    loc = error["loc"]
    if not loc:  # a model-level validator: its message names the settings itself
        return _one_line(_plain_message(error))
    field = str(loc[0])
    info = cls.model_fields.get(field)
    label = field if field in overrides else env_name(cls, field)
    if len(loc) > 1:
        label += "." + ".".join(str(part) for part in loc[1:])
    problem = _problem(error, info)
    if info is not None and _is_secret(info.annotation):
        return f"{label}: {problem}"
    return f"{label}: {problem} (got {_shown(error['input'])})"


def _problem(error: ErrorDetails, info: FieldInfo | None) -> str:
    kind = error["type"]
    bounds = _bounds(info)
    if kind in _TYPE_WORDS or kind in _BOUND_ERRORS:
        word = _TYPE_WORDS.get(kind) or _number_word(info)
        return f"must be {word}{bounds}".rstrip()
    if kind == "literal_error":
        choices = _literal_choices(info) or [str(error.get("ctx", {}).get("expected", ""))]
        return "must be one of " + ", ".join(choices)
    if kind == "bool_parsing":
        return "must be true or false"
    if kind == "missing":
        return "is required"
    if kind in ("string_too_short", "too_short"):
        least = error.get("ctx", {}).get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} characters"
    if kind in ("string_too_long", "too_long"):
        return f"must have at most {error.get('ctx', {}).get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"must match {error.get('ctx', {}).get('pattern')}"
    return _one_line(_plain_message(error))


def _plain_message(error: ErrorDetails) -> str:
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _number_word(info: FieldInfo | None) -> str:
    annotation = info.annotation if info is not None else None
    return "an integer" if int in (annotation, *get_args(annotation)) else "a number"


def _bounds(info: FieldInfo | None) -> str:
    if info is None:
        return ""
    found: dict[str, Any] = {}
    for meta in info.metadata:
        for kind, attr, symbol in _BOUND_SYMBOLS:
            if isinstance(meta, kind):
                found[symbol] = getattr(meta, attr)
    if ">=" in found and "<=" in found:
        return f" from {found['>=']} to {found['<=']}"
    return (
        " " + " and ".join(f"{symbol} {value}" for symbol, value in found.items()) if found else ""
    )


def _literal_choices(info: FieldInfo | None) -> list[str]:
    pending, choices = [info.annotation if info is not None else None], []
    while pending:
        annotation = pending.pop()
        if get_origin(annotation) is Literal:
            choices += [str(choice) for choice in get_args(annotation)]
        else:
            pending += [arg for arg in get_args(annotation) if arg is not type(None)]
    return choices


def _is_secret(annotation: Any) -> bool:
    return annotation in (SecretStr, SecretBytes) or any(
        _is_secret(arg) for arg in get_args(annotation)
    )


def _shown(value: Any) -> str:
    if isinstance(value, str) and _NUMBER.match(value):
        return value
    return _one_line(repr(value))[:80]


def _one_line(text: str) -> str:
    return " ".join(text.split())
