"""``seawall.__version__`` is the installed package's version, which is the
workspace's (one version for the Rust crates, the C library and the wheel)."""

import re
from pathlib import Path

import seawall

WORKSPACE_MANIFEST = Path(__file__).resolve().parents[2] / "Cargo.toml"


def workspace_version() -> str:
    text = WORKSPACE_MANIFEST.read_text(encoding="utf-8")
    section = text.split("[workspace.package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version = "([^"]+)"$', section, re.MULTILINE)
    assert match, f"no version in [workspace.package] of {WORKSPACE_MANIFEST}"
    return match.group(1)


def test_version_is_the_workspace_version() -> None:
    assert seawall.__version__ == workspace_version()


def test_version_is_exported() -> None:
    assert "__version__" in seawall.__all__
    assert isinstance(seawall.__version__, str)
