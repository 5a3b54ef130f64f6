"""Checks that nobody will read a code: run by ``check_translations`` (and so by ``./dev lint``).

1. Every audit action code written in ``kukkaro/`` has words in ``kukkaro.core.audit_words``. The code is read
   with ``ast``, not by running it: a literal ``action="claim.submit"`` passed to ``audit_record``,
   ``AuditEntry`` or ``client_log_reads``, either branch of ``"a" if x else "b"``, a module-level constant or
   the values of a module-level dict (``CLOSE_ACTIONS[state]``), or the default of the enclosing function's
   parameter. Anything else (an f-string, a computed name) is reported too: nobody could check it.
2. Every member of every ``TextChoices``/``IntegerChoices`` in ``kukkaro/`` has a translatable label (not the
   one Django makes up from the member's name), and in Finnish and Swedish that label is translated and is
   not the raw value.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from django.db import models
from django.utils import translation
from django.utils.functional import Promise

#: Callables whose ``action=`` keyword is an audit action code.
AUDIT_CALLS = frozenset({"audit_record", "AuditEntry", "client_log_reads"})
CHOICES_BASES = frozenset({"TextChoices", "IntegerChoices", "Choices"})
#: Languages a label must be translated into (English is the source language of the catalogues).
TRANSLATED_LANGUAGES = ("fi", "sv")
#: A label that is rightly spelt like its value in a language (the Swedish word for a ramp is "ramp").
SAME_WORD = frozenset({("sv", "ramp")})


@dataclass(frozen=True)
class CodeUse:
    code: str
    where: str  # "kukkaro/services/claims.py:91"


def _python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        # makemessages leaves "<template>.html.py" beside a template while it runs; those are not code.
        if "migrations" not in path.parts and "templates" not in path.parts:
            yield path


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


class _ModuleConstants:
    """Module-level ``NAME = "literal"`` and ``NAME = {key: "literal", ...}``."""

    def __init__(self, tree: ast.Module) -> None:
        self.values: dict[str, list[str]] = {}
        for node in tree.body:
            target, value = None, None
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                target, value = node.targets[0].id, node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                target, value = node.target.id, node.value
            if target is None:
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                self.values[target] = [value.value]
            elif isinstance(value, ast.Dict) and all(
                isinstance(v, ast.Constant) and isinstance(v.value, str) for v in value.values
            ):
                self.values[target] = [str(v.value) for v in value.values if isinstance(v, ast.Constant)]


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _parameter_default(node: ast.Name, parents: dict[ast.AST, ast.AST]) -> tuple[bool, list[str]]:
    """Is ``node`` a parameter of the enclosing function, and which literal default does it have?"""
    scope = parents.get(node)
    while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        scope = parents.get(scope)
    if scope is None:
        return False, []
    arguments = scope.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: dict[str, ast.expr | None] = dict.fromkeys(a.arg for a in positional)
    for arg, given in zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True):
        defaults[arg.arg] = given
    for arg, maybe in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        defaults[arg.arg] = maybe
    if node.id not in defaults:
        return False, []
    default = defaults[node.id]
    if isinstance(default, ast.Constant) and isinstance(default.value, str):
        return True, [default.value]
    return True, []


def _codes(value: ast.expr, constants: _ModuleConstants, parents: dict[ast.AST, ast.AST]) -> list[str] | None:
    """The codes an ``action=`` expression can take, or None when they cannot be read from the source."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if isinstance(value, ast.IfExp):
        body, orelse = _codes(value.body, constants, parents), _codes(value.orelse, constants, parents)
        return None if body is None or orelse is None else body + orelse
    if isinstance(value, ast.Name):
        if value.id in constants.values:
            return constants.values[value.id]
        is_parameter, default = _parameter_default(value, parents)
        # A parameter passed on: its callers are scanned themselves; only its default is a code of this call.
        return default if is_parameter else None
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name):
        return constants.values.get(value.value.id)
    return None


def audit_action_uses(root: Path) -> tuple[list[CodeUse], list[str]]:
    """Every audit action code written under ``root``, and the places where a code cannot be read."""
    uses: list[CodeUse] = []
    unreadable: list[str] = []
    base = root.parent
    for path in _python_files(root):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        constants = _ModuleConstants(tree)
        parents = _parents(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _call_name(node) not in AUDIT_CALLS:
                continue
            for keyword in node.keywords:
                if keyword.arg != "action":
                    continue
                where = f"{path.relative_to(base)}:{keyword.value.lineno}"
                codes = _codes(keyword.value, constants, parents)
                if codes is None:
                    unreadable.append(
                        f"{where}: the audit action code cannot be read from the source; write it as a literal "
                        f"or a module-level dict of literals"
                    )
                    continue
                uses.extend(CodeUse(code, where) for code in codes)
    return uses, unreadable


def audit_action_problems(root: Path, described: set[str]) -> list[str]:
    uses, problems = audit_action_uses(root)
    missing: dict[str, list[str]] = {}
    for use in uses:
        if use.code not in described:
            missing.setdefault(use.code, []).append(use.where)
    for code, places in sorted(missing.items()):
        app = places[0].split("/")[1] if places[0].count("/") >= 2 else "core"
        home = "kukkaro/core/audit_words.py" if app == "core" else f"kukkaro/{app}/audit_actions.py"
        problems.append(
            f"audit action {code!r} has no description: add it to ACTIONS in {home} (used at {', '.join(places)})"
        )
    return problems


def choices_classes(root: Path) -> Iterator[tuple[str, str]]:
    """(module, qualified class name) of every Choices class defined under ``root``, nested ones included."""
    base = root.parent
    for path in _python_files(root):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = ".".join(path.relative_to(base).with_suffix("").parts)

        def visit(body: list[ast.stmt], prefix: str, module: str = module) -> Iterator[tuple[str, str]]:
            for node in body:
                if not isinstance(node, ast.ClassDef):
                    continue
                name = f"{prefix}{node.name}"
                bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
                if bases & CHOICES_BASES:
                    yield module, name
                yield from visit(node.body, f"{name}.", module)

        yield from visit(tree.body, "")


def _resolve(module: str, qualname: str) -> type[models.Choices]:
    obj = import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[return-value]


def choices_problems(root: Path) -> list[str]:
    problems = []
    for module, qualname in choices_classes(root):
        choices = _resolve(module, qualname)
        for member in choices:
            where = f"{module}.{qualname}.{member.name}"
            label = member.label
            if not isinstance(label, Promise):
                problems.append(f"{where}: the label {label!r} is not translatable; give it a gettext_lazy label")
                continue
            with translation.override("en"):
                source = str(label)
            for language in TRANSLATED_LANGUAGES:
                with translation.override(language):
                    text = str(label)
                if (language, text) in SAME_WORD:
                    continue
                if text == str(member.value):
                    problems.append(f"{where}: the {language} label is the raw value {member.value!r}")
                elif text == source and any(ch.isalpha() for ch in source):
                    problems.append(f"{where}: the label {source!r} has no {language} translation")
    return problems
