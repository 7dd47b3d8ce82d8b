"""Implementations of the resilience interfaces."""

from .circuit_breaker import UnifiedCircuitBreaker

__all__ = ["UnifiedCircuitBreaker"]
