from tricky import CircuitBreaker, describe


def run():
    assert describe(CircuitBreaker(failure_threshold=3)) == "6 failures (with_retry off)"
    print("ok", 1)
