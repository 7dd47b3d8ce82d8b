"""What ``seawall.httpx`` and ``seawall.requests`` share: the options of a
resilient HTTP client (``Policy``), the guards of one host (its breaker, in
the policy's ``KeyedBreaker``, and ``Guards``: its rate limiter and
bulkhead), how an exchange is judged (breaker
failure or not, retryable or not, ``Retry-After``), and the retry loop
(``Policy.run`` / ``Policy.arun``). The client modules only translate their
request and response types (``Wire``).

Every decision is an engine's: the breaker admits and trips, the core's
``RetryState`` decides whether and how long to wait before another attempt
(attempts, back-off and jitter, ``max_total_delay``, the retry budget), the
rate limiter and the bulkhead admit."""

from __future__ import annotations

import dataclasses
import email.utils
import math
import operator
import threading
import time
from typing import (
    Any,
    Awaitable,
    Callable,
    Collection,
    Dict,
    FrozenSet,
    Generic,
    Iterable,
    Literal,
    Mapping,
    Optional,
    TypeVar,
    Union,
)

from . import _check, _native
from ._time import asleep as _asleep, sleep as _sleep
from .backoff import BackoffCalculator, _custom_delays, _no_custom_backoff
from .budget import RetryBudget
from .bulkhead import Bulkhead
from .exceptions import BulkheadFullError, CircuitBreakerOpenError, RateLimitExceededError
from .keyed_breaker import KeyBreaker
from .models import BulkheadConfig, CircuitBreakerConfig, RetryBudgetConfig, RetryConfig, RetryStrategy
from .rate_limit import RateLimiter
from .registry import Registry, get_registry

R = TypeVar("R")
Q = TypeVar("Q")

#: The methods retried by default: those RFC 9110 calls idempotent.
RETRY_METHODS: FrozenSet[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Statuses counted as failures of the host by default.
FAILURE_STATUS_CODES: FrozenSet[int] = frozenset({429, 500, 502, 503, 504})
#: Statuses retried by default.
RETRY_STATUS_CODES: FrozenSet[int] = frozenset({429, 502, 503, 504})
#: Statuses whose ``Retry-After`` is honoured.
RETRY_AFTER_STATUS_CODES: FrozenSet[int] = frozenset({429, 503})
#: The header of a synthetic response (``rejected="response"``), naming
#: what refused the request: ``circuit_open``, ``bulkhead_full`` or
#: ``rate_limited``.
REJECTED_HEADER = "X-Seawall-Rejected"

#: The refusals of a host's guards.
REJECTIONS = (CircuitBreakerOpenError, BulkheadFullError, RateLimitExceededError)
Rejection = Union[CircuitBreakerOpenError, BulkheadFullError, RateLimitExceededError]


def default_retry() -> RetryConfig:
    """The retries of a client given no ``retry=``: 3 attempts, exponential
    back-off from 0.2 s with jitter, delays of at most 10 s, within the
    retry budget."""
    return RetryConfig(
        strategy=RetryStrategy.EXPONENTIAL_WITH_JITTER,
        max_attempts=3,
        initial_delay=0.2,
        max_delay=10.0,
    )


def host_key(scheme: str, host: str, port: Optional[int]) -> str:
    """``"<host>:<port>"``, the port defaulting to the scheme's."""
    if port is None:
        port = 443 if scheme.lower() in ("https", "wss") else 80
    return f"{host.lower()}:{port}"


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """The seconds a ``Retry-After`` header asks for: delay-seconds, or an
    HTTP-date (relative to ``now``, default the wall clock; a date in the
    past is 0). ``None`` when absent or unreadable."""
    if value is None:
        return None
    v = value.strip()
    if v.isdigit():
        return float(int(v))
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Wire(Generic[Q, R]):
    """What the loop needs to know of a client's requests (``Q``) and
    responses (``R``); each client module supplies one."""

    def is_failure(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised by sending, is the host's failure (a
        transport error or a timeout)."""
        raise NotImplementedError

    #: A response's status: both clients' responses carry it as
    #: ``status_code`` (read by a C-level getter, the cheapest way).
    status: Callable[[Any], int] = operator.attrgetter("status_code")

    def header(self, response: R, name: str) -> Optional[str]:
        raise NotImplementedError

    def synthetic(
        self, request: Q, status: int, headers: Dict[str, str], rejection: Rejection
    ) -> R:
        """A response of ``status`` made without sending ``request``."""
        raise NotImplementedError


class Guards:
    """What admits the requests of one key besides its breaker: its rate
    limiter and bulkhead, when the client has them."""

    __slots__ = ("limiter", "bulkhead")

    def __init__(self, limiter: Optional[RateLimiter], bulkhead: Optional[Bulkhead]) -> None:
        self.limiter = limiter
        self.bulkhead = bulkhead

    def admit(self) -> None:
        """The rate limit, then a bulkhead slot (given back by ``release``);
        raises their refusals."""
        if self.limiter is not None:
            self.limiter.acquire()
        bh = self.bulkhead
        if bh is not None and not bh.acquire():
            raise bh._full()

    async def aadmit(self) -> None:
        """``admit`` for asyncio."""
        if self.limiter is not None:
            await self.limiter.aacquire()
        bh = self.bulkhead
        if bh is not None and not await bh.aacquire():
            raise bh._full()

    def release(self) -> None:
        if self.bulkhead is not None:
            self.bulkhead.release()


#: The hosts (keys) a client keeps a breaker for at once, by default.
MAX_HOSTS = 1024
#: The seconds a host's breaker must go unused before it may be evicted,
#: by default.
HOST_IDLE_TIMEOUT = 300.0


class Policy(Generic[Q, R]):
    """The options of one resilient client (documented on the client
    classes), checked once, and the guards it made per key.

    The breakers are the registry's ``KeyedBreaker`` of prefix ``"http:"``
    (``family``, shared by the clients of one registry, at most
    ``max_hosts`` keys: the first client's settings make it), so its live
    keys' breakers read as ``"http:<key>"`` there. With a rate limit or a
    bulkhead, the per-key ``Guards`` are kept in a dict bounded the same
    way: each time a key without guards is met and the dict holds
    ``max_hosts`` keys, the guards of the keys whose breaker was evicted
    are dropped (so it never holds more than ``max_hosts + 1``)."""

    def __init__(
        self,
        wire: Wire[Q, R],
        *,
        registry: Optional[Registry] = None,
        breaker_config: Optional[CircuitBreakerConfig] = None,
        key: Optional[Callable[[Q], str]] = None,
        failure_status_codes: Iterable[int] = FAILURE_STATUS_CODES,
        retry: Union[RetryConfig, None, Literal["default"]] = "default",
        retry_budget: Optional[RetryBudget] = None,
        retry_methods: Iterable[str] = RETRY_METHODS,
        retry_status_codes: Iterable[int] = RETRY_STATUS_CODES,
        max_retry_after: float = 10.0,
        rate_limit: Optional[int] = None,
        max_rate_limit_wait: float = 0.0,
        bulkhead: Optional[BulkheadConfig] = None,
        rejected: str = "raise",
        max_hosts: int = MAX_HOSTS,
        host_idle_timeout: float = HOST_IDLE_TIMEOUT,
        sleep: Optional[Callable[[float], Any]] = None,
        asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
        name: str = "http",
    ) -> None:
        self.wire = wire
        self.registry = get_registry() if registry is None else _check.instance(
            "registry", registry, Registry
        )
        if breaker_config is not None and type(breaker_config) is not CircuitBreakerConfig:
            _native.validate_config(breaker_config)
        self.breaker_config = breaker_config
        _check.optional_callable("key", key)
        self.key = key
        self.failure_status_codes = _codes("failure_status_codes", failure_status_codes)
        if retry is None:
            self.retry: Optional[RetryConfig] = None
        elif isinstance(retry, str) and retry == "default":
            self.retry = default_retry()
        else:
            self.retry = _check.instance("retry", retry, RetryConfig, "a RetryConfig or None")
        retry = self.retry
        self.calc = BackoffCalculator(None)
        self.custom: Optional[Callable[[int], float]] = None
        if retry is not None:
            if retry.strategy == RetryStrategy.CUSTOM:
                if retry.custom_backoff is None:
                    _no_custom_backoff(0)
                self.custom = _custom_delays(retry)
            self.calc._native_for(retry)  # checked now, not at the first failure
        if retry_budget is not None:
            _check.instance("retry_budget", retry_budget, RetryBudget)
        elif retry is not None and retry.retry_budget_enabled:
            retry_budget = RetryBudget(
                RetryBudgetConfig(), name=_check.name("name", name), clock=self.registry.clock
            )
        self.budget = None if retry is None or not retry.retry_budget_enabled else retry_budget
        if isinstance(retry_methods, str):
            raise _check.type_error("retry_methods", "a collection of method names", retry_methods)
        self.retry_methods = frozenset(str(m).upper() for m in retry_methods)
        self.retry_status_codes = _codes("retry_status_codes", retry_status_codes)
        self.max_retry_after = _check.non_negative_seconds("max_retry_after", max_retry_after)
        if rate_limit is not None:
            n = _check.integer("rate_limit", rate_limit)
            if n < 1:
                raise ValueError(f"invalid rate_limit = {n}: must be calls per second >= 1")
        self.rate_limit = rate_limit
        self.max_rate_limit_wait = _check.non_negative_seconds(
            "max_rate_limit_wait", max_rate_limit_wait
        )
        if bulkhead is not None:
            _check.instance("bulkhead", bulkhead, BulkheadConfig)
        self.bulkhead = bulkhead
        if rejected not in ("raise", "response"):
            raise ValueError(f"invalid rejected = {rejected!r}: must be 'raise' or 'response'")
        self.respond_to_rejections = rejected == "response"
        _check.optional_callable("sleep", sleep)
        _check.optional_callable("asleep", asleep)
        self.sleep = sleep or _sleep
        self.asleep = asleep or _asleep
        self.name = _check.name("name", name)
        # How the calls that may be retried ended, for seawall.snapshot()
        # and the exporters.
        self.stats = _native.RetryStats(self.name)
        n = _check.integer("max_hosts", max_hosts)
        if not 1 <= n <= 0xFFFF_FFFF:
            raise ValueError(
                f"invalid max_hosts = {n}: must be the number of hosts (keys) a client "
                "keeps a breaker for at once, >= 1 and < 2**32"
            )
        self.host_idle_timeout = _check.non_negative_seconds(
            "host_idle_timeout", host_idle_timeout
        )
        self.family = self.registry.keyed(
            "http:", breaker_config, max_keys=n, idle_timeout=self.host_idle_timeout
        )
        #: Whether anything but the breaker admits (``Guards``).
        self.gated = rate_limit is not None or bulkhead is not None
        self._guards: Dict[str, Guards] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ guards

    def guards(self, key: str) -> Guards:
        """The rate limiter and bulkhead of ``key``, made on first use
        (``self.gated`` only)."""
        g = self._guards.get(key)
        if g is not None:
            return g
        name = f"http:{key}"
        with self._lock:
            g = self._guards.get(key)
            if g is None:
                if len(self._guards) >= self.family.max_keys:
                    self._drop_evicted()
                clock = self.registry.clock
                limiter = None
                if self.rate_limit is not None:
                    limiter = RateLimiter(
                        self.rate_limit,
                        1.0,
                        max_wait=self.max_rate_limit_wait,
                        clock=clock,
                        sleep=self.sleep,
                        asleep=self.asleep,
                        name=name,
                    )
                bh = None
                if self.bulkhead is not None:
                    bh = Bulkhead(dataclasses.replace(self.bulkhead, pool_name=name), clock=clock)
                g = self._guards[key] = Guards(limiter, bh)
        return g

    def _drop_evicted(self) -> None:
        """Drops the guards of the keys without a breaker in the family
        (evicted, or refused when it was full); under ``_lock``. A request
        holding them finishes with them; the key's next request gets fresh
        ones."""
        live = set(self.family.keys())
        for k in [k for k in self._guards if k.encode() not in live]:
            del self._guards[k]

    def breakers(self) -> Dict[str, KeyBreaker]:
        """The breakers of the live keys (those seen and not evicted), by
        name, as read-only views."""
        views = (self.family.breaker(k) for k in self.family.keys())
        return {v.name: v for v in views if v is not None}

    def key_of(self, key: Callable[[Q], str], request: Q) -> str:
        """The key the user's ``key`` function gives ``request``, checked."""
        k = key(request)
        if not isinstance(k, str):
            raise _check.type_error("key(request)", "a str", k)
        _check.name("key", f"http:{k}")
        return k

    # ------------------------------------------------------- judgements

    def retries(self, method: str, replayable: bool) -> bool:
        """Whether a request may be retried: the policy retries, its method
        is one of ``retry_methods`` and its body can be sent again."""
        return self.retry is not None and replayable and method.upper() in self.retry_methods

    def _judge_error(self, permit: _native.KeyedPermit, exc: BaseException) -> None:
        """Sending raised: a transport error or a timeout is the host's
        failure, any other exception is neutral."""
        if self.wire.is_failure(exc):
            permit.failure()
        else:
            permit.ignore()

    def _ended(self, retrying: bool, attempts: int, status: int) -> None:
        """Counts a call that may be retried and ended on a response of
        ``status`` that is not retried."""
        if retrying:
            if status in self.failure_status_codes:
                self.stats.stopped(attempts, True)
            else:
                self.stats.succeeded(attempts)

    def _rejected(self, rejection: Rejection, request: Q) -> R:
        """What a refused request gives its caller: the refusal raised, its
        ``request`` attached, or a synthetic response."""
        setattr(rejection, "request", request)
        if not self.respond_to_rejections:
            raise rejection
        retry_after: Optional[float] = None
        if isinstance(rejection, RateLimitExceededError):
            status, kind, retry_after = 429, "rate_limited", rejection.retry_after
        elif isinstance(rejection, CircuitBreakerOpenError):
            status, kind, retry_after = 503, "circuit_open", rejection.retry_after
        else:
            status, kind = 503, "bulkhead_full"
        headers = {REJECTED_HEADER: kind}
        if retry_after is not None:
            headers["Retry-After"] = str(max(0, math.ceil(retry_after)))
        return self.wire.synthetic(request, status, headers, rejection)

    # --------------------------------------------------------- the loop
    #
    # A request that succeeds at once (the common case) costs its guards'
    # checks, the breaker's permit and one status lookup: the retry state
    # (``_Call``) is made only when an attempt fails, is refused, or
    # answers a status that is retried.

    def run(
        self,
        request: Q,
        key: str,
        method: str,
        replayable: bool,
        send: Callable[[], R],
        close: Callable[[R], Any],
    ) -> R:
        """Sends ``request`` (``send()``, one attempt) to the host of
        ``key`` through its guards, retrying as the policy says; ``close``
        discards the response of an attempt that is retried."""
        if self.key is not None:
            key = self.key_of(self.key, request)
        guards = (self._guards.get(key) or self.guards(key)) if self.gated else None
        # The family's acquire (native: no Python frame).
        acquire = self.family.acquire
        if self.budget is not None:
            self.budget.record_attempt(False)
        call: Optional[_Call[Q, R]] = None
        while True:
            try:
                if guards is not None:
                    guards.admit()
                try:
                    permit = acquire(key)
                    try:
                        response = send()
                    except BaseException as e:
                        self._judge_error(permit, e)
                        raise
                    status = self.wire.status(response)
                    if status in self.failure_status_codes:
                        permit.failure()
                    else:
                        permit.success()
                finally:
                    if guards is not None:
                        guards.release()
            except REJECTIONS as e:
                call = call or _Call(self, method, replayable)
                d = call.after_rejection(e)
                if d is None:
                    return self._rejected(e, request)
            except Exception as e:
                call = call or _Call(self, method, replayable)
                d = call.after_error(e)
                if d is None:
                    raise
            else:
                if call is None:
                    if status not in self.retry_status_codes:
                        self._ended(self.retries(method, replayable), 1, status)
                        return response
                    call = _Call(self, method, replayable)
                d = call.after_response(response, status)
                if d is None:
                    return response
                close(response)
            if d > 0:
                self.sleep(d)
            call.begin()

    async def arun(
        self,
        request: Q,
        key: str,
        method: str,
        replayable: bool,
        send: Callable[[], Awaitable[R]],
        close: Callable[[R], Awaitable[Any]],
    ) -> R:
        """``run`` for asyncio."""
        if self.key is not None:
            key = self.key_of(self.key, request)
        guards = (self._guards.get(key) or self.guards(key)) if self.gated else None
        # The family's acquire (native: no Python frame).
        acquire = self.family.acquire
        if self.budget is not None:
            self.budget.record_attempt(False)
        call: Optional[_Call[Q, R]] = None
        while True:
            try:
                if guards is not None:
                    await guards.aadmit()
                try:
                    permit = acquire(key)
                    try:
                        response = await send()
                    except BaseException as e:
                        self._judge_error(permit, e)
                        raise
                    status = self.wire.status(response)
                    if status in self.failure_status_codes:
                        permit.failure()
                    else:
                        permit.success()
                finally:
                    if guards is not None:
                        guards.release()
            except REJECTIONS as e:
                call = call or _Call(self, method, replayable)
                d = call.after_rejection(e)
                if d is None:
                    return self._rejected(e, request)
            except Exception as e:
                call = call or _Call(self, method, replayable)
                d = call.after_error(e)
                if d is None:
                    raise
            else:
                if call is None:
                    if status not in self.retry_status_codes:
                        self._ended(self.retries(method, replayable), 1, status)
                        return response
                    call = _Call(self, method, replayable)
                d = call.after_response(response, status)
                if d is None:
                    return response
                await close(response)
            if d > 0:
                await self.asleep(d)
            call.begin()


class _Call(Generic[Q, R]):
    """The retry decisions of one request after its first attempt did not
    simply succeed: ``after_*`` return the delay before the next attempt,
    or ``None`` to stop. The core's ``RetryState`` is made at the first
    failure (the first attempt was counted in the budget when the call
    started)."""

    __slots__ = ("policy", "retrying", "state")

    def __init__(self, policy: Policy[Q, R], method: str, replayable: bool) -> None:
        self.policy = policy
        self.retrying = policy.retries(method, replayable)
        self.state: Optional[_native.RetryState] = None

    def begin(self) -> None:
        if self.state is not None:
            self.state.begin()

    def _state(self) -> _native.RetryState:
        s = self.state
        if s is None:
            p = self.policy
            assert p.retry is not None
            s = self.state = _native.RetryState(
                p.calc._native_for(p.retry),
                None if p.budget is None else p.budget._native,
                custom=p.custom,
                attempts=1,
            )
        return s

    def _decided(self, delay: Optional[float]) -> Optional[float]:
        if delay is None:
            s = self._state()
            self.policy.stats.stopped(s.attempts, s.stop == "not_retryable")
        return delay

    def after_rejection(self, rejection: Rejection) -> Optional[float]:
        """A guard refused the attempt: an open breaker's next trial is
        waited for when the retry schedule allows it (as ``Retrier`` does);
        the refusals of the rate limiter (which already waited up to
        ``max_rate_limit_wait``) and of the bulkhead end the call."""
        if not self.retrying:
            return None
        state = self._state()
        if isinstance(rejection, CircuitBreakerOpenError):
            return self._decided(state.on_rejection(rejection.retry_after))
        return self._decided(state.on_failure(False))

    def after_error(self, exc: Exception) -> Optional[float]:
        """Sending raised: a transport error or timeout is retried."""
        if not self.retrying:
            return None
        return self._decided(self._state().on_failure(self.policy.wire.is_failure(exc)))

    def after_response(self, response: R, status: int) -> Optional[float]:
        """A response of ``status`` arrived: a retryable status is retried
        after the back-off, or after its ``Retry-After`` (429, 503) when
        that is at most ``max_retry_after``; a longer one ends the call
        with this response."""
        if not self.retrying:
            return None
        p = self.policy
        if status not in p.retry_status_codes:
            p._ended(True, 1 if self.state is None else self.state.attempts, status)
            return None
        retry_after = None
        if status in RETRY_AFTER_STATUS_CODES:
            retry_after = parse_retry_after(p.wire.header(response, "Retry-After"))
        state = self._state()
        if retry_after is None:
            return self._decided(state.on_failure(True))
        if retry_after > p.max_retry_after:
            p.stats.stopped(state.attempts, False)
            return None
        return self._decided(state.on_rejection(retry_after))


def _codes(field: str, codes: Iterable[int]) -> FrozenSet[int]:
    if isinstance(codes, (Mapping, str, bytes)) or not isinstance(codes, Collection):
        raise _check.type_error(field, "a collection of status codes", codes)
    _check.int_list(field, codes)
    return frozenset(codes)

