"""Generates the configuration reference page from the code's own field docs.

The single source of truth is the core's settings structs (``BreakerConfig``,
``RetryConfig``, ... in ``core/src`` and ``distributed/src``): every face
takes its settings from them, the C structs under the same names (durations
with ``_ns``), the Python dataclasses under the same names (durations as
seconds or ``timedelta``). This script reads the Rust source text (no build
needed), takes each field's ``///`` documentation, its type and its value in
the struct's ``impl Default``, and writes one table per settings type. The
fields only the Python dataclasses have (exception lists, callbacks) are
read from the dataclass's docstring bullets in
``bindings-python/python/seawall/models.py`` (parsed with ``ast``: importing
the package would need the compiled extension), and the C field names from
``include/seawall.h``.

A field without documentation stops the generation with an error naming it,
so the page cannot silently fall behind the code.

Run alone: ``python docs/gen_config_reference.py [--output FILE]`` (prints
the page, or writes it). Under mkdocs it is a hook (``mkdocs.yml``:
``hooks``): ``on_files`` adds the page as ``reference/configuration.md``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
PAGE = "reference/configuration.md"


class UndocumentedError(Exception):
    """A settings field, variant or Python-only field without documentation,
    or a settings type the generator cannot find."""


@dataclass
class Item:
    """One field (or enum variant) as read from the source."""

    name: str
    type: str
    doc: str
    default: Optional[str] = None
    children: List["Item"] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """One settings type of the core and where each face spells it."""

    title: str
    path: str
    rust: str
    crate: str
    c_struct: Optional[str] = None
    python: Optional[str] = None
    enum: bool = False
    note: str = ""


SOURCES: Sequence[Source] = (
    Source("Circuit breaker", "core/src/breaker/config.rs", "BreakerConfig", "seawall",
           "seawall_breaker_config", "CircuitBreakerConfig"),
    Source("Sliding window", "core/src/breaker/config.rs", "Window", "seawall", enum=True,
           note="C: `window_kind` (`enum seawall_window_kind`) with `window_size`, "
                "`window_length_ns`, `window_buckets`. Python: `None`, `CountWindow(size)`, "
                "`TimeWindow(length, buckets=10)`."),
    Source("Retry", "core/src/retry/backoff.rs", "RetryConfig", "seawall",
           "seawall_retry_config", "RetryConfig"),
    Source("Back-off strategy", "core/src/retry/backoff.rs", "RetryStrategy", "seawall",
           enum=True,
           note="C: `enum seawall_retry_strategy`. Python: `RetryStrategy`, whose "
                "`AGGRESSIVE`, `STANDARD`, `CONSERVATIVE` and `CUSTOM` members are "
                "the original package's names on top of these six."),
    Source("Retry budget", "core/src/budget.rs", "RetryBudgetConfig", "seawall",
           "seawall_retry_budget_config", "RetryBudgetConfig"),
    Source("Bulkhead", "core/src/bulkhead/mod.rs", "BulkheadConfig", "seawall",
           "seawall_bulkhead_config", "BulkheadConfig"),
    Source("Adaptive concurrency limiter", "core/src/limiter/mod.rs", "AdaptiveLimiterConfig",
           "seawall", "seawall_adaptive_limiter_config", "AdaptiveLimiterConfig"),
    Source("Adaptive limiter algorithm", "core/src/limiter/mod.rs", "LimitAlgorithm", "seawall",
           enum=True, note="C: `enum seawall_limit_algorithm`. Python: `algorithm=\"gradient\"` "
                           "or `\"aimd\"`."),
    Source("Rate limiter", "core/src/rate_limit/mod.rs", "RateLimitConfig", "seawall",
           "seawall_rate_limit_config",
           note="Python: the arguments of `RateLimiter(rate, period=1.0, burst=None, "
                "timing=\"exact\")` and `KeyedRateLimiter(...)`, `period` in seconds."),
    Source("Timing (rate limiter, adaptive limiter)", "core/src/clock.rs", "Timing", "seawall",
           enum=True, note="C: `enum seawall_timing`. Python: `timing=\"exact\"` or "
                           "`\"recent\"`."),
    Source("Fleet rules of a distributed breaker", "distributed/src/config.rs", "FleetConfig",
           "seawall_distributed", "seawall_fleet_config",
           note="Python: derived from the `CircuitBreakerConfig` "
                "(`FleetConfig::from_local`: its `minimum_calls`, failure rate, failure "
                "count and slow-call rules and, when the fleet accepts it, its time "
                "window)."),
    Source("Coordinator (one per process)", "distributed/src/config.rs", "CoordinatorConfig",
           "seawall_distributed", "seawall_coordinator_config",
           note="Python: `redis_url=` and `namespace=` of the distributed breaker; the "
                "other fields keep their defaults."),
    Source("Fleet rate limiter leases", "distributed/src/limiter.rs", "FleetLimitConfig",
           "seawall_distributed", "seawall_fleet_limit_config",
           note="Python: the `lease`, `lease_ttl` and `on_store_failure` arguments of "
                "`FleetRateLimiter`."),
    Source("Fleet rate limiter without its store", "distributed/src/limiter.rs",
           "OnStoreFailure", "seawall_distributed", enum=True,
           note="Python: `on_store_failure=\"local\"`, `\"allow\"` or `\"deny\"`."),
)


# --- Rust source -----------------------------------------------------------

_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)|\[(`[^`]+`)\]")


def _clean_doc(lines: List[str]) -> str:
    """Joins doc lines into one table cell: paragraphs become ``<br>``,
    rustdoc links plain code, pipes escaped."""
    paragraphs: List[List[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    text = "<br>".join(" ".join(p) for p in paragraphs if p)
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    return text.replace("|", "\\|")


def _body(text: str, header: re.Pattern[str], what: str, path: str) -> List[str]:
    """The lines of the brace-delimited block that starts at ``header``."""
    m = header.search(text)
    if not m:
        raise UndocumentedError(f"{path}: {what} not found")
    depth, out, line = 0, [], ""
    for line in text[m.start():].splitlines():
        out.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0 and "{" in "".join(out):
            break
    return out[1:-1]


def _items(lines: List[str], owner: str, path: str, enum: bool) -> List[Item]:
    """Fields (``pub name: Type,``) or variants (``Name``, ``Name { ... }``)
    with their ``///`` docs; nested variant fields become children."""
    items: List[Item] = []
    doc: List[str] = []
    stack: List[Item] = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("///"):
            doc.append(line[3:])
            continue
        if not line or line.startswith("#[") or line.startswith("//"):
            continue
        if stack and line in ("},", "}"):
            stack.pop()
            continue
        if enum and not stack:
            m = re.match(r"^(\w+)\s*(\{|\(|,|$)", line)
            if not m:
                raise UndocumentedError(f"{path}: cannot read `{line}` in {owner}")
            name = m.group(1)
            if not doc:
                raise UndocumentedError(f"{path}: {owner}::{name} has no /// documentation")
            item = Item(name, "", _clean_doc(doc))
            items.append(item)
            if m.group(2) == "{":
                stack.append(item)
        else:
            m = re.match(r"^(?:pub(?:\([^)]*\))?\s+)?(\w+):\s*(.+?),?$", line)
            if not m:
                raise UndocumentedError(f"{path}: cannot read `{line}` in {owner}")
            name, typ = m.group(1), m.group(2)
            label = f"{owner}::{stack[-1].name}.{name}" if stack else f"{owner}.{name}"
            if not doc:
                raise UndocumentedError(f"{path}: {label} has no /// documentation")
            item = Item(name, typ, _clean_doc(doc))
            (stack[-1].children if stack else items).append(item)
        doc = []
    return items


def _split_top(text: str) -> List[str]:
    """Splits on commas outside brackets and strings."""
    parts, depth, cur, quoted = [], 0, "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


_UNITS = {"from_secs": "s", "from_millis": "ms", "from_micros": "µs", "from_nanos": "ns"}


def _human(expr: str) -> str:
    """A default as a reader writes it: ``Duration::from_secs(60)`` is
    ``60 s``, ``Some(x)`` is ``x``, ``Enum::Variant`` is ``Variant``."""
    expr = expr.strip()
    m = re.fullmatch(r"Duration::(from_\w+)\(([\d_]+)\)", expr)
    if m and m.group(1) in _UNITS:
        return f"{m.group(2).replace('_', '')} {_UNITS[m.group(1)]}"
    m = re.fullmatch(r"Some\((.*)\)", expr)
    if m:
        return _human(m.group(1))
    m = re.fullmatch(r'("[^"]*")\.(?:into|to_string|to_owned)\(\)', expr)
    if m:
        return m.group(1)
    m = re.fullmatch(r"\w+::(\w+)", expr)
    if m:
        return m.group(1)
    return expr


def _defaults(text: str, rust: str, path: str) -> Dict[str, str]:
    block = "\n".join(_body(text, re.compile(rf"impl Default for {rust}\b[^{{]*\{{"),
                            f"impl Default for {rust}", path))
    m = re.search(r"^\s*Self\s*\{(.*)\}", block, re.S | re.M)
    if not m:
        raise UndocumentedError(f"{path}: impl Default for {rust} builds no `Self {{ .. }}`")
    out = {}
    for part in _split_top(m.group(1)):
        name, _, expr = part.partition(":")
        out[name.strip()] = _human(expr)
    return out


def type_doc(src: Source, text: str) -> str:
    """The ``///`` documentation of the type itself (above its attributes)."""
    kind = "enum" if src.enum else "struct"
    m = re.search(rf"^pub {kind} {src.rust}\b", text, re.M)
    if not m:
        raise UndocumentedError(f"{src.path}: pub {kind} {src.rust} not found")
    doc: List[str] = []
    for line in reversed(text[:m.start()].splitlines()):
        s = line.strip()
        if s.startswith("#["):
            continue
        if not s.startswith("///"):
            break
        doc.insert(0, s[3:])
    if not doc:
        raise UndocumentedError(f"{src.path}: {src.rust} has no /// documentation")
    return _clean_doc(doc).replace("<br>", "\n\n").replace("\\|", "|")


def read_rust(src: Source, text: str) -> List[Item]:
    """The documented fields (or variants) of ``src.rust`` in ``text``."""
    kind = "enum" if src.enum else "struct"
    lines = _body(text, re.compile(rf"^pub {kind} {src.rust}\b[^{{;]*\{{", re.M),
                  f"pub {kind} {src.rust}", src.path)
    items = _items(lines, src.rust, src.path, src.enum)
    if not src.enum:
        defaults = _defaults(text, src.rust, src.path)
        for item in items:
            if item.name not in defaults:
                raise UndocumentedError(
                    f"{src.path}: {src.rust}.{item.name} has no value in impl Default")
            item.default = defaults[item.name]
    return items


# --- the faces -------------------------------------------------------------


def c_fields(header: str, struct: str) -> List[str]:
    m = re.search(rf"typedef struct {struct} \{{(.*?)\}} {struct};", header, re.S)
    if not m:
        raise UndocumentedError(f"include/seawall.h: struct {struct} not found")
    return re.findall(r"^\s+[\w ]+?\**\s*\b(\w+);", m.group(1), re.M)


#: C fields whose name is not the Rust one (with `_ns` for durations).
C_RENAMES = {"namespace": "key_namespace"}


def c_name(rust_field: str, fields: List[str]) -> str:
    if rust_field in fields:
        return "same"
    for candidate in (f"{rust_field}_ns", C_RENAMES.get(rust_field)):
        if candidate in fields:
            return f"`{candidate}`"
    if rust_field == "window":
        return "`window_kind` + `window_*`"
    return "—"


@dataclass
class PyClass:
    fields: Dict[str, str]  # name -> default as written
    bullets: Dict[str, str]  # name -> docstring text


def _docstring_bullets(doc: str) -> Dict[str, str]:
    """``- ``a`` / ``b``: text`` bullets of a docstring, by field name."""
    out: Dict[str, str] = {}
    bullet: List[str] = []

    def flush() -> None:
        if bullet:
            head, _, text = " ".join(bullet).partition(": ")
            for name in re.findall(r"``(\w+)``", head):
                out[name] = " ".join(text.split()).replace("``", "`").replace("|", "\\|")

    for line in doc.splitlines():
        s = line.strip()
        if s.startswith("- "):
            flush()
            bullet = [s[2:]]
        elif s and bullet:
            bullet.append(s)
        else:
            flush()
            bullet = []
    flush()
    return out


def python_classes(text: str) -> Dict[str, PyClass]:
    out: Dict[str, PyClass] = {}
    for node in ast.parse(text).body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: Dict[str, str] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                value = "—"
                if stmt.value is not None:
                    value = ast.unparse(stmt.value)
                    m = re.fullmatch(r"field\(default_factory=lambda: (.*)\)", value)
                    if m:
                        value = m.group(1)
                    elif value.startswith("field("):
                        value = "[]" if "default_factory=list" in value else value
                fields[stmt.target.id] = value
        out[node.name] = PyClass(fields, _docstring_bullets(ast.get_docstring(node) or ""))
    return out


# --- the page ----------------------------------------------------------------

INTRO = """\
# Configuration reference

!!! note "Generated"
    This page is generated from the code by `docs/gen_config_reference.py`
    on every build: the field documentation of the core's settings structs
    (the `///` comments in the Rust sources named below), their values in
    `impl Default`, the C field names from `include/seawall.h` and the
    Python-only fields from the dataclass docstrings of
    `bindings-python/python/seawall/models.py`. A field without
    documentation fails the build. Edit the source, not this page.

Every face takes the same settings under the same names. Durations are a
`Duration` in Rust, nanoseconds in C (the field name ends in `_ns`) and
seconds or a `timedelta` in Python. An optional setting (`Option<...>`)
is `None` when unset in Rust and Python; in C it is usually `0`, and
`include/seawall.h` documents each field's encoding. A value outside
the stated range is refused when the engine is built, with an error naming
the field, the value and the allowed range. In the C and Python columns,
"same" means the face spells the field as Rust does, and "—" that the face
has no such field.
"""


def render() -> str:
    """The whole page, or ``UndocumentedError``."""
    header = (ROOT / "include/seawall.h").read_text()
    py = python_classes((ROOT / "bindings-python/python/seawall/models.py").read_text())
    out = [INTRO]
    for src in SOURCES:
        text = (ROOT / src.path).read_text()
        items = read_rust(src, text)
        out.append(f"## {src.title}: `{src.rust}`\n")
        out.append(type_doc(src, text) + "\n")
        faces = [f"Rust: `{src.crate}::{src.rust}` (`{src.path}`)."]
        if src.c_struct:
            faces.append(f"C: `{src.c_struct}`.")
        if src.python:
            faces.append(f"Python: `seawall.{src.python}`.")
        out.append(" ".join(faces) + (f" {src.note}" if src.note else "") + "\n")
        if src.enum:
            out.append("| variant | meaning |\n| --- | --- |")
            for item in items:
                out.append(f"| `{item.name}` | {item.doc} |")
                for child in item.children:
                    out.append(f"| `{item.name}.{child.name}`: `{child.type}` | {child.doc} |")
            out.append("")
            continue
        cfields = c_fields(header, src.c_struct) if src.c_struct else None
        pyc = py.get(src.python) if src.python else None
        if src.python and pyc is None:
            raise UndocumentedError(f"models.py: dataclass {src.python} not found")
        cols = ["field", "type", "default"]
        if cfields is not None:
            cols.append("C")
        if pyc is not None:
            cols.append("Python")
        cols.append("meaning")
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + " --- |" * len(cols))
        for item in items:
            row = [f"`{item.name}`", f"`{item.type}`", f"`{item.default}`"]
            if cfields is not None:
                row.append(c_name(item.name, cfields))
            if pyc is not None:
                row.append("same" if item.name in pyc.fields else "—")
            row.append(item.doc)
            out.append("| " + " | ".join(row) + " |")
        out.append("")
        if pyc is not None:
            rust_names = {i.name for i in items}
            extra = [n for n in pyc.fields if n not in rust_names]
            if extra:
                out.append(f"Fields of the Python `{src.python}` alone (the faces' "
                           "concerns: what counts as a failure, callbacks):\n")
                out.append("| field | default | meaning |\n| --- | --- | --- |")
                for name in extra:
                    if name not in pyc.bullets:
                        raise UndocumentedError(
                            f"bindings-python/python/seawall/models.py: {src.python}.{name} "
                            "has no ``- ``name``: ...`` bullet in the class docstring")
                    out.append(f"| `{name}` | `{pyc.fields[name]}` | {pyc.bullets[name]} |")
                out.append("")
    return "\n".join(out)


def on_files(files, config):  # type: ignore[no-untyped-def]
    """mkdocs hook: adds the generated page (an error fails the build)."""
    from mkdocs.structure.files import File

    try:
        content = render()
    except UndocumentedError as e:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"configuration reference: {e}") from None
    files.append(File.generated(config, PAGE, content=content))
    return files


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write the page here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        page = render()
    except UndocumentedError as e:
        print(f"gen_config_reference: {e}", file=sys.stderr)
        return 1
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
