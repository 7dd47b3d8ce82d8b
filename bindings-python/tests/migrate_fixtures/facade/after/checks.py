import asyncio

from seawall import CircuitBreakerOpenError, ManualClock

from payments.gateway import Gateway, facade_type


def check_charge_through_the_facade():
    g = Gateway()

    async def send(amount):
        return f"charged {amount}"

    assert asyncio.run(g.charge(5, send)) == "charged 5"
    assert isinstance(g.facade, facade_type())


def check_ledger_breaker_opens_on_tracked_errors_only():
    clock = ManualClock()
    g = Gateway(clock)

    def timeout():
        raise TimeoutError()

    def bad():
        raise ValueError()

    for f in (bad, bad, bad, timeout, timeout):
        try:
            g.record(f)
        except (ValueError, TimeoutError):
            pass
    try:
        g.record(lambda: "x")
        raise AssertionError("admitted while open")
    except CircuitBreakerOpenError:
        pass
    clock.advance(15)
    assert g.record(lambda: "written") == "written"
    assert g.ledger.is_closed()


def run():
    names = sorted(n for n in globals() if n.startswith("check_"))
    for n in names:
        globals()[n]()
    print("ok", len(names))
