"""Payments through the Protection Facade (async), with a local breaker for
the ledger: the facade is pointed at Seawall's, the breaker converted."""

from seawall.compat import protection_facade as pf
from datetime import timedelta
from seawall import CircuitBreakerConfig, UnifiedCircuitBreaker
from seawall.compat.protection_facade import get_protection_facade


class Gateway:
    def __init__(self, clock=None):
        self.facade = get_protection_facade()
        self.ledger = UnifiedCircuitBreaker(CircuitBreakerConfig(
            failure_threshold=2,  # failures
            timeout=timedelta(seconds=15.0),
            track_exceptions=[ConnectionError, TimeoutError],
            success_threshold=1,
        ), clock=clock)

    async def charge(self, amount, send):
        if not await self.facade.check_rate_limit("payments", 100):
            return "throttled"
        return await self.facade.call("payments-api", send, amount)

    def record(self, write):
        return self.ledger.call(write)


def facade_type():
    return pf.ProtectionFacade
