"""The Bot API methods a package calls through aiogram, read from its source (issue 25).

A hand-kept list of "the methods the gateway uses" cannot notice the next one; this reads the code
instead. Every reference ``receiver.name`` whose receiver is known to be an aiogram object (a
parameter, attribute or field annotated ``Bot``, ``Message``, ``CallbackQuery``, ``Dispatcher``…) is
followed into aiogram's own source, down to the ``TelegramMethod`` classes it builds:
``message.answer`` is ``sendMessage``, ``query.answer`` is ``answerCallbackQuery``, ``bot.download``
is ``getFile``, ``dp.start_polling`` is ``getMe`` and ``getUpdates``. A method class built directly
(``bot(SendMessage(...))``) counts too.

A name that some aiogram object turns into a Bot API call but whose receiver cannot be typed (an
unannotated local, say) is reported as unresolved rather than guessed: the check that uses this
fails on it, and an annotation fixes it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiogram
import aiogram.methods
import aiogram.types
from aiogram.methods import TelegramMethod
from pydantic import BaseModel

Namespace = dict[str, Any]
Env = dict[str, frozenset[type]]


@dataclass
class BotCalls:
    """What a package calls: each Bot API method with where, and the calls that could not be typed."""

    methods: dict[str, set[str]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)

    def add(self, method: str, where: str) -> None:
        self.methods.setdefault(method, set()).add(where)


def bot_calls(source_root: Path, package_root: Path) -> BotCalls:
    """The Bot API methods the modules under ``package_root`` call; ``source_root`` is the directory
    their import names are relative to (a ``src`` directory)."""
    calls = BotCalls()
    for path in sorted(package_root.rglob("*.py")):
        relative = path.relative_to(source_root).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        # A __main__ module runs its program when imported: only its imports are read.
        namespace = _imported_names(tree.body) if relative.name == "__main__" else _module_names(parts)
        _Reader(namespace, calls, str(path.relative_to(source_root))).read(tree)
    return calls


def _module_names(parts: tuple[str, ...]) -> Namespace:
    return _names_of(importlib.import_module(".".join(parts)))


def _names_of(module: types.ModuleType | None) -> Namespace:
    """A module's names, with those it imports only for annotations (under TYPE_CHECKING)."""
    if module is None:
        return {}
    return {**_type_checking_names(module.__name__), **vars(module)}


@functools.cache
def _type_checking_names(module_name: str) -> Namespace:
    module = importlib.import_module(module_name)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return {}
    names: Namespace = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            package = module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]
            names.update(_imported_names(node.body, package))
    return names


def _imported_names(statements: Iterable[ast.stmt], package: str | None = None) -> Namespace:
    """The names imports among ``statements`` bind (relative ones only with ``package``); a name
    that does not exist at run time (some are only for type checkers) is left out."""
    names: Namespace = {}
    for node in statements:
        if isinstance(node, ast.ImportFrom) and (node.level == 0 or package):
            module = _module("." * node.level + (node.module or ""), package if node.level else None)
            for alias in node.names:
                value = getattr(module, alias.name, None) if module is not None else None
                if value is None and module is not None:  # a submodule not imported yet
                    value = _module(f"{module.__name__}.{alias.name}")
                if value is not None:
                    names[alias.asname or alias.name] = value
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name if alias.asname else alias.name.split(".")[0]
                imported = _module(top)
                if imported is not None:
                    names[alias.asname or top] = imported
    return names


def _module(name: str, package: str | None = None) -> types.ModuleType | None:
    try:
        return importlib.import_module(name, package)
    except ImportError:
        return None


def module_bot_calls(source: str, namespace: Namespace, name: str = "<source>") -> BotCalls:
    """The Bot API methods ``source`` calls, its names resolved in ``namespace`` (for tests of this)."""
    calls = BotCalls()
    _Reader(namespace, calls, name).read(ast.parse(source))
    return calls


class _Reader:
    """Walks one module's functions with what each local name's annotation says it is."""

    def __init__(self, namespace: Namespace, calls: BotCalls | None, where: str) -> None:
        self.namespace = namespace
        self.calls = calls
        self.where = where
        self.found: set[str] = set()

    def read(self, tree: ast.Module) -> None:
        self._body(tree.body, {}, None)

    def _body(self, body: Iterable[ast.stmt], env: Env, owner: frozenset[type] | None) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                cls = self.namespace.get(node.name)
                mine = frozenset({cls}) if isinstance(cls, type) else frozenset()
                self._body(node.body, env, mine)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(node, env, owner)
            else:
                self._expressions(node, env)

    def function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Env, owner: frozenset[type] | None
    ) -> None:
        env = dict(outer)
        arguments = node.args
        positional = [*arguments.posonlyargs, *arguments.args]
        for argument in [*positional, *arguments.kwonlyargs]:
            env[argument.arg] = self.annotation(argument.annotation)
        if owner is not None and positional and not _is_static(node):
            env[positional[0].arg] = owner
        reader = self
        local = _imported_names(_own_statements(node), self.namespace.get("__package__"))
        if local:  # aiogram's shortcuts import their method class inside the function
            reader = _Reader({**self.namespace, **local}, self.calls, self.where)
            reader.found = self.found
        for statement in _own_statements(node):
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                env[statement.target.id] = reader.annotation(statement.annotation)
            elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                value = statement.value
                if isinstance(value, ast.Name | ast.Attribute):
                    made = reader.types_of(value, env) or frozenset()
                else:
                    made = reader.made_by(value, env)
                if isinstance(target, ast.Name) and made and target.id not in env:
                    env[target.id] = made
        reader._body(node.body, env, None)

    def made_by(self, node: ast.expr, env: Env) -> frozenset[type]:
        """What ``Class(...)``, ``function(...)`` or ``typed.method(...)`` (awaited or not)
        returns, by its annotation."""
        if isinstance(node, ast.Await):
            node = node.value
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name | ast.Attribute):
            return frozenset()
        targets = [_lookup(node.func, self.namespace)]
        if isinstance(node.func, ast.Attribute) and targets[0] is None:
            owners = self.types_of(node.func.value, env) or frozenset()
            targets = [inspect.getattr_static(cls, node.func.attr, None) for cls in owners]
        found: set[type] = set()
        for target in targets:
            if isinstance(target, type):
                found.add(target)
            elif inspect.isfunction(target):
                found |= _classes(_hints(target).get("return"))
        return frozenset(found)

    def _expressions(self, node: ast.AST, env: Env) -> None:
        for child in _own_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(child, env, None)
            elif isinstance(child, ast.Lambda):
                self._expressions(child.body, env)
            elif isinstance(child, ast.ClassDef):
                self._body([child], env, None)
            elif isinstance(child, ast.Call) and isinstance(child.func, ast.Name):
                self._named(child.func.id, child)
            elif isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Load):
                self._attribute(child, env)

    def _named(self, name: str, node: ast.AST) -> None:
        target = self.namespace.get(name)
        if isinstance(target, type) and issubclass(target, TelegramMethod):
            self._found(target.__api_method__, node)

    def _attribute(self, node: ast.Attribute, env: Env) -> None:
        receivers = self.types_of(node.value, env)
        if receivers is None:
            if self.calls is not None and _names_an_api_call(node.attr):
                self.calls.unresolved.append(f"{self.where}:{node.lineno}: {ast.unparse(node)}")
            return
        for cls in receivers:
            for method in _methods_behind(cls, node.attr):
                self._found(method, node)

    def _found(self, method: str, node: ast.AST) -> None:
        self.found.add(method)
        if self.calls is not None:
            self.calls.add(method, f"{self.where}:{getattr(node, 'lineno', 0)}")

    def types_of(self, node: ast.expr, env: Env) -> frozenset[type] | None:
        """What ``node`` may be, per annotations; None when nothing says."""
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id] or None
            if node.id not in self.namespace:
                return None
            value = self.namespace[node.id]
            # A module, class or function named directly: what it holds is not called on an object.
            if inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value):
                return frozenset()
            return frozenset({type(value)})  # a module-level object
        if isinstance(node, ast.Attribute):
            owners = self.types_of(node.value, env)
            if owners is None:
                return None
            found: set[type] = set()
            for cls in owners:
                found |= _attribute_types(cls, node.attr)
            return frozenset(found) or None
        if isinstance(node, ast.Call | ast.Constant | ast.JoinedStr | ast.Subscript):
            return frozenset()  # results of calls are read where they are named
        return None

    def annotation(self, node: ast.expr | None) -> frozenset[type]:
        if node is None:
            return frozenset()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.annotation(ast.parse(node.value, mode="eval").body)
        found: set[type] = set()
        for child in ast.walk(node):
            if isinstance(child, ast.Name | ast.Attribute):
                value = _lookup(child, self.namespace)
                if isinstance(value, type):
                    found.add(value)
        return frozenset(found)


def _own_statements(node: ast.AST) -> Iterator[ast.stmt]:
    for child in _own_nodes(node):
        if isinstance(child, ast.stmt):
            yield child


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """What ``node`` contains (itself too, unless it is a scope) in source order, without
    descending into nested functions or classes."""
    if not _is_scope(node):
        yield node
    for child in ast.iter_child_nodes(node):
        if _is_scope(child):
            yield child
        else:
            yield from _own_nodes(child)


def _is_scope(node: ast.AST) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef)


def _is_static(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)


def _lookup(node: ast.Name | ast.Attribute, namespace: Namespace) -> Any:
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    base = node.value
    if not isinstance(base, ast.Name | ast.Attribute):
        return None
    owner = _lookup(base, namespace)
    return getattr(owner, node.attr, None) if owner is not None else None


def _from_aiogram(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "")).startswith("aiogram")


def _attribute_types(cls: type, name: str) -> set[type]:
    """What ``cls().name`` may be: an aiogram model's field, a property's return, or an attribute
    annotated on the class or assigned from an annotated parameter in its methods."""
    if issubclass(cls, BaseModel) and name in cls.model_fields:
        return _classes(cls.model_fields[name].annotation)
    member = inspect.getattr_static(cls, name, None)
    if isinstance(member, property) and member.fget is not None:
        return _classes(_hints(member.fget).get("return"))
    return set(_instance_attributes(cls).get(name, frozenset()))


@functools.cache
def _instance_attributes(cls: type) -> Env:
    """``self.x`` of ``cls`` by annotation: ``x: T`` in the class, ``self.x: T = …``, or
    ``self.x = p`` where the method's parameter ``p`` is annotated."""
    attributes: Env = {name: frozenset(_classes(hint)) for name, hint in _hints(cls).items()}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__ == "builtins":
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        reader = _Reader(_names_of(inspect.getmodule(klass)), None, "")
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
            parameters = {a.arg: reader.annotation(a.annotation) for a in arguments}
            for node in ast.walk(function):
                if isinstance(node, ast.AnnAssign) and _is_self_attribute(node.target):
                    assert isinstance(node.target, ast.Attribute)
                    attributes[node.target.attr] = reader.annotation(node.annotation)
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                    known = parameters.get(node.value.id)
                    for target in node.targets:
                        if known and _is_self_attribute(target):
                            assert isinstance(target, ast.Attribute)
                            attributes.setdefault(target.attr, known)
    return attributes


def _is_self_attribute(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # an annotation naming what only TYPE_CHECKING imports: nothing is known
        return {}


def _classes(annotation: Any) -> set[type]:
    if annotation is None:
        return set()
    found: set[type] = set()
    origin = typing.get_origin(annotation)
    if origin is None and isinstance(annotation, type) and annotation is not types.NoneType:
        found.add(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for argument in typing.get_args(annotation):
            found |= _classes(argument)
    return found


def _methods_behind(cls: type, name: str) -> frozenset[str]:
    """The Bot API methods ``cls().name`` reaches, if ``cls`` is aiogram's."""
    if not _from_aiogram(cls):
        return frozenset()
    member = inspect.getattr_static(cls, name, None)
    if isinstance(member, staticmethod | classmethod):
        member = member.__func__
    if not callable(member) or not _from_aiogram(member):
        return frozenset()
    return _function_calls(member, cls)


_CALLS: dict[tuple[Callable[..., Any], type], frozenset[str]] = {}


def _function_calls(function: Callable[..., Any], owner: type) -> frozenset[str]:
    """The Bot API methods an aiogram function reaches, read from its source."""
    key = (function, owner)
    if key in _CALLS:
        return _CALLS[key]
    _CALLS[key] = frozenset()  # a function reached again while it is being read adds nothing new
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return frozenset()
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return frozenset()
    reader = _Reader(_names_of(inspect.getmodule(function)), None, "")
    reader.function(node, {}, frozenset({owner}))
    _CALLS[key] = frozenset(reader.found)
    return _CALLS[key]


def _names_an_api_call(name: str) -> bool:
    """Whether ``name`` is, on some aiogram object, a way to call the Bot API."""
    return name in _api_call_names()


@functools.cache
def _api_call_names() -> frozenset[str]:
    classes = [aiogram.Bot, aiogram.Dispatcher]
    classes += [v for v in vars(aiogram.types).values() if isinstance(v, type) and _from_aiogram(v)]
    return frozenset(
        name
        for cls in classes
        for name, member in vars(cls).items()
        if inspect.isfunction(member) and _methods_behind(cls, name)
    )
