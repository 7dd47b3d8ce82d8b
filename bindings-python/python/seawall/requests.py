"""A resilient transport adapter for ``requests`` (``pip install
seawall[requests]``): ``ResilientAdapter``, mounted on a ``Session``.

```python
import requests
from seawall.requests import ResilientAdapter

session = requests.Session()
adapter = ResilientAdapter()
session.mount("https://", adapter)
session.mount("http://", adapter)
r = session.get("https://api.example.com/items", timeout=5)
```

It takes the options of ``seawall.httpx``'s transports (described there),
with the same behaviour: a breaker per host (``"http:<host>:<port>"``),
retries of idempotent requests through the core's retry state machine and
a retry budget, ``Retry-After``, optional rate limits and bulkheads per host,
and refusals raised or answered with a synthetic 503 / 429
(``rejected="response"``, marked by the header ``X-Seawall-Rejected``).
Transport errors and timeouts are ``requests.ConnectionError`` and
``requests.Timeout``; they count as the host's failures and propagate.
urllib3's own retries stay off (``max_retries`` is 0).

A response is judged when its head arrives: a failure while ``Session``
reads its body is not seen by the breaker.
"""

from __future__ import annotations

import http
import io
from typing import Any, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from . import _http
from ._http import Rejection

__all__ = ["ResilientAdapter", "REJECTED_HEADER"]

REJECTED_HEADER = _http.REJECTED_HEADER

_Timeout = Union[None, float, Tuple[float, float], Tuple[float, None]]


class _Wire(_http.Wire[requests.PreparedRequest, requests.Response]):
    def __init__(self, adapter: HTTPAdapter) -> None:
        self.adapter = adapter

    def is_failure(self, exc: BaseException) -> bool:
        return isinstance(exc, (requests.ConnectionError, requests.Timeout))

    def header(self, response: requests.Response, name: str) -> Optional[str]:
        return response.headers.get(name)

    def synthetic(
        self,
        request: requests.PreparedRequest,
        status: int,
        headers: Dict[str, str],
        rejection: Rejection,
    ) -> requests.Response:
        r = requests.Response()
        r.status_code = status
        r.reason = http.HTTPStatus(status).phrase
        r.headers = CaseInsensitiveDict(headers)
        r.url = request.url or ""
        r.request = request
        r.connection = self.adapter
        r.raw = io.BytesIO(b"")
        r._content = b""
        return r


class ResilientAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that sends behind a breaker per host, with
    retries, and optionally a rate limit and a bulkhead per host (the
    options of ``seawall.httpx``). ``pool_connections``, ``pool_maxsize``
    and ``pool_block`` are ``HTTPAdapter``'s."""

    def __init__(
        self,
        pool_connections: int = 10,
        pool_maxsize: int = 10,
        pool_block: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=0,
            pool_block=pool_block,
        )
        self._policy: _http.Policy[requests.PreparedRequest, requests.Response] = _http.Policy(
            _Wire(self), **options
        )

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: Union[bool, str] = True,
        cert: Union[None, bytes, str, Tuple[Union[bytes, str], Union[bytes, str]]] = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        key = _http.host_key(url.scheme, url.hostname or "", url.port)
        replayable = request.body is None or isinstance(request.body, (bytes, str))

        def attempt() -> requests.Response:
            return super(ResilientAdapter, self).send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )

        return self._policy.run(
            request, key, request.method or "GET", replayable, attempt, _close
        )


def _close(response: requests.Response) -> None:
    response.close()
