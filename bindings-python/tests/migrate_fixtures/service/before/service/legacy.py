"""What the rewriter must leave alone, and say why."""

from shared.utils.retry_strategy import CircuitBreaker

OPTIONS = {"failure_threshold": 4}


def scaled(base):
    # A computed timeout: seconds or a timedelta?
    return CircuitBreaker(recovery_timeout=base * 2)


def from_options():
    return CircuitBreaker(**OPTIONS)


class NoisyBreaker(CircuitBreaker):
    """A subclass: it may rely on the old breaker's internals."""


WATCHED = CircuitBreaker(failure_threshold=1)


def watched_state():
    return WATCHED._state
