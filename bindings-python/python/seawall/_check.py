"""Argument checks shared by the pure-Python modules: every refusal is a
``TypeError`` naming the argument and the type given, or a ``ValueError``
naming the argument, the value and the allowed range (integer ranges are
checked by the native module, with the core's ranges)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, List, Optional, Tuple, Type, TypeVar

T = TypeVar("T")


def _shown(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 80 else r[:77] + "..."


def type_error(field: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{field} must be {expected}, not {type(value).__name__} ({_shown(value)})")


def instance(field: str, value: Any, cls: Type[T], expected: Optional[str] = None) -> T:
    """``value`` if it is a ``cls``, else a ``TypeError``."""
    if not isinstance(value, cls):
        raise type_error(field, expected or f"a {cls.__name__}", value)
    return value


def optional_callable(field: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise type_error(field, "callable or None", value)


def boolean(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise type_error(field, "a bool", value)


def _float(field: str, value: Any) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(
            f"invalid {field} = {_shown(value)}: must be a finite number"
        ) from None


def number(field: str, value: Any) -> float:
    """An ``int`` or ``float`` (not a ``bool``) as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(field, "a number", value)
    return _float(field, value)


def integer(field: str, value: Any) -> int:
    """An ``int`` (not a ``bool``); its range is the native side's to check."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(field, "an int", value)
    return value


def seconds(field: str, value: Any) -> float:
    """A ``timedelta`` or a number of seconds, as seconds."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(field, "a datetime.timedelta or a number of seconds", value)
    return _float(field, value)


def non_negative_seconds(field: str, value: Any) -> float:
    s = seconds(field, value)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"invalid {field} = {s}: must be a finite number of seconds >= 0")
    return s


def positive_seconds(field: str, value: Any) -> float:
    s = seconds(field, value)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"invalid {field} = {s}: must be a finite number of seconds > 0")
    return s


def exception_classes(field: str, value: Any) -> Tuple[Type[BaseException], ...]:
    """A list (or other iterable) of exception classes."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise type_error(field, "a list of exception classes", value)
    items: List[Any] = list(value)
    for c in items:
        if not (isinstance(c, type) and issubclass(c, BaseException)):
            raise TypeError(
                f"{field} must contain exception classes only, found {_shown(c)} "
                f"({type(c).__name__})"
            )
    return tuple(items)


def int_list(field: str, value: Any) -> None:
    """A list (or other iterable) of ints."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise type_error(field, "a list of ints", value)
    for c in value:
        if isinstance(c, bool) or not isinstance(c, int):
            raise TypeError(
                f"{field} must be a list of ints, found {_shown(c)} ({type(c).__name__})"
            )


def name(field: str, value: Any) -> str:
    """A ``str`` that is valid Unicode (no lone surrogates)."""
    if not isinstance(value, str):
        raise type_error(field, "a str", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"invalid {field} = {_shown(value)}: must be valid Unicode text "
            "(it contains a lone surrogate)"
        ) from None
    return value
