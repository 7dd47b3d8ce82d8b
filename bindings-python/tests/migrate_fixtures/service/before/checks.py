"""The fixture's own tests, run on the code before the rewrite (through
seawall.install_legacy_aliases()) and after it: the same results."""

import asyncio

from seawall import CircuitBreakerOpenError, ManualClock, RetryError

from service import legacy
from service.clients import orders, users


def check_breaker_trips_and_recovers():
    clock = ManualClock()
    cb = users.make_breaker(clock)
    for _ in range(2):
        try:
            cb.call(lambda: (_ for _ in ()).throw(users.LookupFailed()))
        except users.LookupFailed:
            pass
    assert cb.is_open()
    try:
        cb.call(lambda: 1)
        raise AssertionError("admitted while open")
    except CircuitBreakerOpenError:
        pass
    clock.advance(30)
    assert cb.call(lambda: 2) == 2
    assert cb.is_closed()  # one successful trial closes it, as before


def check_untracked_errors_do_not_count():
    cb = users.make_positional(ManualClock())
    for _ in range(5):
        try:
            cb.call(lambda: (_ for _ in ()).throw(ValueError()))
        except ValueError:
            pass
    assert cb.is_closed()


def check_async_method_retries():
    calls = []

    async def backend(user_id):
        calls.append(user_id)
        if len(calls) == 1:
            raise ConnectionError("flaky")
        return {"id": user_id}

    client = users.UsersClient(backend, users.make_breaker(ManualClock()))
    assert asyncio.run(client.get(7)) == {"id": 7}
    assert calls == [7, 7]


def check_decorated_function_retries_then_gives_up():
    calls = []

    def backend():
        calls.append(1)
        raise ConnectionError("down")

    assert orders.fail_safe(backend) == []
    assert len(calls) == 3
    try:
        orders.list_orders(lambda: 5)
    except RetryError:
        raise AssertionError("no retry needed")


def check_left_alone_still_works():
    assert legacy.watched_state() == "closed"
    assert legacy.from_options().failure_threshold == 4


def run():
    names = sorted(n for n in globals() if n.startswith("check_"))
    for n in names:
        globals()[n]()
    print("ok", len(names))
