"""The compiled module never imports the public package: ``seawall``
registers its classes with ``seawall._native._init`` when it is imported,
and the native module used on its own says so instead of failing obscurely.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import seawall
from seawall import _native

# The extension file, loaded by path in a fresh interpreter so that the
# package is never imported there.
_SO = sorted(Path(seawall.__file__).parent.glob("_native*.so"))

_ALONE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_native", sys.argv[1])
native = importlib.util.module_from_spec(spec)
spec.loader.exec_module(native)
assert "seawall" not in sys.modules
for use in (lambda: native.Breaker("x"), lambda: native.validate_config(None)):
    try:
        use()
    except RuntimeError as e:
        print(e)
    else:
        print("no error")
print(native.check_name("name", "ok"))
"""


@pytest.mark.skipif(len(_SO) != 1, reason="needs the extension built into the source tree")
def test_the_native_module_alone_asks_for_the_package() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _ALONE, str(_SO[0])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 3, out
    for line in out[:2]:
        assert line.startswith("seawall._native is used before the seawall package"), line
        assert "import seawall" in line
    # What needs none of the package's classes works.
    assert out[2] == "ok"


def test_registering_again_changes_nothing() -> None:
    class Other:
        pass

    _native._init(
        circuit_state=Other,
        config_class=Other,
        count_window=Other,
        time_window=Other,
        open_error=Other,
        keyed_full_error=Other,
        on_transition=Other,
    )
    breaker = seawall.UnifiedCircuitBreaker("again")
    assert breaker.get_state() is seawall.CircuitState.CLOSED
    breaker.force_open()
    with pytest.raises(seawall.CircuitBreakerOpenError):
        breaker.call(lambda: None)
    family = seawall.KeyedBreaker(max_keys=1)
    held = family.acquire("a")
    with pytest.raises(seawall.KeyedBreakerFullError):
        family.acquire("b")
    held.success()


def test_the_package_and_the_native_module_word_errors_alike() -> None:
    from seawall import _check

    not_seconds = r"^timeout must be a datetime\.timedelta or a number of seconds, not str \('x'\)$"
    with pytest.raises(TypeError, match=not_seconds):
        _check.seconds("timeout", "x")
    negative = r"invalid {} = -1\.0: must be a finite, non-negative number of seconds$"
    with pytest.raises(ValueError, match="^" + negative.format("delay")):
        _check.non_negative_seconds("delay", -1.0)
    with pytest.raises(ValueError, match="^" + negative.format("seconds")):
        seawall.ManualClock().advance(-1.0)
