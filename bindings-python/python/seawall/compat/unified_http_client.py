"""The original package's HTTP client (``shared.clients.unified_http_client``)
on Seawall's ``httpx`` transports (``pip install seawall[httpx]``).

``UnifiedHTTPClient`` is a thin ``httpx`` client, sync and async, whose
requests go through ``seawall.httpx.ResilientTransport``: a breaker per
endpoint (host and port by default, or what ``endpoint(request)``
returns), failure statuses counted without being raised, retries of
idempotent requests with back-off and one retry budget shared by its sync
and async sides, ``Retry-After`` honoured, and metrics (``get_metrics()``,
and the process-wide exporters: breakers ``http:<endpoint>``, retries
under ``name``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable, Dict, Optional, Type

import httpx

from ..budget import RetryBudget
from ..httpx import AsyncResilientTransport, ResilientTransport
from ..models import RetryBudgetConfig
from ..registry import Registry, get_registry

__all__ = ["UnifiedHTTPClient"]


class UnifiedHTTPClient:
    """An ``httpx`` client behind a breaker per endpoint, with retries.

    ``base_url``, ``timeout`` and ``headers`` are ``httpx``'s; ``endpoint``
    (``request -> str``) keys the breakers (default: host and port);
    ``name`` counts the retries; ``transport`` / ``async_transport`` are the
    inner transports (default: httpx's). Every other keyword is an option
    of ``seawall.httpx.ResilientTransport`` (``breaker_config``, ``retry``,
    ``retry_methods``, ``rate_limit``, ``bulkhead``, ``rejected``, ...).
    Sync requests: ``request``, ``get``, ``post``, ``put``, ``patch``,
    ``delete``; async ones: ``arequest``, ``aget``, ... Use it as a
    (async) context manager, or call ``close()`` / ``aclose()``.
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        timeout: float = 30.0,
        headers: Optional[Dict[str, str]] = None,
        endpoint: Optional[Callable[[httpx.Request], str]] = None,
        name: str = "unified_http_client",
        registry: Optional[Registry] = None,
        transport: Optional[httpx.BaseTransport] = None,
        async_transport: Optional[httpx.AsyncBaseTransport] = None,
        **options: Any,
    ) -> None:
        registry = get_registry() if registry is None else registry
        if "retry_budget" not in options:
            # One budget for both sides: retries are a share of all the
            # client's requests, sync or async.
            options["retry_budget"] = RetryBudget(
                RetryBudgetConfig(), name=name, clock=registry.clock
            )
        options.update(registry=registry, name=name, key=endpoint)
        self.name = name
        self._transport = ResilientTransport(transport, **options)
        self._async_transport = AsyncResilientTransport(async_transport, **options)
        common: Dict[str, Any] = dict(base_url=base_url, timeout=timeout, headers=headers)
        self.client = httpx.Client(transport=self._transport, **common)
        self.async_client = httpx.AsyncClient(transport=self._async_transport, **common)

    # ------------------------------------------------------------- sync

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Sends ``method url`` (``httpx.Client.request``'s arguments)."""
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    # ------------------------------------------------------------ async

    async def arequest(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """``request`` for asyncio."""
        return await self.async_client.request(method, url, **kwargs)

    async def aget(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.arequest("GET", url, **kwargs)

    async def apost(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.arequest("POST", url, **kwargs)

    async def aput(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.arequest("PUT", url, **kwargs)

    async def apatch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.arequest("PATCH", url, **kwargs)

    async def adelete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.arequest("DELETE", url, **kwargs)

    # ---------------------------------------------------------- metrics

    def get_metrics(self) -> Dict[str, Any]:
        """``{"endpoints": {breaker name: its get_metrics()}, "retries":
        the retry counts under name}`` for the endpoints used so far."""
        breakers = {**self._transport.breakers(), **self._async_transport.breakers()}
        sync, asyn = self._transport.retry_counts(), self._async_transport.retry_counts()
        return {
            "endpoints": {n: b.get_metrics() for n, b in sorted(breakers.items())},
            "retries": {k: sync[k] + asyn[k] for k in sync},
        }

    # -------------------------------------------------------- lifecycle

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.async_client.aclose()

    def __enter__(self) -> "UnifiedHTTPClient":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    async def __aenter__(self) -> "UnifiedHTTPClient":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()
