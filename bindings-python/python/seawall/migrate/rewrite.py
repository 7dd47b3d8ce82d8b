"""One file's scan or rewrite: parse, resolve (``resolve.Analysis``),
convert the calls (``transforms``), then edit the imports: old names no
longer read are dropped, the rest point at ``seawall.compat`` (or, with
``rollback_safe``, stay and are routed there by
``seawall.install_legacy_aliases()``), and what the new code uses is
imported from ``seawall`` (``timedelta`` from ``datetime``)."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Sequence, Set, Union, cast

import libcst as cst
from libcst.metadata import MetadataWrapper

from .apis import COMPAT_NAMES, KEYWORDS, OLD_MODULES, PRIVATE_FIELDS, related
from .report import FileResult, Finding
from .resolve import Analysis, ImportRecord, Ref, dotted
from .transforms import Needs, Outcome, comments, convert_breaker, convert_with_retry

NEW_NAMES = ("UnifiedCircuitBreaker", "CircuitBreakerConfig", "with_resilience",
             "RetryConfig", "RetryStrategy", "timedelta")

LEGACY_CALL = "seawall.install_legacy_aliases()"


def _retargeted(rec: ImportRecord) -> Optional[str]:
    """The Seawall module an old import statement can point at instead."""
    if rec.module in OLD_MODULES:
        return OLD_MODULES[rec.module]
    if isinstance(rec.node, cst.ImportFrom) and f"{rec.module}.x".startswith("shared."):
        return "seawall.compat"
    return None


class _Calls(cst.CSTTransformer):
    """Converts the calls of ``refs`` and records a finding for each."""

    def __init__(self, a: Analysis, path: str, needs: Needs) -> None:
        super().__init__()
        self.a, self.path, self.needs = a, path, needs
        self.by_call: Dict[int, Ref] = {id(r.call): r for r in a.refs if r.call is not None}
        self.converted: Dict[str, int] = {}
        self.findings: List[Finding] = []

    def _convert(self, ref: Ref, orig: cst.Call, new: cst.Call, needs: Needs) -> Outcome:
        if ref.api.kind == "breaker":
            return convert_breaker(self.a, orig, new, needs)
        return convert_with_retry(self.a, orig, new, needs)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        ref = self.by_call.get(id(original_node))
        if ref is None or ref.api.kind not in ("breaker", "with_retry"):
            return updated_node
        needs = Needs()
        out: Outcome = (f"the name {ref.binding} is also bound to something else here"
                        if ref.ambiguous else
                        self._convert(ref, original_node, updated_node, needs))
        if not isinstance(out, str):
            taken = [n for n in (*needs.seawall, *(["timedelta"] if needs.timedelta else []))
                     if self.a.binds(n)]
            if taken:
                out = f"the name {taken[0]} is already bound to something else in this module"
            elif comments(out) < comments(updated_node):
                out = "it has comments among its arguments that the conversion would drop"
        code = self.a.code(original_node)
        if isinstance(out, str):
            self.findings.append(Finding(self.path, ref.line, ref.column, ref.api.kind, code,
                                         "manual", ref.api.target, out))
            return updated_node
        self.needs.seawall |= needs.seawall
        self.needs.timedelta |= needs.timedelta
        if ref.binding is not None:
            self.converted[ref.binding] = self.converted.get(ref.binding, 0) + 1
        new_code = cst.Module([]).code_for_node(out)
        status, reason = "converted", ""
        if ref.api.kind == "with_retry":
            cb = next((arg.value for arg in original_node.args
                       if arg.keyword is not None and arg.keyword.value == "circuit_breaker"), None)
            if cb is None and len(original_node.args) > 1 and original_node.args[1].keyword is None:
                cb = original_node.args[1].value
            if cb is not None and self.a.self_in_class_body(cb):
                status = "note"
                reason = (f"{self.a.code(cb)} is evaluated when the class is defined, where "
                          "`self` does not exist (a NameError, before and after); for a breaker "
                          "shared by name: with_resilience(..., circuit_breaker_name='...', "
                          "circuit_breaker_config=CircuitBreakerConfig(...))")
        self.findings.append(Finding(self.path, ref.line, ref.column, ref.api.kind, code,
                                     status, new_code, reason))
        return out


def _lead(stmt: cst.BaseStatement) -> Sequence[cst.EmptyLine]:
    """The blank and comment lines before a statement."""
    return cast(Union[cst.SimpleStatementLine, cst.BaseCompoundStatement], stmt).leading_lines


def _import_line(module: str, names: Sequence[str]) -> cst.SimpleStatementLine:
    line = cst.parse_statement(f"from {module} import {', '.join(names)}\n")
    assert isinstance(line, cst.SimpleStatementLine)
    return line


class _Imports(cst.CSTTransformer):
    """Edits the old import statements and adds the new ones."""

    def __init__(self, drop: Dict[str, bool], needs: Needs, rollback_safe: bool,
                 has_timedelta: bool, stuck: Set[str]) -> None:
        super().__init__()
        self.drop, self.needs, self.rollback_safe = drop, needs, rollback_safe
        # The code of the old imports that name what Seawall does not have:
        # they stay on the original package, which the aliases would hide.
        self.stuck = stuck
        self.has_timedelta = has_timedelta
        # The comments of an old import removed at the end of a block.
        self.footer: List[cst.EmptyLine] = []

    def _edit(self, small: cst.BaseSmallStatement) -> Optional[cst.BaseSmallStatement]:
        """The statement with the old names no longer read dropped and the
        rest pointed at Seawall; ``None`` when nothing is left."""
        if self.rollback_safe or not isinstance(small, (cst.Import, cst.ImportFrom)):
            return small
        stuck = cst.Module([]).code_for_node(small) in self.stuck
        if isinstance(small, cst.ImportFrom):
            if small.relative or small.module is None or isinstance(small.names, cst.ImportStar):
                return small
            module = dotted(small.module) or ""
            rec_module = module if module in OLD_MODULES else None
            keep = [al for al in small.names
                    if not self.drop.get(al.evaluated_alias or al.evaluated_name, False)
                    or (rec_module is None and f"{module}.{al.evaluated_name}" not in OLD_MODULES)]
            if not keep:
                return None
            if len(keep) < len(small.names):
                # The kept names take the places (and the layout) of the first ones.
                last: Union[cst.Comma, cst.MaybeSentinel] = (
                    small.names[-1].comma if small.lpar is not None else cst.MaybeSentinel.DEFAULT)
                keep = [al.with_changes(comma=small.names[i].comma if i < len(keep) - 1 else last)
                        for i, al in enumerate(keep)]
            small = small.with_changes(names=keep)
            if stuck:
                return small
            if rec_module is not None:
                small = small.with_changes(
                    module=cst.parse_expression(OLD_MODULES[rec_module]))
            elif module.startswith("shared.") and all(
                f"{module}.{al.evaluated_name}" in OLD_MODULES for al in keep
            ):
                small = small.with_changes(module=cst.parse_expression("seawall.compat"))
            return small
        aliases = []
        for al in small.names:
            old = al.evaluated_name in OLD_MODULES
            bound = al.evaluated_alias or al.evaluated_name.split(".")[0]
            if old and self.drop.get(bound, False):
                continue
            if old and al.asname is not None and not stuck:
                al = al.with_changes(name=cst.parse_expression(OLD_MODULES[al.evaluated_name]))
            aliases.append(al)
        if not aliases:
            return None
        aliases[-1] = aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return small.with_changes(names=aliases)

    def _is_old_import(self, stmt: cst.BaseStatement) -> bool:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return False
        for s in stmt.body:
            if isinstance(s, cst.ImportFrom) and s.module is not None and not s.relative:
                m = dotted(s.module) or ""
                if m in OLD_MODULES or (not isinstance(s.names, cst.ImportStar) and any(
                        f"{m}.{al.evaluated_name}" in OLD_MODULES for al in s.names)):
                    return True
            if isinstance(s, cst.Import) and any(al.evaluated_name in OLD_MODULES
                                                 for al in s.names):
                return True
        return False

    def _body(self, body: Sequence[cst.BaseStatement], top: bool) -> List[cst.BaseStatement]:
        out: List[cst.BaseStatement] = []
        carry: List[cst.EmptyLine] = []
        first_old: Optional[int] = None
        removed_first = False
        for stmt in body:
            if carry:
                stmt = stmt.with_changes(leading_lines=[*carry, *_lead(stmt)])
                carry = []
            if not self._is_old_import(stmt):
                out.append(stmt)
                continue
            assert isinstance(stmt, cst.SimpleStatementLine)
            kept = [e for e in (self._edit(s) for s in stmt.body) if e is not None]
            if first_old is None:
                first_old = len(out)
            if kept:
                kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
                out.append(stmt.with_changes(body=kept))
            elif top and first_old == len(out) and not removed_first:
                # The new imports take the place (and the comments) of the
                # first old import statement.
                removed_first = True
                out.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=_lead(stmt)))
            else:
                carry = [ln for ln in _lead(stmt) if ln.comment is not None]
        if top:
            out = self._add_new(out, first_old, removed_first)
        elif not out:
            # A block whose only statements were old imports (a `try:`
            # around them) keeps a statement.
            out = [cst.SimpleStatementLine([cst.Pass()], leading_lines=carry)]
            carry = []
        self.footer = carry
        return out

    def _add_new(self, body: List[cst.BaseStatement], first_old: Optional[int],
                 removed_first: bool) -> List[cst.BaseStatement]:
        new: List[cst.SimpleStatementLine] = []
        if self.rollback_safe and first_old is not None and not self.stuck and not any(
            cst.Module([]).code_for_node(s).strip() == LEGACY_CALL for s in body
        ):
            new.extend(cast(cst.SimpleStatementLine, cst.parse_statement(f"{line}\n"))
                       for line in ("import seawall", LEGACY_CALL))
        if self.needs.timedelta and not self.has_timedelta:
            new.append(_import_line("datetime", ["timedelta"]))
        names = sorted(self.needs.seawall)
        for i, s in enumerate(body):
            if isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1 and isinstance(
                s.body[0], cst.ImportFrom
            ) and s.body[0].module is not None and dotted(s.body[0].module) == "seawall" and (
                not isinstance(s.body[0].names, cst.ImportStar)
            ):
                have = {al.evaluated_name for al in s.body[0].names}
                missing = [n for n in names if n not in have]
                if missing:
                    merged = _import_line("seawall", [*(al.evaluated_name if al.asname is None
                                                        else cst.Module([]).code_for_node(al)
                                                        for al in s.body[0].names), *missing])
                    body[i] = merged.with_changes(leading_lines=_lead(s))
                names = []
                break
        if names:
            new.append(_import_line("seawall", names))
        if removed_first:
            assert first_old is not None
            placeholder = body[first_old]
            if new:
                new[0] = new[0].with_changes(leading_lines=_lead(placeholder))
                return [*body[:first_old], *new, *body[first_old + 1:]]
            carried = body[first_old + 1:first_old + 2]
            rest = [carried[0].with_changes(leading_lines=[
                *[ln for ln in _lead(placeholder) if ln.comment is not None],
                *_lead(carried[0])])] if carried else []
            return [*body[:first_old], *rest, *body[first_old + 2:]]
        if not new:
            return body
        if first_old is not None:
            at = first_old if self.rollback_safe else first_old + 1
        else:
            at = 0
            for i, s in enumerate(body):
                if isinstance(s, cst.SimpleStatementLine) and all(
                    isinstance(x, (cst.Import, cst.ImportFrom)) for x in s.body
                ) or (i == 0 and isinstance(s, cst.SimpleStatementLine) and isinstance(
                        s.body[0], cst.Expr) and isinstance(s.body[0].value, cst.SimpleString)):
                    at = i + 1
                elif at:
                    break
        if self.rollback_safe and first_old is not None:
            # Before the old imports, which need the aliases.
            new[0] = new[0].with_changes(leading_lines=_lead(body[at]))
            body[at] = body[at].with_changes(leading_lines=[])
        return [*body[:at], *new, *body[at:]]

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        # Import statements are edited from the blocks that hold them: no
        # need to walk the expressions inside.
        return False

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        body = self._body(updated_node.body, True)
        return updated_node.with_changes(body=body, footer=[*self.footer, *updated_node.footer])

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = self._body(updated_node.body, False)
        return updated_node.with_changes(body=body, footer=[*self.footer, *updated_node.footer])


def _scan_findings(a: Analysis, path: str, rewrite: bool = False) -> List[Finding]:
    out: List[Finding] = []
    for rec in a.imports:
        target = _retargeted(rec) or "seawall"
        out.append(Finding(path, rec.line, rec.column, "import", a.code(rec.node), "found",
                           f"import from {target}" if rec.module.startswith("shared")
                           else "seawall (see the other findings of this file)"))
    for ref in a.refs:
        node = ref.call if ref.call is not None else ref.node
        out.append(Finding(path, ref.line, ref.column, ref.api.kind, a.code(node), "found",
                           ref.api.target, _why_manual(ref) if ref.context in (
                               "subclass", "reference") else ""))
    targets = set(a.breaker_targets)
    for p in a.privates:
        if p.target in targets:
            suggestion = PRIVATE_FIELDS.get(p.field, "a public method of UnifiedCircuitBreaker")
            out.append(Finding(path, p.line, p.column, "private", f"{p.target}.{p.field}",
                               "manual" if rewrite else "found", suggestion,
                               "UnifiedCircuitBreaker has no private fields of the old breaker"))
    return sorted(out, key=lambda f: (f.line, f.column))


def _why_manual(ref: Ref) -> str:
    if ref.context == "subclass":
        return "a subclass of an old class may rely on its internals"
    if ref.api.kind in ("pybreaker", "circuitbreaker"):
        return (f"the {ref.api.kind} library's breakers differ in what they count and how they "
                "recover; convert them by hand")
    if ref.context == "reference":
        return "it is used as a value (an annotation, isinstance, an argument), not called"
    if ref.api.kind in ("protection_facade", "http_client"):
        return "its module is imported by its full path or with a star: not pointed at Seawall"
    return "only calls of it are converted"


def _lacking(a: Analysis, rec: ImportRecord, drop: Dict[str, bool]) -> Set[str]:
    """The names an old import gives the file that Seawall's version of
    the module does not have (names no longer used do not count)."""
    node = rec.node
    out: Set[str] = set()
    if isinstance(node.names, cst.ImportStar):
        return out
    for al in node.names:
        full = al.evaluated_name
        if isinstance(node, cst.ImportFrom):
            full = f"{rec.module}.{full}"
        bound = al.evaluated_alias or (al.evaluated_name if isinstance(node, cst.ImportFrom)
                                        else al.evaluated_name.split(".")[0])
        if drop.get(bound, False):
            continue
        if full in OLD_MODULES:  # a module: the attributes read on it
            names = a.attributes.get(bound, set()) if (
                al.asname is not None or isinstance(node, cst.ImportFrom)) else set()
            out |= names - COMPAT_NAMES.get(OLD_MODULES[full], frozenset())
        elif rec.module in OLD_MODULES:
            if al.evaluated_name not in COMPAT_NAMES.get(OLD_MODULES[rec.module], frozenset()):
                out.add(al.evaluated_name)
    return out


def _imports_old_module(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(related(a.name) for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module and not node.level and any(
            related(node.module if a.name == "*" else f"{node.module}.{a.name}")
            for a in node.names
        ):
            return True
    return False


def process(path: str, source: str, rewrite: bool, rollback_safe: bool = False) -> FileResult:
    """Scans (``rewrite=False``) or rewrites one file's ``source``; a file
    that does not parse gives a result with ``error`` set."""
    result = FileResult(path)
    # Python's own parser first (a hundred times faster than libcst's
    # metadata): a file that imports no old module has no old usage.
    try:
        tree = ast.parse(source, path)
    except SyntaxError as e:
        result.error = f"cannot parse: {e.msg} (line {e.lineno}, column {e.offset})"
        return result
    if not any(k in source for k in KEYWORDS) or not _imports_old_module(tree):
        return result
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as e:
        result.error = f"cannot parse: {e.message} (line {e.raw_line}, column {e.raw_column})"
        return result
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    a = Analysis(wrapper)
    if not rewrite:
        result.findings = _scan_findings(a, path)
        return result
    if not a.refs and not a.imports:
        return result
    needs = Needs()
    calls = _Calls(a, path, needs)
    new_module = wrapper.module.visit(calls)
    findings = calls.findings
    before: Dict[str, int] = {}
    for rec in a.imports:
        for b, n in rec.bindings.items():
            before[b] = before.get(b, 0) + n
    drop = {b: n > 0 and calls.converted.get(b, 0) >= n for b, n in before.items()}
    for ref in a.refs:
        if ref.call is not None and ref.api.kind in ("breaker", "with_retry"):
            continue
        if ref.api.kind in ("protection_facade", "http_client") and ref.context != "subclass":
            imp = next((r for r in a.imports if ref.binding in r.bindings), None)
            if imp is not None and _retargeted(imp) is not None and not (
                isinstance(imp.node, cst.Import) and not any(
                    al.asname is not None for al in imp.node.names)
            ):
                findings.append(Finding(path, ref.line, ref.column, ref.api.kind,
                                        a.code(ref.call or ref.node), "note", ref.api.target,
                                        "now Seawall's implementation of the same API "
                                        "(seawall.compat); the suggestion is the unified API"))
                continue
        findings.append(Finding(path, ref.line, ref.column, ref.api.kind,
                                a.code(ref.call or ref.node), "manual", ref.api.target,
                                _why_manual(ref)))
    findings.extend(f for f in _scan_findings(a, path, True) if f.kind == "private")
    stuck: Set[str] = set()
    for rec in a.imports:
        lacking = sorted(_lacking(a, rec, drop))
        if lacking:
            stuck.add(a.code(rec.node))
            findings.append(Finding(
                path, rec.line, rec.column, "import", a.code(rec.node), "manual",
                "the Seawall equivalents of these names, or keep the original package",
                f"Seawall's version of the module has no {', '.join(lacking)}: the import "
                "stays on the original package (and --rollback-safe adds no aliases here)"))
    for rec in a.imports:
        if a.code(rec.node) in stuck:
            continue
        target = _retargeted(rec)
        bare = isinstance(rec.node, cst.Import) and any(
            al.asname is None and al.evaluated_name in OLD_MODULES for al in rec.node.names)
        kept = [b for b in rec.bindings if not drop.get(b, False)]
        if rec.star or target is None or (bare and kept):
            findings.append(Finding(path, rec.line, rec.column, "import", a.code(rec.node),
                                    "manual", "from seawall import ...",
                                    "a star import or a module without a Seawall equivalent"
                                    if rec.star or target is None else
                                    "the module's full path is used in the code"))
        elif not rollback_safe and (target != rec.module or len(kept) < len(rec.bindings)):
            findings.append(Finding(path, rec.line, rec.column, "import", a.code(rec.node),
                                    "converted", f"names still used now come from {target}"
                                    if kept else "removed", ""))
    has_td = any(isinstance(s, cst.SimpleStatementLine) and any(
        isinstance(x, cst.ImportFrom) and x.module is not None and dotted(x.module) == "datetime"
        and not isinstance(x.names, cst.ImportStar)
        and any(al.evaluated_name == "timedelta" and al.asname is None for al in x.names)
        for x in s.body) for s in module.body)
    new_module = new_module.visit(_Imports(drop, needs, rollback_safe, has_td, stuck))
    result.findings = sorted(findings, key=lambda f: (f.line, f.column))
    if new_module.code != source:
        # Both texts only for a changed file: they go back from the workers.
        result.source, result.new_source = source, new_module.code
    return result
