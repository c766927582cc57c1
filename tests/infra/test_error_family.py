"""Every error sessionflow raises derives from SessionflowError (README's claim), checked two ways.

1. The source: no ``raise`` of a built-in exception anywhere in the package (the symlinked
   schemas, producers, processors and sinks included), except inside pydantic validators,
   where ``ValueError`` is the documented way to fail and pydantic turns it into its own
   ``ValidationError``.
2. The classes: every exception class the package defines derives from SessionflowError.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import os
import pkgutil
import textwrap
from pathlib import Path

import sessionflow
from sessionflow.core.errors import SessionflowError

_BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
}
_VALIDATOR_DECORATORS = {"field_validator", "model_validator", "validator", "root_validator"}
_VALIDATOR_WRAPPERS = {"AfterValidator", "BeforeValidator", "PlainValidator", "WrapValidator"}


def _name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _validator_functions(tree: ast.Module) -> set[str]:
    """Names of functions handed to pydantic as validators (decorated, or wrapped in Annotated)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_name(d) in _VALIDATOR_DECORATORS for d in node.decorator_list):
                names.add(node.name)
        elif isinstance(node, ast.Call) and _name(node) in _VALIDATOR_WRAPPERS:
            names.update(arg.id for arg in node.args if isinstance(arg, ast.Name))
    return names


def bare_raises(source: str) -> list[tuple[int, str]]:
    """(line, exception name) of every raise of a built-in exception outside validators."""
    tree = ast.parse(source)
    allowed = _validator_functions(tree)
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_validator: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_validator = in_validator or node.name in allowed
        if isinstance(node, ast.Raise) and node.exc is not None and not in_validator:
            name = _name(node.exc)
            if name in _BUILTIN_ERRORS:
                found.append((node.lineno, name))
        for child in ast.iter_child_nodes(node):
            visit(child, in_validator)

    visit(tree, False)
    return found


def package_files() -> list[Path]:
    """Every .py file of the installed package, following the subpackage symlinks."""
    root = Path(sessionflow.__file__).parent
    files: list[Path] = []
    for folder, _, names in os.walk(root, followlinks=True):
        files += [Path(folder) / n for n in names if n.endswith(".py")]
    return sorted(files)


def test_the_scanner_finds_bare_raises_and_spares_validators() -> None:
    source = textwrap.dedent(
        """
        from pydantic import AfterValidator, field_validator
        def plain(x):
            if x:
                raise ValueError("bare")
            raise OSError
        def checked(x):
            raise ValueError("validator")
        Checked = Annotated[str, AfterValidator(checked)]
        class M:
            @field_validator("x")
            def _x(cls, v):
                raise TypeError("validator")
        def fine():
            raise SomeSessionflowError("ok")
        """
    )

    assert bare_raises(source) == [(5, "ValueError"), (6, "OSError")]


def test_no_bare_builtin_exception_is_raised_in_the_package() -> None:
    files = package_files()
    offenders = [
        f"{path.relative_to(Path(sessionflow.__file__).parent)}:{line}: {name}"
        for path in files
        for line, name in bare_raises(path.read_text())
    ]

    assert len(files) > 50  # the symlinked subpackages were followed
    assert offenders == []


def test_every_exception_class_of_the_package_is_a_sessionflow_error() -> None:
    modules = [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(sessionflow.__path__, "sessionflow.")
        if not info.name.startswith("sessionflow.cli.__main__")
    ]
    classes = {
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__.startswith("sessionflow.")
    }

    assert len(classes) > 20
    assert sorted(c.__qualname__ for c in classes if not issubclass(c, SessionflowError)) == []
