"""A service that still uses the old breakers (CircuitBreaker, with_retry)."""
