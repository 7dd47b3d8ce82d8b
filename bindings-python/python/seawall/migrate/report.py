"""What a scan or a rewrite found, per file, and how it is printed: lines
for people (``path:line:col: kind: message``), JSON for tools."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional

#: Exit statuses: no old usage left, some left, a file could not be read.
CLEAN, FOUND, ERROR = 0, 1, 2


@dataclass(frozen=True)
class Finding:
    """One usage of an old API.

    ``status`` is ``"found"`` (scan), ``"converted"`` (the rewrite changed
    it), ``"manual"`` (left untouched: ``reason`` says why, ``suggestion``
    what to write instead) or ``"note"`` (converted, with something the
    reader should check).
    """

    path: str
    line: int
    column: int
    kind: str
    code: str
    status: str
    suggestion: str
    reason: str = ""


@dataclass
class FileResult:
    """A file's findings; ``error`` when it could not be read or parsed
    (then nothing else is set); ``source`` and ``new_source`` when a rewrite
    changed it."""

    path: str
    findings: List[Finding] = field(default_factory=list)
    error: Optional[str] = None
    source: Optional[str] = None
    new_source: Optional[str] = None


def exit_status(results: Iterable[FileResult], rewritten: bool) -> int:
    """``ERROR`` if a file failed; else ``FOUND`` if an old usage is left
    (for a rewrite: one it could not convert); else ``CLEAN``."""
    status = CLEAN
    for r in results:
        if r.error is not None:
            return ERROR
        for f in r.findings:
            if f.status == "manual" or (not rewritten and f.status == "found"):
                status = FOUND
    return status


def _line(f: Finding) -> str:
    text = f"{f.path}:{f.line}:{f.column}: {f.kind}: {f.status}: {f.code}"
    if f.reason:
        text += f"\n    reason: {f.reason}"
    if f.suggestion:
        text += f"\n    {'suggested' if f.status != 'converted' else 'became'}: {f.suggestion}"
    return text


def human(results: List[FileResult]) -> str:
    lines: List[str] = []
    counts: Dict[str, int] = {}
    errors = 0
    for r in results:
        if r.error is not None:
            lines.append(f"{r.path}: error: {r.error}")
            errors += 1
        for f in r.findings:
            lines.append(_line(f))
            counts[f.status] = counts.get(f.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no old usages"
    lines.append(f"{len(results)} files: {summary}" + (f", {errors} errors" if errors else ""))
    return "\n".join(lines) + "\n"


def as_json(results: List[FileResult], status: int) -> str:
    out: Dict[str, Any] = {
        "files": len(results),
        "exit_status": status,
        "errors": [{"path": r.path, "message": r.error} for r in results if r.error is not None],
        "findings": [asdict(f) for r in results for f in r.findings],
        "changed": [r.path for r in results if r.new_source is not None],
    }
    return json.dumps(out, indent=2) + "\n"
