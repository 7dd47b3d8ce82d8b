"""The simulator from Python: ``seawall.simulate``/``sweep`` and ``python -m
seawall`` are the command line's parser and runs, with its results."""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import seawall
from seawall import CircuitBreakerConfig, CountWindow, TimeWindow
from seawall.simulation import simulate, sweep


def test_a_hard_outage_opens_after_exactly_five_failing_calls() -> None:
    r = simulate(
        "outage",
        failure_threshold=5,
        timeout=timedelta(seconds=10),
        success_threshold=1,
        settings={"scenario.rate": 100, "scenario.start": 10, "scenario.end": 40, "scenario.duration": 60},
    )
    assert r["transitions"][0]["to"] == "OPEN"
    assert r["transitions"][0]["at"] == pytest.approx(10.04)
    # Five failures, then one trial per open period (20.04 s and 30.04 s).
    assert r["counts"]["reached_while_degraded"] == 7
    assert r["counts"]["trial_calls"] == 3
    assert r["episodes"][0]["detected_after"] == pytest.approx(0.04)


def test_the_function_and_python_m_seawall_give_the_same_json() -> None:
    r = simulate("brownout", seed=5, window=CountWindow(50), failure_rate_threshold=0.3)
    out = subprocess.run(
        [sys.executable, "-m", "seawall", "simulate", "brownout", "--seed", "5",
         "--set", "window={ count = 50 }", "--set", "failure_rate_threshold=0.3", "--json"],
        check=True, capture_output=True, text=True,
    )
    assert json.loads(out.stdout) == r
    assert r["seed"] == 5 and r["counts"]["calls"] == 12_000


def test_a_circuit_breaker_config_is_simulated_as_its_fields() -> None:
    config = CircuitBreakerConfig(
        failure_threshold=3,
        timeout=timedelta(seconds=7),
        window=TimeWindow(timedelta(seconds=10), buckets=5),
        failure_rate_threshold=0.5,
        track_exceptions=[OSError],  # classification: not simulated
    )
    by_config = simulate("flapping", breaker=config)
    by_fields = simulate(
        "flapping",
        failure_threshold=3,
        timeout=7.0,
        window=TimeWindow(10, buckets=5),
        failure_rate_threshold=0.5,
    )
    assert by_config == by_fields
    assert by_config != simulate("flapping")


def test_timeline_and_pictures(tmp_path: Path) -> None:
    svg, png = tmp_path / "t.svg", tmp_path / "t.png"
    r = seawall.simulate("latency-spike", timeline=True, svg=svg, png=png,
                         slow_call_duration=1, slow_call_rate_threshold=0.5,
                         window=CountWindow(20))
    assert len(r["timeline"]) == 120
    assert svg.read_text().startswith("<svg")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert r["opens"] >= 1


def test_a_sweep_marks_the_pareto_front() -> None:
    s = seawall.sweep(
        {"failure_rate_threshold": [0.1, 0.3, 0.6], "minimum_calls": [5, 50]},
        "brownout",
        window=CountWindow(50),
        trip_on_consecutive_failures=False,
        timeout=5,
        jobs=2,
    )
    assert len(s["points"]) == 6
    assert any(p["pareto"] for p in s["points"])
    assert s["x"]["key"] == "failure_rate_threshold"


def test_bad_settings_raise_naming_the_field_or_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        simulate(failure_threshold=0)
    with pytest.raises(ValueError, match="unknown field `failure_treshold`"):
        simulate(failure_treshold=3)
    with pytest.raises(ValueError, match="earthquake"):
        simulate("earthquake")
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp,status\n1,200\n2,teapot\n")
    with pytest.raises(ValueError, match=r"t\.csv:3: status"):
        simulate(trace=trace)
    with pytest.raises(TypeError, match="timeout: cannot simulate a value of type list"):
        simulate(timeout=[1])
    with pytest.raises(ValueError, match="one or two settings"):
        sweep({})


def test_python_m_seawall_exits_2_on_bad_usage() -> None:
    out = subprocess.run([sys.executable, "-m", "seawall", "simulate", "--no-such-flag"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "--no-such-flag" in out.stderr
