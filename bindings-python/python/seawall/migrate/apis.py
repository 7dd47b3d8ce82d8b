"""The old circuit-breaker APIs that ``seawall.migrate`` finds, by the
qualified name they resolve to, with what each becomes in Seawall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional

RETRY_STRATEGY = "shared.utils.retry_strategy"
PROTECTION_FACADE = "shared.security.protection_facade"
HTTP_CLIENT = "shared.clients.unified_http_client"

#: Module paths whose import statements the rewriter edits, and the Seawall
#: module that provides the same names through ``install_legacy_aliases()``.
OLD_MODULES: Dict[str, str] = {
    RETRY_STRATEGY: "seawall.compat.retry_strategy",
    PROTECTION_FACADE: "seawall.compat.protection_facade",
    HTTP_CLIENT: "seawall.compat.unified_http_client",
}


#: The names each Seawall module of ``OLD_MODULES`` provides (its
#: ``__all__``; a test keeps them equal). An import of another name from an
#: old module cannot be pointed at Seawall, nor routed there by
#: ``install_legacy_aliases()``.
COMPAT_NAMES: Dict[str, FrozenSet[str]] = {
    "seawall.compat.retry_strategy": frozenset({"CircuitBreaker", "with_retry"}),
    "seawall.compat.protection_facade": frozenset({"ProtectionFacade", "get_protection_facade"}),
    "seawall.compat.unified_http_client": frozenset({"UnifiedHTTPClient"}),
}


@dataclass(frozen=True)
class OldApi:
    """One old name: ``kind`` groups the findings, ``target`` is the Seawall
    replacement, ``rewritable`` whether ``rewrite`` converts its calls."""

    kind: str
    target: str
    rewritable: bool


OLD_APIS: Dict[str, OldApi] = {
    f"{RETRY_STRATEGY}.CircuitBreaker": OldApi(
        "breaker",
        "seawall.UnifiedCircuitBreaker(seawall.CircuitBreakerConfig(...))",
        True,
    ),
    f"{RETRY_STRATEGY}.with_retry": OldApi(
        "with_retry",
        "seawall.with_resilience(seawall.RetryConfig(...), circuit_breaker=..., name=...)",
        True,
    ),
    f"{PROTECTION_FACADE}.get_protection_facade": OldApi(
        "protection_facade",
        "seawall.create_circuit_breaker_adapter(name, config, implementation=\"distributed\")"
        " per breaker name (seawall.FleetRateLimiter for its rate limits)",
        True,
    ),
    f"{PROTECTION_FACADE}.ProtectionFacade": OldApi(
        "protection_facade",
        "seawall.create_circuit_breaker_adapter(name, config, implementation=\"distributed\")",
        True,
    ),
    f"{HTTP_CLIENT}.UnifiedHTTPClient": OldApi(
        "http_client",
        "seawall.compat.unified_http_client.UnifiedHTTPClient, or an httpx client on"
        " seawall.httpx.ResilientTransport",
        True,
    ),
    "pybreaker.CircuitBreaker": OldApi(
        "pybreaker",
        "seawall.UnifiedCircuitBreaker(seawall.CircuitBreakerConfig(failure_threshold=fail_max,"
        " timeout=timedelta(seconds=reset_timeout), success_threshold=1)); exclude= becomes"
        " exclude_exceptions=",
        False,
    ),
    "circuitbreaker.circuit": OldApi(
        "circuitbreaker",
        "@seawall.with_circuit_breaker(name, seawall.CircuitBreakerConfig(failure_threshold=...,"
        " timeout=timedelta(seconds=recovery_timeout), track_exceptions=[expected_exception],"
        " success_threshold=1))",
        False,
    ),
    "circuitbreaker.CircuitBreaker": OldApi(
        "circuitbreaker",
        "seawall.UnifiedCircuitBreaker(seawall.CircuitBreakerConfig(...)) or"
        " @seawall.with_circuit_breaker(name, config)",
        False,
    ),
}

# Seawall's implementations of the old APIs are the old APIs still: a scan
# reports them, a rewrite converts them as it converts the originals.
for _old, _compat in list(OLD_MODULES.items()):
    OLD_MODULES[_compat] = _compat
    for _name, _api in list(OLD_APIS.items()):
        if _name.startswith(_old + "."):
            OLD_APIS[_compat + _name[len(_old):]] = _api

#: Modules whose import alone is reported (the names above come from them).
SCANNED_MODULES = (*OLD_MODULES, "pybreaker", "circuitbreaker")


#: Text that every file using an old API contains: a name can only resolve
#: to one through an import naming its module (or the module's last part).
#: A file without any of them is only checked to parse.
KEYWORDS = ("retry_strategy", "protection_facade", "unified_http_client", "pybreaker",
            "circuitbreaker")


def related(full: str) -> bool:
    """Whether importing ``full`` (``shared``, ``shared.utils.retry_strategy``,
    ``shared.utils.retry_strategy.CircuitBreaker``) binds a name through
    which an old API can be reached."""
    return any(m == full or m.startswith(full + ".") or full.startswith(m + ".")
               for m in SCANNED_MODULES)


def old_api(qualified_name: str) -> Optional[OldApi]:
    return OLD_APIS.get(qualified_name)


def old_module(module: str) -> Optional[str]:
    """``module`` if it is (a submodule of) one the scanner reports."""
    for m in SCANNED_MODULES:
        if module == m or module.startswith(m + "."):
            return m
    return None


#: What the private fields of the old breaker become; the breaker is left
#: alone when they are used, since ``UnifiedCircuitBreaker`` has none of them.
PRIVATE_FIELDS: Dict[str, str] = {
    "_state": "cb.get_state() (a CircuitState: CLOSED, OPEN, HALF_OPEN rather than"
    " 'closed', 'open', 'half-open')",
    "_should_attempt_reset": "not cb.is_open()",
}
