"""Resilient transports for ``httpx`` (``pip install seawall[httpx]``):
``ResilientTransport`` for ``httpx.Client`` and ``AsyncResilientTransport``
for ``httpx.AsyncClient``, wrapping any inner transport.

```python
import httpx
from seawall.httpx import ResilientTransport

client = httpx.Client(transport=ResilientTransport(), timeout=5.0)
r = client.get("https://api.example.com/items")  # retried, guarded by the host's breaker
```

Options (keyword-only, the same for both transports and for
``seawall.requests.ResilientAdapter``):

- ``registry``: where the breakers can be read (default
  ``seawall.get_registry()``; its ``clock`` also drives the breakers, rate
  limiters, bulkheads and the default retry budget). Each host gets the
  breaker ``"http:<host>:<port>"``, made from ``breaker_config`` (a
  ``CircuitBreakerConfig``) on its first request. The breakers are the
  registry's ``seawall.KeyedBreaker`` of prefix ``"http:"``
  (``registry.keyed``), shared by the clients of one registry and made
  from the first one's ``breaker_config``, ``max_hosts`` and
  ``host_idle_timeout``: ``registry.get(name)``, ``names()`` and
  ``snapshot()`` see its live hosts' breakers (as read-only
  ``KeyBreaker`` views), as do ``seawall.snapshot()`` and the metrics
  exporters; ``breakers()`` lists them. They are always the native
  engine's: the rollback switch (``set_default_implementation``) does not
  apply to them.
- ``max_hosts`` (default 1024): the hosts (keys) a client keeps a breaker
  for at once. A host is idle when no request of it is in flight, it has
  not been used for ``host_idle_timeout`` seconds (default 300) and its
  breaker is CLOSED, or HALF_OPEN past its open time; an OPEN breaker is
  never evicted. A request for a new host when ``max_hosts`` are alive
  evicts every idle host; if none is idle it is refused with
  ``seawall.KeyedBreakerFullError``, a ``CircuitBreakerOpenError``
  without ``retry_after``: handled as an open breaker's refusal (raised,
  or a 503 with ``X-Seawall-Rejected: circuit_open`` under
  ``rejected="response"``; retried after the back-off when the request
  may be retried). An evicted host's next request gets a fresh CLOSED
  breaker, and, with ``rate_limit`` or ``bulkhead``, a fresh rate limiter
  and bulkhead: a host's limiter and bulkhead are dropped once its breaker
  was evicted, when the client next meets a host it has none for with
  ``max_hosts`` hosts' held (so at most ``max_hosts + 1`` are held). A
  request of an evicted host sent before that keeps using them.
- ``key``: ``request -> str``, to key breakers (and rate limits and
  bulkheads) by something else than ``"<host>:<port>"``, e.g. host and
  route; the breaker is then ``"http:<key>"``.
- ``failure_status_codes`` (default 429, 500, 502, 503, 504): responses that
  count as the host's failures; they are returned, not raised. Transport
  errors and timeouts (``httpx.TransportError``) count as failures and
  propagate; other exceptions are neutral.
- ``retry``: a ``RetryConfig`` (default: 3 attempts, exponential back-off
  from 0.2 s with jitter, at most 10 s between attempts), or ``None`` for no
  retries. Only its schedule is used (strategy, attempts, delays,
  ``max_total_delay``, ``retry_budget_enabled``, ``custom_backoff``); what is
  retried is decided by the options below. The core's retry state machine
  decides every wait.
- ``retry_methods`` (default GET, HEAD, OPTIONS, PUT, DELETE, TRACE): only
  these are retried, and only when their body can be sent again.
- ``retry_status_codes`` (default 429, 502, 503, 504) and transport errors
  are retried. ``Retry-After`` (seconds or an HTTP-date) on a 429 or 503
  replaces the back-off; one beyond ``max_retry_after`` (default 10 s), or
  beyond the retry config's ``max_delay`` or what is left of its
  ``max_total_delay``, ends the retries and the response is returned. The
  response of an attempt that is retried is closed; the last one is
  returned as it is, and the last transport error is raised as it is.
- ``retry_budget``: a ``RetryBudget`` to share between clients (default: one
  per client, from ``RetryBudgetConfig()``); every request counts in it,
  and each retry must be granted by it.
- ``rate_limit``: calls per second per host (a ``RateLimiter`` each, bursts
  of as many); a request waits up to ``max_rate_limit_wait`` (default 0)
  for its turn, else is refused.
- ``bulkhead``: a ``BulkheadConfig``; each host gets a ``Bulkhead`` from
  it (named ``"http:<host>:<port>"``), holding a slot while a request is
  sent and its response head awaited.
- ``rejected``: ``"raise"`` (default) raises the refusal,
  ``CircuitBreakerOpenError``, ``RateLimitExceededError`` or
  ``BulkheadFullError``, with the request as its ``request`` attribute;
  ``"response"`` returns a synthetic response instead: 503 (breaker,
  bulkhead) or 429 (rate limit), with ``Retry-After`` when the refusal
  announces when to come back, the header ``X-Seawall-Rejected``
  (``circuit_open``, ``bulkhead_full``, ``rate_limited``) and the refusal
  in the response's ``extensions["seawall_rejected"]``. Refusals are not
  the host's failures. A refusal of a retry ends the call the same way,
  except that a retry waits for an open breaker's next trial when it is
  due within the retry config's ``max_delay``.
- ``sleep`` / ``asleep``: the waits between attempts (and of the rate
  limiters), injectable for tests.
- ``name``: what the retries are counted under in ``seawall.snapshot()``
  (``["retriers"][name]``) and the metrics exporters (default ``"http"``);
  give clients distinct names to tell their retries apart.

A response is judged when its head arrives: a failure while reading its
body later is not seen by the breaker.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import httpx

from . import _http
from ._http import Rejection

__all__ = ["ResilientTransport", "AsyncResilientTransport", "REJECTED_HEADER"]

REJECTED_HEADER = _http.REJECTED_HEADER


class _Wire(_http.Wire[httpx.Request, httpx.Response]):
    def is_failure(self, exc: BaseException) -> bool:
        return isinstance(exc, httpx.TransportError) and not isinstance(
            exc, httpx.UnsupportedProtocol
        )

    def header(self, response: httpx.Response, name: str) -> Optional[str]:
        value: Optional[str] = response.headers.get(name)
        return value

    def synthetic(
        self,
        request: httpx.Request,
        status: int,
        headers: Dict[str, str],
        rejection: Rejection,
    ) -> httpx.Response:
        return httpx.Response(
            status,
            headers=headers,
            request=request,
            extensions={"seawall_rejected": rejection},
        )


_WIRE = _Wire()


def _target(request: httpx.Request) -> tuple[str, str, bool]:
    """The request's default key, its method, and whether its body can be
    sent again."""
    url = request.url
    if _PARSED:
        ref = url._uri_reference
        parts = (ref.scheme, ref.host, ref.port)
        key = _KEYS.get(parts)
        if key is None:
            if len(_KEYS) >= _MAX_KEYS:
                _KEYS.clear()
            key = _KEYS[parts] = _http.host_key(url.scheme, url.host, url.port)
    else:
        key = _http.host_key(url.scheme, url.host, url.port)
    return key, request.method, isinstance(request.stream, httpx.ByteStream)


def _keeps_parsed_reference() -> bool:
    """httpx's URL properties decode on each read (about a microsecond for
    the scheme, host and port), so the default keys are remembered by the
    URL's parsed reference instead, when this httpx version keeps one whose
    scheme, host and port are those properties before decoding."""
    try:
        for text in ("HTTP://Example.COM:80/a", "https://xn--bcher-kva.example:8443/"):
            url = httpx.URL(text)
            ref = url._uri_reference
            if (ref.scheme, ref.host, ref.port) != (
                url.scheme,
                url.raw_host.decode("ascii"),
                url.port,
            ):
                return False
    except Exception:  # another httpx: its public properties it is
        return False
    return True


_PARSED = _keeps_parsed_reference()
#: The default keys by parsed (scheme, host, port), at most ``_MAX_KEYS``.
_KEYS: Dict[Any, str] = {}
_MAX_KEYS = 4096


class _Observed:
    """What both transports report of their policy."""

    _policy: _http.Policy[httpx.Request, httpx.Response]

    def breakers(self) -> Dict[str, Any]:
        """The breakers of the live hosts (or keys) of this transport's
        registry family (its own and other clients' of the registry), by
        name, as read-only views."""
        return self._policy.breakers()

    def retry_counts(self) -> Dict[str, int]:
        """How the requests that could be retried ended (calls by outcome,
        and ``retries``)."""
        return self._policy.stats.counts()


class ResilientTransport(_Observed, httpx.BaseTransport):
    """An ``httpx`` transport that sends through ``transport`` (default
    ``httpx.HTTPTransport()``) behind a breaker per host, with retries, and
    optionally a rate limit and a bulkhead per host. The options are
    described in the module's documentation."""

    def __init__(self, transport: Optional[httpx.BaseTransport] = None, **options: Any) -> None:
        self.transport = httpx.HTTPTransport() if transport is None else transport
        self._policy: _http.Policy[httpx.Request, httpx.Response] = _http.Policy(_WIRE, **options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key, method, replayable = _target(request)
        inner = self.transport
        return self._policy.run(
            request,
            key,
            method,
            replayable,
            lambda: inner.handle_request(request),
            _close,
        )

    def close(self) -> None:
        self.transport.close()


class AsyncResilientTransport(_Observed, httpx.AsyncBaseTransport):
    """``ResilientTransport`` for ``httpx.AsyncClient``: sends through
    ``transport`` (default ``httpx.AsyncHTTPTransport()``)."""

    def __init__(
        self, transport: Optional[httpx.AsyncBaseTransport] = None, **options: Any
    ) -> None:
        self.transport = httpx.AsyncHTTPTransport() if transport is None else transport
        self._policy: _http.Policy[httpx.Request, httpx.Response] = _http.Policy(_WIRE, **options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key, method, replayable = _target(request)
        inner = self.transport
        return await self._policy.arun(
            request,
            key,
            method,
            replayable,
            lambda: inner.handle_async_request(request),
            _aclose,
        )

    async def aclose(self) -> None:
        await self.transport.aclose()


def _close(response: httpx.Response) -> None:
    response.close()


async def _aclose(response: httpx.Response) -> None:
    await response.aclose()
