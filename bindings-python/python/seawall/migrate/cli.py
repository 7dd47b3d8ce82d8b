"""``seawall-migrate`` / ``python -m seawall.migrate``: the command line."""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import List, Optional, Sequence

from .report import ERROR, FileResult, as_json, exit_status, human
from .runner import python_files, run


def unified_diff(r: FileResult) -> str:
    """The change to ``r.path`` as a unified diff that ``patch -p1``
    applies from the directory the paths are relative to."""
    assert r.source is not None and r.new_source is not None
    path = r.path.lstrip("/")
    lines = difflib.unified_diff(r.source.splitlines(keepends=True),
                                 r.new_source.splitlines(keepends=True),
                                 f"a/{path}", f"b/{path}")
    out = []
    for ln in lines:
        out.append(ln)
        if not ln.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seawall-migrate",
        description="Find the old circuit breakers (shared.utils.retry_strategy, the Protection "
        "Facade, UnifiedHTTPClient, pybreaker, circuitbreaker) and rewrite them to Seawall. "
        "Exit status: 0 no old usage left, 1 some left, 2 a file could not be read or parsed.")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    common.add_argument("--json", action="store_true", help="a JSON report on stdout")
    common.add_argument("--jobs", type=int, default=None,
                        help="worker processes (default: one per core)")
    sub.add_parser("scan", parents=[common], help="list every usage of the old APIs")
    rw = sub.add_parser("rewrite", parents=[common],
                        help="convert them: a unified diff by default")
    mode = rw.add_mutually_exclusive_group()
    mode.add_argument("--diff", action="store_true", help="print a unified diff (the default)")
    mode.add_argument("--write", action="store_true", help="change the files in place")
    rw.add_argument("--rollback-safe", action="store_true",
                    help="keep the old imports, routed to Seawall by "
                    "seawall.install_legacy_aliases()")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        print(f"seawall-migrate: --jobs must be at least 1, not {args.jobs}", file=sys.stderr)
        return ERROR
    rewrite = args.command == "rewrite"
    files, missing = python_files(args.paths)
    results = missing + run(files, rewrite, getattr(args, "rollback_safe", False), args.jobs)
    status = exit_status(results, rewrite)
    changed: List[FileResult] = [r for r in results if r.new_source is not None]
    if rewrite and args.write:
        for r in changed:
            assert r.new_source is not None
            with open(r.path, "w", encoding="utf-8", newline="") as f:
                f.write(r.new_source)
    if args.json:
        sys.stdout.write(as_json(results, status))
        return status
    report = human(results)
    if rewrite and not args.write:
        sys.stdout.write("".join(unified_diff(r) for r in changed))
        sys.stderr.write(report)
    else:
        sys.stdout.write(report)
    return status
