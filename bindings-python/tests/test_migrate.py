"""seawall-migrate on the fixture projects of migrate_fixtures/: each
project's ``before`` tree rewritten must equal its ``after`` tree, run (its
``checks.py`` passes before, through the legacy aliases, and after, without
them), and stay as it is when rewritten again; ``--diff`` output applies
with ``patch``."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

pytest.importorskip("libcst")

from seawall.migrate import process  # noqa: E402
from seawall.migrate.cli import main  # noqa: E402
from seawall.migrate.runner import python_files, run  # noqa: E402

FIXTURES = Path(__file__).parent / "migrate_fixtures"
PROJECTS = sorted(p.name for p in FIXTURES.iterdir() if (p / "before").is_dir())


def same_tree(a: Path, b: Path) -> List[str]:
    """The files that differ between two trees (``.py`` files only)."""
    diff = []
    names = {p.relative_to(t) for t in (a, b) for p in t.rglob("*.py")}
    for n in sorted(names):
        if not ((a / n).is_file() and (b / n).is_file()
                and filecmp.cmp(a / n, b / n, shallow=False)):
            diff.append(str(n))
    return diff


def checks(tree: Path, aliases: bool) -> str:
    code = ("import seawall; seawall.install_legacy_aliases()\n" if aliases else "") + (
        "import sys, checks; checks.run()\n"
        "assert aliases or not [m for m in sys.modules if m.startswith('shared')]\n")
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_REDIS_URL"}  # facades: local
    out = subprocess.run([sys.executable, "-c", f"aliases = {aliases}\n" + code], cwd=tree,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(params=PROJECTS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / request.param, tmp_path / request.param)
    return tmp_path / request.param


def test_the_rewrite_of_each_project_is_its_expected_tree(project: Path) -> None:
    main(["rewrite", "--write", str(project / "before")])
    assert same_tree(project / "before", project / "after") == []


def test_each_project_passes_its_checks_before_and_after_the_rewrite(project: Path) -> None:
    before = checks(project / "before", aliases=True)
    main(["rewrite", "--write", str(project / "before")])
    after = checks(project / "before", aliases=False)
    assert before == after and after.startswith("ok")


def test_a_second_rewrite_changes_nothing(project: Path) -> None:
    files, _ = python_files([str(project / "after")])
    assert files
    for r in run(files, rewrite=True):
        assert r.error is None and r.new_source is None, r.path


def test_the_diff_applies_with_patch(project: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("patch") is None:
        pytest.skip("no patch binary")
    monkeypatch.chdir(project)
    main(["rewrite", "before"])
    diff = capsys.readouterr().out
    out = subprocess.run(["patch", "-p1", "--quiet"], input=diff, text=True, cwd=project,
                         capture_output=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert same_tree(project / "before", project / "after") == []


def test_scan_reports_every_usage_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["scan", "--json", str(FIXTURES / "service" / "before")])
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and report["exit_status"] == 1 and report["errors"] == []
    found = {(Path(f["path"]).name, f["line"], f["kind"]) for f in report["findings"]}
    assert ("users.py", 16, "breaker") in found  # through `CB`
    assert ("users.py", 25, "breaker") in found  # through `rs.`
    assert ("users.py", 34, "with_retry") in found  # a decorator in a method
    assert ("legacy.py", 17, "breaker") in found  # a subclass
    assert ("legacy.py", 25, "private") in found  # WATCHED._state
    # Comments and strings are not usages.
    assert not any(f["path"].endswith("settings.py") for f in report["findings"])


def test_scan_of_code_without_old_usages_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(FIXTURES / "untouched" / "before")]) == 0
    assert "no old usages" in capsys.readouterr().out


def test_an_unparsable_file_is_reported_with_the_parsers_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    (tmp_path / "latin1.py").write_bytes(b"x = '\xe9'\n")
    (tmp_path / "fine.py").write_text("from shared.utils.retry_strategy import CircuitBreaker\n")
    for command in ("scan", "rewrite"):
        assert main([command, str(tmp_path)]) == 2
        out = capsys.readouterr()
        text = out.out + out.err
        assert f"{tmp_path / 'broken.py'}: error: cannot parse" in text
        assert f"{tmp_path / 'latin1.py'}: error: cannot read" in text
    assert main(["scan", str(tmp_path / "missing.py")]) == 2


def test_many_files_give_the_same_findings_in_worker_processes(tmp_path: Path) -> None:
    src = (FIXTURES / "service" / "before" / "service" / "clients" / "users.py").read_text()
    for i in range(70):
        (tmp_path / f"m{i}.py").write_text(src)
    files, _ = python_files([str(tmp_path)])
    serial = run(files, rewrite=True, jobs=1)
    parallel = run(files, rewrite=True, jobs=2)
    assert [(r.path, r.findings, r.new_source) for r in serial] == [
        (r.path, r.findings, r.new_source) for r in parallel]


def test_pybreaker_and_circuitbreaker_are_found_and_left_with_a_suggestion() -> None:
    src = ("import pybreaker\nfrom circuitbreaker import circuit\n"
           "db = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)\n"
           "@circuit(failure_threshold=3)\ndef f():\n    pass\n")
    scan = process("x.py", src, rewrite=False)
    kinds = [(f.line, f.kind) for f in scan.findings]
    assert (3, "pybreaker") in kinds and (4, "circuitbreaker") in kinds
    rw = process("x.py", src, rewrite=True)
    assert rw.new_source is None
    assert {f.status for f in rw.findings if f.kind != "import"} == {"manual"}


def test_the_timedelta_import_is_added_only_when_needed() -> None:
    base = "from shared.utils.retry_strategy import CircuitBreaker\n"
    plain = process("x.py", base + "cb = CircuitBreaker(2)\n", rewrite=True).new_source
    assert plain is not None and "timedelta" not in plain
    timed = process("x.py", base + "cb = CircuitBreaker(2, 30)\n", rewrite=True).new_source
    assert timed is not None and timed.startswith("from datetime import timedelta\n")
    had = process("x.py", "from datetime import timedelta\n" + base
                  + "cb = CircuitBreaker(2, 30)\n", rewrite=True).new_source
    assert had is not None and had.count("import timedelta") == 1


def test_a_name_already_taken_is_not_shadowed() -> None:
    src = ("from shared.utils.retry_strategy import CircuitBreaker\n"
           "from mylib import UnifiedCircuitBreaker\ncb = CircuitBreaker(2)\n")
    r = process("x.py", src, rewrite=True)
    assert "cb = CircuitBreaker(2)" in (r.new_source or src)
    assert any("already bound" in f.reason for f in r.findings)


def test_rollback_safe_keeps_the_old_imports_routed_to_seawall(tmp_path: Path) -> None:
    src = ("# the client\nfrom shared.utils.retry_strategy import CircuitBreaker\n\n"
           "cb = CircuitBreaker(failure_threshold=2, recovery_timeout=5)\n")
    r = process("x.py", src, rewrite=True, rollback_safe=True)
    assert r.new_source == (
        "# the client\nimport seawall\nseawall.install_legacy_aliases()\n"
        "from datetime import timedelta\nfrom seawall import CircuitBreakerConfig, "
        "UnifiedCircuitBreaker\nfrom shared.utils.retry_strategy import CircuitBreaker\n\n"
        "cb = UnifiedCircuitBreaker(CircuitBreakerConfig(failure_threshold=2, "
        "timeout=timedelta(seconds=5), success_threshold=1))\n")
    again = process("x.py", r.new_source, rewrite=True, rollback_safe=True)
    assert again.new_source is None
    (tmp_path / "rb.py").write_text(r.new_source)
    out = subprocess.run([sys.executable, "-c", "import rb; print(rb.cb.config.timeout)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0:00:05"


def test_the_progress_bar_counts_to_the_total() -> None:
    import io

    from seawall.migrate.runner import Progress

    out = io.StringIO()
    bar = Progress(20, out)
    for _ in range(20):
        bar.step()
    text = out.getvalue()
    assert text.endswith(f"\r[{'#' * 30}] 20/20 files\n")
    assert "16/20 files" in text


def test_jobs_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--jobs", "0", str(FIXTURES)]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_a_name_with_a_fallback_binding_is_left_alone() -> None:
    src = ("try:\n    from shared.utils.retry_strategy import CircuitBreaker\n"
           "except ImportError:\n    CircuitBreaker = None\n\ncb = CircuitBreaker(2)\n")
    r = process("x.py", src, rewrite=True)
    assert "cb = CircuitBreaker(2)" in (r.new_source or src)
    assert any(f.status == "manual" and "also bound" in f.reason for f in r.findings)


def test_an_old_import_alone_in_a_block_leaves_a_pass() -> None:
    src = ("def make():\n    # the old one\n"
           "    from shared.utils.retry_strategy import CircuitBreaker\n"
           "    return CircuitBreaker(2)\n\n\n"
           "try:\n    from shared.utils.retry_strategy import with_retry\n"
           "except ImportError:\n    raise\n\n\nretry = with_retry('x')\n")
    new = process("x.py", src, rewrite=True).new_source
    assert new is not None
    compile(new, "x.py", "exec")
    assert "shared" not in new
    assert "try:\n    pass\n" in new and "    # the old one\n" in new


def test_the_compat_names_are_those_of_the_compat_modules() -> None:
    import importlib

    from seawall.migrate.apis import COMPAT_NAMES

    pytest.importorskip("httpx")
    for module, names in COMPAT_NAMES.items():
        assert set(importlib.import_module(module).__all__) == names, module


def test_names_seawall_does_not_have_keep_their_import() -> None:
    src = ("import shared.utils.retry_strategy as rs\n"
           "from shared.utils.retry_strategy import CircuitBreaker, RetryBudget\n"
           "cb = CircuitBreaker(2)\nbudget = RetryBudget()\nother = rs.Bulkhead(3)\n")
    for rollback_safe in (False, True):
        r = process("x.py", src, rewrite=True, rollback_safe=rollback_safe)
        assert r.new_source is not None
        assert "cb = UnifiedCircuitBreaker(" in r.new_source
        assert "import shared.utils.retry_strategy as rs\n" in r.new_source
        assert "from shared.utils.retry_strategy import " in r.new_source
        assert "install_legacy_aliases" not in r.new_source
        reasons = " ".join(f.reason for f in r.findings if f.status == "manual")
        assert "no RetryBudget" in reasons and "no Bulkhead" in reasons
    assert process("x.py", src, rewrite=True).new_source == (
        "import shared.utils.retry_strategy as rs\n"
        "from seawall import CircuitBreakerConfig, UnifiedCircuitBreaker\n"
        "from shared.utils.retry_strategy import RetryBudget\n"
        "cb = UnifiedCircuitBreaker(CircuitBreakerConfig("
        "failure_threshold=2, success_threshold=1))\n"
        "budget = RetryBudget()\nother = rs.Bulkhead(3)\n")


def test_the_diff_of_a_file_without_a_final_newline_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("patch") is None:
        pytest.skip("no patch binary")
    src = "from shared.utils.retry_strategy import CircuitBreaker\ncb = CircuitBreaker(3, 10)"
    (tmp_path / "x.py").write_text(src)
    monkeypatch.chdir(tmp_path)
    assert main(["rewrite", "x.py"]) == 0
    diff = capsys.readouterr().out
    assert "\\ No newline at end of file" in diff
    out = subprocess.run(["patch", "-p1", "--quiet"], input=diff, text=True, cwd=tmp_path,
                         capture_output=True)
    assert out.returncode == 0, out.stdout + out.stderr
    new = (tmp_path / "x.py").read_text()
    assert new == process("x.py", src, rewrite=True).new_source
    assert not new.endswith("\n")
