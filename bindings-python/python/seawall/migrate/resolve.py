"""Resolves the names of a module to the old APIs they stand for, through
its imports and aliases, with libcst's scope and qualified-name metadata:
``Analysis`` lists every import of an old module, every reference to an old
name (with where it sits: called, decorating, subclassed, or used as a
value) and the private fields read on old breakers. Comments and strings are
not names, so they never count."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Union

import libcst as cst
from libcst.metadata import (
    Assignment,
    BuiltinAssignment,
    ClassScope,
    GlobalScope,
    ImportAssignment,
    MetadataWrapper,
    PositionProvider,
    QualifiedNameSource,
    Scope,
    ScopeProvider,
)

from .apis import OLD_MODULES, OldApi, old_api, old_module, related

NameNode = Union[cst.Name, cst.Attribute]
ImportNode = Union[cst.Import, cst.ImportFrom]


def dotted(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` for a chain of names, else ``None``."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def root_name(node: cst.BaseExpression) -> Optional[cst.Name]:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node if isinstance(node, cst.Name) else None


@dataclass
class Ref:
    """A name that resolves to an old API. ``context`` is ``"call"``,
    ``"decorator"`` (a call or a bare name after ``@``), ``"subclass"``
    or ``"reference"``; ``call`` is the call it is the function of."""

    node: NameNode
    qualified_name: str
    api: OldApi
    context: str
    call: Optional[cst.Call]
    binding: Optional[str]
    line: int
    column: int
    # The first name is also bound to something else (`except ImportError:
    # CircuitBreaker = None`): which one a call sees is known only at run time.
    ambiguous: bool = False


@dataclass
class ImportRecord:
    """An import statement that names an old module; ``bindings`` the names
    it binds, with how many times each is read in the file."""

    node: ImportNode
    module: str
    line: int
    column: int
    bindings: Dict[str, int] = field(default_factory=dict)
    star: bool = False


@dataclass
class Private:
    """``target._field`` where ``target`` holds an old breaker."""

    target: str
    field: str
    line: int
    column: int


class Analysis(cst.CSTVisitor):
    """Walks a module once (wrapped in a ``MetadataWrapper``) and records
    what it finds; ``code`` renders a node as it appears in the file."""

    # Qualified names are asked of the scopes only for names bound by an
    # import of an old module: QualifiedNameProvider would compute them for
    # every name of the file, a walk of the whole tree more.
    METADATA_DEPENDENCIES = (ScopeProvider, PositionProvider)

    def __init__(self, wrapper: MetadataWrapper) -> None:
        super().__init__()
        self.module = wrapper.module
        self.refs: List[Ref] = []
        self.imports: List[ImportRecord] = []
        self.privates: List[Private] = []
        # The code of each assignment target that holds an old breaker.
        self.breaker_targets: Dict[str, cst.Call] = {}
        self.seawall_imports: Set[str] = set()
        # The nodes from the module down to the one being visited (cheaper
        # than ParentNodeProvider's own walk of the tree).
        self._path: List[cst.CSTNode] = []
        self._related: Dict[int, bool] = {}
        # The attributes read on each name (`rs.X`): what a module alias uses.
        self.attributes: Dict[str, Set[str]] = {}
        # Resolved once and kept: the queries below read it after the walk.
        self.metadata = wrapper.resolve_many(self.get_inherited_dependencies())
        wrapper.module.visit(self)

    def on_visit(self, node: cst.CSTNode) -> bool:
        # on_leave runs for every node, its children visited or not.
        self._path.append(node)
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        super().on_leave(original_node)
        self._path.pop()

    def _up(self, n: int) -> Optional[cst.CSTNode]:
        """The ``n``-th parent of the node being visited."""
        return self._path[-1 - n] if len(self._path) > n else None

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def position(self, node: cst.CSTNode) -> "tuple[int, int]":
        pos = self.get_metadata(PositionProvider, node)
        return pos.start.line, pos.start.column + 1

    def scope(self, node: cst.CSTNode) -> Optional[Scope]:
        return self.get_metadata(ScopeProvider, node, None)

    # ------------------------------------------------------------ imports

    def _import(self, node: ImportNode, module: str) -> None:
        line, column = self.position(node)
        rec = ImportRecord(node, module, line, column)
        scope = self.scope(node)
        if isinstance(node.names, cst.ImportStar):
            rec.star = True
        else:
            for alias in node.names:
                bound = alias.evaluated_alias or alias.evaluated_name
                if isinstance(node, cst.Import) and alias.asname is None:
                    bound = bound.split(".")[0]
                reads = 0
                if scope is not None:
                    for a in scope.assignments[bound]:
                        if isinstance(a, ImportAssignment) and a.node is node:
                            reads += len(a.references)
                rec.bindings[bound] = reads
        self.imports.append(rec)

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            m = old_module(alias.evaluated_name)
            if m is not None:
                self._import(node, alias.evaluated_name)
                break
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if node.relative or node.module is None:
            return False
        module = dotted(node.module) or ""
        if module == "seawall" and not isinstance(node.names, cst.ImportStar):
            self.seawall_imports.update(a.evaluated_name for a in node.names)
        if old_module(module) is not None:
            self._import(node, module)
        elif not isinstance(node.names, cst.ImportStar) and any(
            f"{module}.{a.evaluated_name}" in OLD_MODULES for a in node.names
        ):
            self._import(node, module)
        return False

    # ------------------------------------------------------------- names

    def _related_import(self, node: cst.CSTNode) -> bool:
        """Whether an import statement binds a name on the way to an old
        module (``import shared``, ``from shared.utils import retry_strategy``)."""
        key = id(node)
        hit = self._related.get(key)
        if hit is None:
            fulls: List[str] = []
            if isinstance(node, cst.Import):
                fulls = [a.evaluated_name for a in node.names]
            elif isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative:
                module = dotted(node.module) or ""
                fulls = [module] if isinstance(node.names, cst.ImportStar) else [
                    f"{module}.{a.evaluated_name}" for a in node.names]
            hit = self._related[key] = any(related(f) for f in fulls)
        return hit

    def _qualified_names(self, node: cst.BaseExpression) -> "set[str]":
        """The imported qualified names ``node`` may stand for, asked of its
        scope when its first name is bound by an import."""
        root = root_name(node)
        scope = None if root is None else self.scope(root)
        if root is None or scope is None:
            return set()
        if not any(isinstance(a, ImportAssignment) for a in scope[root.value]):
            return set()
        return {q.name for q in scope.get_qualified_names_for(node)
                if q.source == QualifiedNameSource.IMPORT}

    def _qualified(self, node: NameNode) -> Optional[str]:
        root = root_name(node)
        scope = None if root is None else self.scope(root)
        if root is None or scope is None or not any(
            isinstance(a, ImportAssignment) and self._related_import(a.node)
            for a in scope[root.value]
        ):
            return None
        for q in scope.get_qualified_names_for(node):
            if q.source == QualifiedNameSource.IMPORT and old_api(q.name) is not None:
                return q.name
        return None

    def _name(self, node: NameNode) -> None:
        qname = self._qualified(node)
        if qname is None:
            return
        api = old_api(qname)
        assert api is not None
        parent, grand = self._up(1), self._up(2)
        call: Optional[cst.Call] = None
        context = "reference"
        if isinstance(parent, cst.Call) and parent.func is node:
            call = parent
            context = "decorator" if isinstance(grand, cst.Decorator) else "call"
        elif isinstance(parent, cst.Decorator):
            context = "decorator"
        elif isinstance(parent, cst.Arg) and isinstance(grand, cst.ClassDef):
            context = "subclass"
        root = root_name(node)
        scope = None if root is None else self.scope(root)
        ambiguous = root is not None and scope is not None and any(
            not (isinstance(a, ImportAssignment) and self._related_import(a.node))
            for a in scope[root.value])
        line, column = self.position(node)
        self.refs.append(Ref(node, qname, api, context, call,
                             None if root is None else root.value, line, column, ambiguous))

    def visit_Name(self, node: cst.Name) -> None:
        self._name(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._name(node)
        attr = node.attr.value
        if isinstance(node.value, cst.Name):
            self.attributes.setdefault(node.value.value, set()).add(attr)
        if attr.startswith("_") and not attr.endswith("__"):
            line, column = self.position(node)
            self.privates.append(Private(self.code(node.value), attr, line, column))

    # ------------------------------------------------------- assignments

    def _is_breaker_call(self, value: Optional[cst.BaseExpression]) -> Optional[cst.Call]:
        if isinstance(value, cst.Call) and isinstance(value.func, (cst.Name, cst.Attribute)):
            api = old_api(self._qualified(value.func) or "")
            if api is not None and api.kind == "breaker":
                return value
        return None

    def visit_Assign(self, node: cst.Assign) -> None:
        call = self._is_breaker_call(node.value)
        if call is not None:
            for t in node.targets:
                self.breaker_targets[self.code(t.target)] = call

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        call = self._is_breaker_call(node.value)
        if call is not None:
            self.breaker_targets[self.code(node.target)] = call

    # ----------------------------------------------------------- queries

    def private_uses(self, call: cst.Call) -> List[Private]:
        """The private fields read on the targets ``call`` is assigned to."""
        targets = {t for t, c in self.breaker_targets.items() if c is call}
        return [p for p in self.privates if p.target in targets]

    def is_class(self, node: cst.BaseExpression) -> bool:
        """Whether ``node`` certainly names a class: a builtin exception, a
        class defined here, or a name imported from another module (or an
        attribute of one). A variable might hold a tuple: not a class."""
        root = root_name(node)
        if root is None:
            return False
        scope = self.scope(root)
        if scope is None:
            return False
        assignments = list(scope[root.value])
        if not assignments:
            return isinstance(node, cst.Name) and isinstance(
                getattr(builtins, root.value, None), type
            )
        for a in assignments:
            if isinstance(a, ImportAssignment):
                continue
            if isinstance(a, BuiltinAssignment) and isinstance(node, cst.Name) and isinstance(
                getattr(builtins, root.value, None), type
            ):
                continue
            if isinstance(a, Assignment) and isinstance(a.node, cst.ClassDef) and (
                isinstance(node, cst.Name)
            ):
                continue
            return False
        return True

    def is_timedelta(self, node: cst.BaseExpression) -> bool:
        if not isinstance(node, cst.Call):
            return False
        return "datetime.timedelta" in self._qualified_names(node.func)

    def self_in_class_body(self, node: cst.BaseExpression) -> bool:
        """Whether ``node`` starts with ``self`` where no ``self`` is bound:
        in a class body, evaluated when the class is defined."""
        root = root_name(node)
        if root is None or root.value != "self":
            return False
        scope = self.scope(root)
        return isinstance(scope, (ClassScope, GlobalScope)) and not scope[root.value]

    def binds(self, name: str) -> bool:
        """Whether the module's global scope binds ``name`` other than by
        an import from ``seawall`` or ``datetime``."""
        for scope in (self.scope(s) for s in self.module.body[:1]):
            if scope is None:
                continue
            glob = scope.globals
            for a in glob.assignments[name]:
                if isinstance(a, ImportAssignment):
                    node = a.node
                    if isinstance(node, cst.ImportFrom) and node.module is not None and (
                        dotted(node.module) in ("seawall", "datetime")
                    ):
                        continue
                return True
        return False
