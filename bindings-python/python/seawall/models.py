"""Enums and dataclasses of the resilience API (``shared.resilience.models``).

``CircuitBreakerConfig`` drives ``UnifiedCircuitBreaker``; the retry, bulkhead
and retry-budget models drive the engines of ``seawall.resilience``
(``with_resilience``, ``Retrier``, ``Bulkhead``, ``RetryBudget``), which
validate them when they are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any, Callable, Dict, List, Optional, Type, Union

from . import _check, _native

__all__ = [
    "CircuitState",
    "RetryStrategy",
    "CircuitBreakerConfig",
    "CountWindow",
    "TimeWindow",
    "RetryConfig",
    "RetryPolicy",
    "RETRY_POLICIES",
    "AdaptiveLimiterConfig",
    "BulkheadConfig",
    "RetryBudgetConfig",
    "HedgeConfig",
    "RetryMetrics",
    "RetryResult",
    "RetryError",
]

Seconds = Union[timedelta, float, int]


class CircuitState(str, Enum):
    """The state of a circuit breaker.

    ``CLOSED``, ``OPEN`` and ``HALF_OPEN`` are the original's. Seawall adds the
    two states entered only by hand (``force_open()`` / ``force_closed()``):
    ``is_open()`` is true for both open states, ``is_closed()`` for both
    closed ones.
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"


class RetryStrategy(str, Enum):
    """How the delay between retry attempts grows."""

    FIXED = "fixed"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"
    FIBONACCI = "fibonacci"
    EXPONENTIAL_WITH_JITTER = "exponential_with_jitter"
    DECORRELATED_JITTER = "decorrelated_jitter"
    AGGRESSIVE = "aggressive"
    STANDARD = "standard"
    CONSERVATIVE = "conservative"
    CUSTOM = "custom"


@dataclass(frozen=True)
class CountWindow:
    """The last ``size`` outcomes, a true sliding window: after 1,000
    successes a "50% of the last 100" rule fires at exactly the 50th
    failure. ``size`` in ``1..=10000``.

    The window of ``CircuitBreakerConfig.window``, judged by its trip rules.
    Invalid values raise ``TypeError`` / ``ValueError`` naming
    ``window.size`` (the core's check)."""

    size: int

    def __post_init__(self) -> None:
        _native.validate_window(self)


@dataclass(frozen=True, init=False)
class TimeWindow:
    """The outcomes of the last ``length`` (a ``timedelta`` or seconds),
    kept as ``buckets`` slices of ``length / buckets``: memory is fixed,
    whatever the traffic. The window holds the current slice and the
    ``buckets - 1`` before it, so it spans between ``length - length /
    buckets`` and ``length``. ``length`` in ``(0, 365 days]``, ``buckets``
    in ``1..=1000``, slices at least 1 ms.

    The window of ``CircuitBreakerConfig.window``, judged by its trip rules.
    ``length`` is kept as a ``timedelta`` (to the microsecond). Invalid
    values raise ``TypeError`` / ``ValueError`` naming ``window.length`` or
    ``window.buckets`` (the core's checks)."""

    length: timedelta
    buckets: int = 10

    def __init__(self, length: Seconds, buckets: int = 10) -> None:
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "buckets", buckets)
        _native.validate_window(self)
        if not isinstance(length, timedelta):
            # Rounded to the microsecond; a valid length stays valid (its
            # bounds are whole milliseconds).
            object.__setattr__(self, "length", timedelta(seconds=length))


@dataclass
class CircuitBreakerConfig:
    """How a circuit breaker decides.

    The first nine fields are the original's, in its order and with its
    defaults:

    - ``failure_threshold``: consecutive failures that open a CLOSED breaker.
    - ``success_threshold``: successful trial calls that close a HALF_OPEN one.
    - ``timeout``: time spent OPEN before trial calls are admitted
      (``timedelta`` or seconds).
    - ``half_open_timeout``: how long a batch of trial calls may stay
      unresolved; when it passes with trials outstanding the breaker reopens
      and their late results no longer count.
    - ``track_exceptions``: exception classes that count as failures.
    - ``track_status_codes``: an exception whose ``status_code`` attribute is
      in this list counts as a failure too.
    - ``on_open`` / ``on_close`` / ``on_half_open``: zero-argument callables
      run once per transition into that state (the forced states included),
      on the thread that made it. Exceptions they raise are logged to the
      ``seawall`` logger and swallowed, except ``KeyboardInterrupt`` and
      ``SystemExit``, which propagate to the caller that made the
      transition.

    Seawall's additions (pass them by keyword):

    - ``half_open_max_calls``: trial calls admitted at once while HALF_OPEN.
    - ``exclude_exceptions``: exception classes that never count, even when
      ``track_exceptions`` matches them.
    - ``failure_predicate``: ``exc -> bool``; true makes an exception that is
      not excluded a failure even when no list tracks it.
    - ``result_predicate``: ``value -> bool``; true makes a returned value a
      failure (the value is still returned).
    - ``timeout_multiplier`` / ``max_timeout``: each consecutive trip
      multiplies the open time, up to ``max_timeout``.
    - ``timeout_jitter``: shortens each open time by a random share of up to
      this fraction.
    - ``slow_call_duration``: calls lasting at least this long are counted as
      slow in the metrics (and by ``slow_call_rate_threshold``).

    Trip rules over a sliding window (the core's; pass them by keyword):

    - ``window``: ``None`` (the default: no window), a ``CountWindow(size)``
      or a ``TimeWindow(length, buckets=10)``: the recent outcomes the rules
      below judge. Windows judge one CLOSED episode at a time: when the
      breaker closes, the outcomes that opened it leave the window.
    - ``failure_count_threshold``: failures within the window that open the
      breaker, whatever the number of calls. ``None`` or at least 1 (at most
      a count window's size).
    - ``failure_rate_threshold``: the share of failed calls (failures over
      successes plus failures) within the window that opens the breaker.
      ``None`` or in ``(0, 1]``.
    - ``slow_call_rate_threshold``: the share of slow calls (see
      ``slow_call_duration``, which it requires) within the window that opens
      the breaker. ``None`` or in ``(0, 1]``.
    - ``minimum_calls``: the calls a window must hold before a rate rule may
      fire. At least 1 (at most a count window's size), default 10.
    - ``trip_on_consecutive_failures``: whether ``failure_threshold``
      consecutive failures open the breaker; ``False`` only with a window
      rule set.
    - ``half_open_success_rate``: ``None`` (the default:
      ``success_threshold`` successes close, any trial failure reopens), or a
      rate in ``(0, 1]``: the trials are judged as a batch of
      ``success_threshold`` outcomes, the breaker closes once
      ``ceil(rate * success_threshold)`` succeeded and reopens once that is
      out of reach.

    The rules combine: the first to fire opens the breaker.

    Exceptions that are neither failures nor excluded propagate and are
    neutral: they do not count as failures and do not reset the failure
    count. ``asyncio.CancelledError``, ``KeyboardInterrupt``, ``SystemExit``
    and ``GeneratorExit`` are always neutral.

    Invalid values raise ``TypeError`` / ``ValueError`` naming the field, here
    and again when a breaker is built (the dataclass can be changed in
    between). A breaker takes a snapshot of its configuration when built.
    """

    failure_threshold: int = 5
    success_threshold: int = 3
    timeout: Seconds = timedelta(seconds=60)
    half_open_timeout: Seconds = timedelta(seconds=30)
    track_exceptions: List[Type[BaseException]] = field(default_factory=lambda: [Exception])
    track_status_codes: List[int] = field(default_factory=lambda: [500, 502, 503, 504])
    on_open: Optional[Callable[[], Any]] = None
    on_close: Optional[Callable[[], Any]] = None
    on_half_open: Optional[Callable[[], Any]] = None
    half_open_max_calls: int = 1
    exclude_exceptions: List[Type[BaseException]] = field(default_factory=list)
    failure_predicate: Optional[Callable[[BaseException], bool]] = None
    result_predicate: Optional[Callable[[Any], bool]] = None
    timeout_multiplier: float = 1.0
    max_timeout: Optional[Seconds] = None
    timeout_jitter: float = 0.0
    slow_call_duration: Optional[Seconds] = None
    window: Optional[Union[CountWindow, TimeWindow]] = None
    failure_count_threshold: Optional[int] = None
    failure_rate_threshold: Optional[float] = None
    slow_call_rate_threshold: Optional[float] = None
    minimum_calls: int = 10
    trip_on_consecutive_failures: bool = True
    half_open_success_rate: Optional[float] = None

    def __post_init__(self) -> None:
        _native.validate_config(self)


def _max_total_delay(value: Optional[float]) -> Optional[float]:
    """``RetryConfig.max_total_delay`` in seconds, ``None`` for no cap."""
    return None if value is None else _check.number("max_total_delay", value)


@dataclass
class RetryConfig:
    """Settings of a retry strategy (``Retrier``, ``with_resilience``).

    The numbers are the core's ``RetryConfig`` (delays in seconds). The
    fields only Python has:

    - ``jitter_enabled``: ``False`` turns the jitter off (as a
      ``jitter_factor`` of 0 does; decorrelated jitter becomes exponential).
    - ``circuit_breaker_enabled``: whether a ``Retrier`` given a breaker
      sends every attempt through it.
    - ``bulkhead_enabled``: whether a ``Retrier`` given a bulkhead takes a
      slot for every attempt.
    - ``retry_budget_enabled``: whether retries must be granted by a retry
      budget (``with_resilience`` makes one per decorated function unless
      one is given).
    - ``retryable_exceptions``: exception classes that are retried; any
      other exception propagates at once.
    - ``retryable_status_codes``: an exception whose ``status_code``
      attribute is in this list is retried too.
    - ``on_retry``: called with ``(attempt, exception)`` before each retry;
      an exception it raises is logged and ignored.
    - ``custom_backoff``: called with the attempt number, returns the delay
      in seconds; used by the ``CUSTOM`` strategy.
    """

    strategy: RetryStrategy = RetryStrategy.EXPONENTIAL_WITH_JITTER
    max_attempts: int = 3
    initial_delay: float = 1.0
    max_delay: float = 60.0
    exponential_base: float = 2.0
    jitter_enabled: bool = True
    jitter_factor: float = 0.1
    circuit_breaker_enabled: bool = True
    bulkhead_enabled: bool = False
    retry_budget_enabled: bool = True
    retryable_exceptions: List[Type[BaseException]] = field(
        default_factory=lambda: [ConnectionError, TimeoutError]
    )
    retryable_status_codes: List[int] = field(default_factory=lambda: [500, 502, 503, 504])
    on_retry: Optional[Callable[[int, BaseException], Any]] = None
    custom_backoff: Optional[Callable[[int], float]] = None
    max_total_delay: Optional[float] = None

    def __post_init__(self) -> None:
        # Invalid values raise TypeError / ValueError naming the field, as
        # CircuitBreakerConfig does; the numbers are checked by the core's
        # retry policy.
        try:
            self.strategy = RetryStrategy(self.strategy)
        except ValueError:
            raise ValueError(
                f"invalid strategy = {self.strategy!r}: must be one of "
                + ", ".join(s.value for s in RetryStrategy)
            ) from None
        for f in ("jitter_enabled", "circuit_breaker_enabled", "bulkhead_enabled",
                  "retry_budget_enabled"):
            _check.boolean(f, getattr(self, f))
        _check.exception_classes("retryable_exceptions", self.retryable_exceptions)
        _check.int_list("retryable_status_codes", self.retryable_status_codes)
        _check.optional_callable("on_retry", self.on_retry)
        _check.optional_callable("custom_backoff", self.custom_backoff)
        _native.Backoff(
            "fixed",
            self.max_attempts,
            _check.number("initial_delay", self.initial_delay),
            _check.number("max_delay", self.max_delay),
            _check.number("exponential_base", self.exponential_base),
            _check.number("jitter_factor", self.jitter_factor),
            _max_total_delay(self.max_total_delay),
        )


@dataclass
class RetryPolicy:
    """A named retry policy; ``to_config()`` turns it into a ``RetryConfig``."""

    name: str
    description: str
    max_retries: int
    initial_delay: float
    max_delay: float
    backoff_multiplier: float = 2.0
    jitter: bool = True

    def to_config(self) -> RetryConfig:
        return RetryConfig(
            strategy=(
                RetryStrategy.EXPONENTIAL_WITH_JITTER if self.jitter else RetryStrategy.EXPONENTIAL
            ),
            max_attempts=self.max_retries + 1,
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            exponential_base=self.backoff_multiplier,
            jitter_enabled=self.jitter,
        )


#: The named policies: the core's table (``RetryPolicy`` of the Rust crate,
#: ``seawall_retry_policy`` in C), one ``RetryPolicy`` per name.
RETRY_POLICIES: Dict[str, RetryPolicy] = {
    name: RetryPolicy(
        name,
        description,
        max_attempts - 1,
        initial_delay,
        max_delay,
        exponential_base,
        strategy == RetryStrategy.EXPONENTIAL_WITH_JITTER.value,
    )
    for (
        name,
        description,
        strategy,
        max_attempts,
        initial_delay,
        max_delay,
        exponential_base,
        _jitter_factor,
    ) in _native.retry_policies()
}


@dataclass
class BulkheadConfig:
    """Settings of a bulkhead (``Bulkhead``).

    The numbers are the core's ``BulkheadConfig`` (``timeout`` a
    ``timedelta`` or seconds). The fields only Python has:

    - ``pool_name``: the bulkhead's name in metrics and logs.
    - ``reject_on_full``: kept from the original for reporting; a full
      bulkhead always refuses.
    """

    max_concurrent: int = 10
    max_queue_size: int = 100
    timeout: timedelta = timedelta(seconds=30)
    pool_name: str = "default"
    reject_on_full: bool = True

    def __post_init__(self) -> None:
        # Invalid values raise TypeError / ValueError naming the field; the
        # ranges are the core bulkhead's.
        _check.name("pool_name", self.pool_name)
        _check.boolean("reject_on_full", self.reject_on_full)
        _native.Bulkhead(
            self.max_concurrent,
            self.max_queue_size,
            _check.non_negative_seconds("timeout", self.timeout),
        )


@dataclass
class AdaptiveLimiterConfig:
    """Settings of an adaptive concurrency limiter (``AdaptiveLimiter``).

    The numbers are the core's ``AdaptiveLimiterConfig``
    (``latency_threshold`` a ``timedelta`` or seconds); ``algorithm`` is
    ``"gradient"`` (Netflix's Gradient2, the default) or ``"aimd"``. The
    AIMD fields (``backoff_ratio``, ``latency_threshold``) are read by
    ``"aimd"`` only, the gradient fields (``tolerance``, ``smoothing``,
    ``queue_size``, ``long_window``, ``window_calls``, ``window``) by
    ``"gradient"`` only. ``timing`` is the clock reading an admission
    records as its call's start: ``"exact"`` (default) or ``"recent"``,
    which spares each admission the hardware clock read; latencies the
    limiter measures itself are then off by less than 1 ms either way (a
    latency given to ``record`` stays exact). The field only Python has:

    - ``pool_name``: the limiter's name in metrics and logs.
    """

    algorithm: str = "gradient"
    initial_limit: int = 20
    min_limit: int = 1
    max_limit: int = 200
    backoff_ratio: float = 0.9
    latency_threshold: timedelta = timedelta(seconds=5)
    tolerance: float = 1.5
    smoothing: float = 0.2
    queue_size: float = 4.0
    long_window: int = 600
    window_calls: int = 10
    window: timedelta = timedelta(seconds=1)
    timing: str = "exact"
    pool_name: str = "default"

    def __post_init__(self) -> None:
        # Invalid values raise TypeError / ValueError naming the field; the
        # ranges are the core limiter's.
        _check.name("pool_name", self.pool_name)
        self._native()

    def _native(
        self, clock: Optional[_native.ManualClock] = None
    ) -> _native.AdaptiveLimiter:
        """The core limiter these settings describe."""
        if not isinstance(self.algorithm, str):
            raise _check.type_error("algorithm", "a str", self.algorithm)
        return _native.AdaptiveLimiter(
            self.algorithm,
            self.initial_limit,
            self.min_limit,
            self.max_limit,
            _check.number("backoff_ratio", self.backoff_ratio),
            _check.non_negative_seconds("latency_threshold", self.latency_threshold),
            _check.number("tolerance", self.tolerance),
            _check.number("smoothing", self.smoothing),
            _check.number("queue_size", self.queue_size),
            self.long_window,
            self.window_calls,
            _check.non_negative_seconds("window", self.window),
            timing=self.timing,
            clock=clock,
            name=self.pool_name,
        )


@dataclass
class RetryBudgetConfig:
    """Settings of a retry budget (``RetryBudget``)."""

    budget_percent: float = 10.0
    min_requests: int = 100
    window_size: timedelta = timedelta(minutes=1)
    tokens_per_second: float = 10.0
    max_tokens: int = 100

    def __post_init__(self) -> None:
        # Invalid values raise TypeError / ValueError naming the field; the
        # ranges are the core retry budget's.
        _native.RetryBudget(
            _check.number("budget_percent", self.budget_percent),
            self.min_requests,
            _check.non_negative_seconds("window_size", self.window_size),
            _check.number("tokens_per_second", self.tokens_per_second),
            self.max_tokens,
        )


@dataclass
class HedgeConfig:
    """Settings of hedging (``Hedge``): after ``delay`` without an answer,
    start another attempt, up to ``max_hedges`` extra attempts per call.

    - ``quantile``: take the delay from this quantile of the latencies of
      the last ``window`` (once ``min_samples`` were seen; ``delay`` before
      that), or ``None`` for the fixed ``delay``; in ``(0, 1)``.
    - ``min_delay`` / ``max_delay``: the delay is clamped to them.
    - ``idempotent``: only calls marked idempotent are hedged (the
      dependency may see the request more than once); ``False`` by default,
      so hedging is always asked for explicitly. ``Hedge.run`` takes a
      per-call ``idempotent=`` too.

    Every extra attempt must be granted by the hedge's retry budget.
    """

    max_hedges: int = 1
    delay: timedelta = timedelta(milliseconds=100)
    quantile: Optional[float] = 0.95
    min_delay: timedelta = timedelta(milliseconds=1)
    max_delay: timedelta = timedelta(seconds=1)
    window: timedelta = timedelta(seconds=10)
    min_samples: int = 20
    idempotent: bool = False

    def __post_init__(self) -> None:
        # Invalid values raise TypeError / ValueError naming the field; the
        # ranges are the core hedge's.
        _check.boolean("idempotent", self.idempotent)
        _native.Hedge(
            self.max_hedges,
            self.delay,
            self.quantile,
            self.min_delay,
            self.max_delay,
            self.window,
            self.min_samples,
        )


@dataclass
class RetryMetrics:
    """Counters of a retry strategy."""

    total_attempts: int = 0
    successful_attempts: int = 0
    failed_attempts: int = 0
    retries_exhausted: int = 0
    total_retry_time: float = 0.0
    avg_retry_time: float = 0.0
    max_retry_time: float = 0.0
    circuit_opens: int = 0
    circuit_closes: int = 0
    requests_rejected: int = 0
    budget_exhausted: int = 0
    budget_remaining_percent: float = 100.0
    exceptions_by_type: Dict[str, int] = field(default_factory=dict)

    def record_attempt(
        self, success: bool, duration: float, exception: Optional[BaseException] = None
    ) -> None:
        """Counts one attempt that took ``duration`` seconds."""
        self.total_attempts += 1
        if success:
            self.successful_attempts += 1
        else:
            self.failed_attempts += 1
        self.total_retry_time += duration
        self.avg_retry_time = self.total_retry_time / self.total_attempts
        self.max_retry_time = max(self.max_retry_time, duration)
        if exception is not None:
            key = type(exception).__name__
            self.exceptions_by_type[key] = self.exceptions_by_type.get(key, 0) + 1


@dataclass
class RetryResult:
    """The result of a retried operation."""

    success: bool
    result: Any = None
    exception: Optional[BaseException] = None
    attempts: int = 0
    total_delay: float = 0.0
    metrics: Optional[RetryMetrics] = None


class RetryError(Exception):
    """Raised when every retry attempt failed."""

    def __init__(
        self, message: str, attempts: int, last_exception: Optional[BaseException] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.last_exception = last_exception
        #: Seconds waited between the attempts before giving up (set by the
        #: retry engine).
        self.total_delay = 0.0
