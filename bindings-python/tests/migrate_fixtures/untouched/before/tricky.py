"""Mentions of CircuitBreaker in comments and strings, a local class of the
same name, and newer syntax: nothing here is an old usage."""

import dataclasses


@dataclasses.dataclass
class CircuitBreaker:  # not the old one: defined here
    failure_threshold: int = 5
    recovery_timeout: float = 60


def describe(cb: CircuitBreaker) -> str:
    match cb:
        case CircuitBreaker(failure_threshold=n) if (m := n * 2) > 4:
            return f"{m} failures ({'with_retry' + ' off'})"
        case _:
            return """from shared.utils.retry_strategy import CircuitBreaker"""


def with_retry(name, circuit_breaker=None):
    # with_retry("x", circuit_breaker=cb) is the old decorator; this is not.
    return lambda f: f


@with_retry("local", circuit_breaker=CircuitBreaker(recovery_timeout=60))
async def local(x: int, /, *args: int, **kw: int) -> int:
    async with lock:
        return x


lock = None
