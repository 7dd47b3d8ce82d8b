"""The keyed rate limiter (and both limiters' ``timing``) on the manual
clock: exact admissions, refusals and waits per key, keys sharing a slot
sharing its allowance, reservations, and the errors for bad settings and
bad keys. Rates of 4 per second keep every wait exact in binary."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import seawall
from seawall import KeyedRateLimiter, ManualClock, RateLimiter, RateLimitExceededError

from conftest import Sleeps


def other_slot(limiter: KeyedRateLimiter, spent: str) -> str:
    """A key in another slot than `spent`, whose allowance is used up: the
    first key admitted (one call taken from it). With two slots, 64 keys
    all landing in `spent`'s slot has probability 2^-64."""
    assert limiter.check(spent) > 0.0
    for i in range(64):
        key = f"tenant-{i}"
        if limiter.check(key) == 0.0:
            return key
    raise AssertionError("no key in another slot")


def test_exports() -> None:
    assert seawall.KeyedRateLimiter is seawall.resilience.KeyedRateLimiter
    assert seawall.KeyedRateLimiter is seawall.rate_limit.KeyedRateLimiter
    assert "KeyedRateLimiter" in seawall.__all__
    assert "KeyedRateLimiter" in seawall.resilience.__all__


def test_a_key_gets_its_burst_then_exact_waits() -> None:
    clock = ManualClock()
    rl = KeyedRateLimiter(4, 1.0, burst=2, clock=clock)  # 0.25 s apart
    assert (rl.rate, rl.period, rl.burst, rl.timing) == (4, 1.0, 2, "exact")
    assert rl.check("a") == 0.0
    assert rl.check("a") == 0.0
    assert rl.check("a") == 0.25
    # A refusal changes nothing.
    assert rl.check("a") == 0.25
    clock.advance(0.125)
    assert rl.check("a") == 0.125
    clock.advance(0.125)
    assert rl.check("a") == 0.0
    assert rl.check("a") == 0.25
    # After a quiet spell the whole burst, and no more.
    clock.advance(10)
    assert [rl.check("a") for _ in range(3)] == [0.0, 0.0, 0.25]


def test_keys_in_other_slots_are_limited_independently() -> None:
    clock = ManualClock()
    rl = KeyedRateLimiter(4, 1.0, burst=2, slots=2, clock=clock)
    assert rl.check("a") == 0.0 and rl.check("a") == 0.0
    b = other_slot(rl, "a")
    assert rl.check(b) == 0.0, "its own burst of 2"
    assert rl.check(b) == 0.25
    assert rl.check("a") == 0.25, "untouched by b"


def test_str_keys_are_their_utf8_bytes() -> None:
    rl = KeyedRateLimiter(4, 1.0, burst=2, clock=ManualClock())
    assert rl.check("café") == 0.0
    assert rl.check("café".encode()) == 0.0
    assert rl.check(b"caf\xc3\xa9") == 0.25
    # Any bytes make a key, the empty one included.
    assert rl.check(b"\x00\xff") == 0.0
    assert rl.check("") == 0.0 and rl.check(b"") == 0.0


def test_keys_sharing_a_slot_share_one_allowance() -> None:
    clock = ManualClock()
    rl = KeyedRateLimiter(4, 1.0, burst=3, slots=1, clock=clock)
    assert rl.slots == 1
    assert rl.check("a") == 0.0 and rl.check("a") == 0.0
    assert rl.check("b") == 0.0, "b gets what a left"
    assert rl.check("b") == 0.25 and rl.check("c") == 0.25
    clock.advance(0.25)
    assert rl.check("c") == 0.0
    assert rl.check("a") == 0.25


def test_slots_round_up_and_memory_is_fixed() -> None:
    rl = KeyedRateLimiter(100, slots=1000)
    assert rl.slots == 1024
    before = rl.memory_bytes()
    assert before >= 1024 * 8
    for i in range(10_000):
        rl.check(f"client-{i}")
    assert rl.memory_bytes() == before
    assert KeyedRateLimiter(100).slots == 4096


def test_acquire_sleeps_once_for_the_keys_turn_or_refuses() -> None:
    clock = ManualClock()
    sleeps = Sleeps()
    rl = KeyedRateLimiter(
        4, 1.0, burst=1, slots=2, clock=clock, sleep=sleeps, asleep=sleeps.a, max_wait=1.0
    )
    for _ in range(5):
        rl.acquire("k")
    assert sleeps.slept == [0.25, 0.5, 0.75, 1.0]
    with pytest.raises(RateLimitExceededError) as e:
        rl.acquire("k")
    assert e.value.retry_after == 1.25
    # The refusal reserved nothing: the next turn is still 1.25 s away.
    assert rl.check("k") == 1.25
    # Another slot's key does not wait (its first call was the probe's).
    j = other_slot(rl, "k")
    rl.acquire(j)
    assert sleeps.slept[-1] == 0.25

    async def main() -> None:
        a = Sleeps()
        arl = KeyedRateLimiter(2, 1.0, burst=1, clock=ManualClock(), asleep=a.a)
        await asyncio.gather(*(arl.aacquire(b"k") for _ in range(4)))
        assert a.slept == [0.5, 1.0, 1.5]
        strict = KeyedRateLimiter(1, 1.0, clock=ManualClock(), max_wait=0.5, asleep=a.a)
        await strict.aacquire("x")
        with pytest.raises(RateLimitExceededError) as e:
            await strict.aacquire("x")
        assert e.value.retry_after == 1.0

    asyncio.run(main())


@pytest.mark.parametrize("make", [RateLimiter, KeyedRateLimiter])
def test_timing_is_exact_or_recent(make: Any) -> None:
    clock = ManualClock()
    rl = make(4, 1.0, burst=1, timing="recent", clock=clock)
    assert rl.timing == "recent"
    args = ("k",) if make is KeyedRateLimiter else ()
    # On the manual clock both readings are the same.
    assert rl.check(*args) == 0.0 and rl.check(*args) == 0.25
    with pytest.raises(ValueError) as e:
        make(4, timing="fast")
    assert str(e.value) == "invalid timing = 'fast': must be one of 'exact', 'recent'"
    with pytest.raises(ValueError, match="invalid timing = 'Exact'"):
        make(4, timing="Exact")
    with pytest.raises(TypeError) as t:
        make(4, timing=None)
    assert str(t.value) == "timing must be a str, not NoneType (None)"
    with pytest.raises(TypeError, match="timing must be a str, not int"):
        make(4, timing=1)


@pytest.mark.parametrize(
    "slots, message",
    [
        (0, "invalid slots = 0: must be an integer in [1, 1048576]"),
        (1048577, "invalid slots = 1048577: must be an integer in [1, 1048576]"),
        (-1, "invalid slots = -1: must be an integer in [1, 1048576]"),
        (2**40, "invalid slots = 1099511627776: must be an integer in [1, 1048576]"),
    ],
)
def test_bad_slots_name_the_field(slots: int, message: str) -> None:
    with pytest.raises(ValueError) as e:
        KeyedRateLimiter(4, slots=slots)
    assert str(e.value) == message


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(TypeError, match="slots must be an int, not str"):
        KeyedRateLimiter(4, slots="8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid rate = 0"):
        KeyedRateLimiter(0)
    with pytest.raises(ValueError, match="max_wait = -1"):
        KeyedRateLimiter(4, max_wait=-1)
    with pytest.raises(TypeError, match="sleep must be callable"):
        KeyedRateLimiter(4, sleep=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key, shown",
    [(1, "int (1)"), (None, "NoneType (None)"), (bytearray(b"k"), "bytearray (bytearray(b'k'))")],
)
def test_bad_keys_raise_type_error_naming_key(key: Any, shown: str) -> None:
    rl = KeyedRateLimiter(4, 1.0, burst=1, clock=ManualClock(), sleep=lambda d: None)
    want = f"key must be a str or bytes, not {shown}"
    for call in (rl.check, rl.acquire, lambda k: asyncio.run(rl.aacquire(k))):
        with pytest.raises(TypeError) as e:
            call(key)
        assert str(e.value) == want
    # None of them took a turn.
    assert rl.check("k") == 0.0


def test_a_key_that_is_not_valid_unicode_is_refused() -> None:
    rl = KeyedRateLimiter(4)
    with pytest.raises(ValueError) as e:
        rl.check("\ud800")
    assert str(e.value) == (
        "invalid key = '\\ud800': must be valid Unicode text (it contains a lone surrogate)"
    )
