"""Payments through the Protection Facade (async), with a local breaker for
the ledger: the facade is pointed at Seawall's, the breaker converted."""

from shared.security import protection_facade as pf
from shared.security.protection_facade import get_protection_facade
from shared.utils.retry_strategy import CircuitBreaker


class Gateway:
    def __init__(self, clock=None):
        self.facade = get_protection_facade()
        self.ledger = CircuitBreaker(
            2,  # failures
            recovery_timeout=15.0,
            expected_exception=(ConnectionError, TimeoutError),
            clock=clock,
        )

    async def charge(self, amount, send):
        if not await self.facade.check_rate_limit("payments", 100):
            return "throttled"
        return await self.facade.call("payments-api", send, amount)

    def record(self, write):
        return self.ledger.call(write)


def facade_type():
    return pf.ProtectionFacade
