"""Runs a scan or a rewrite over many files: the ``.py`` files under the
given paths, in worker processes (one per core) when there are many, with a
progress bar on stderr when it is a terminal."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, TextIO, Tuple

from .report import FileResult

#: Fewer files than this are done in this process: starting workers costs
#: more than it saves.
PARALLEL_FROM = 64

SKIPPED_DIRS = {".git", ".hg", ".venv", "venv", "__pycache__", "node_modules", ".tox",
                ".mypy_cache", ".pytest_cache", "build", "dist"}


def python_files(paths: Sequence[str]) -> Tuple[List[str], List[FileResult]]:
    """The ``.py`` files under ``paths`` (files given by name are taken
    whatever their suffix), sorted; a path that does not exist is an error."""
    files: List[str] = []
    errors: List[FileResult] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
                files.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(".py"))
        elif path.is_file():
            files.append(p)
        else:
            errors.append(FileResult(p, error="no such file or directory"))
    return files, errors


def _one(job: Tuple[str, bool, bool]) -> FileResult:
    from .rewrite import process

    path, rewrite, rollback_safe = job
    try:
        with open(path, "rb") as f:
            data = f.read()
        source = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return FileResult(path, error=f"cannot read: {e}")
    try:
        return process(path, source, rewrite, rollback_safe)
    except RecursionError:
        return FileResult(path, error="too deeply nested for the parser")


class Progress:
    """``[#####.....] 120/2000 files`` redrawn in place on ``stream``."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.done = total, stream, 0

    def step(self) -> None:
        self.done += 1
        if self.done == self.total or self.done % 16 == 0:
            filled = 30 * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] "
                              f"{self.done}/{self.total} files")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()


def run(files: Sequence[str], rewrite: bool, rollback_safe: bool = False,
        jobs: Optional[int] = None, progress: Optional[bool] = None) -> List[FileResult]:
    """The results of ``files``, in their order. ``jobs``: worker
    processes (default: one per core; 1 or few files: none)."""
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress(len(files), sys.stderr) if show and files else None
    jobs_list = [(f, rewrite, rollback_safe) for f in files]

    def results() -> Iterator[FileResult]:
        if workers <= 1 or len(files) < PARALLEL_FROM:
            yield from map(_one, jobs_list)
            return
        chunk = max(1, min(32, len(files) // (workers * 8)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(_one, jobs_list, chunksize=chunk)

    out: List[FileResult] = []
    for r in results():
        out.append(r)
        if bar is not None:
            bar.step()
    return out
