# Settings: CircuitBreaker(failure_threshold=...) lives in clients/, not here.
FAILURE_THRESHOLD = 2
RECOVERY_SECONDS = 30
HELP = "call CircuitBreaker(recovery_timeout=60) for the old breaker"
