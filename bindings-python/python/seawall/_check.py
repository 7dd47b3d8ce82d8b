"""Argument checks shared by the pure-Python modules: every refusal is a
``TypeError`` naming the argument and the type given, or a ``ValueError``
naming the argument, the value and the allowed range. The checks the native
classes also make are the native module's own (``shown``, ``type_error``,
``boolean``, ``integer``, ``number``, ``seconds``, ``non_negative_seconds``,
``name``), so both word an error the same way; integer ranges are checked by
the native module, with the core's ranges."""

from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple, Type, TypeVar

from ._native import check_bool as boolean
from ._native import check_int as integer
from ._native import check_name as name
from ._native import check_non_negative_seconds as non_negative_seconds
from ._native import check_number as number
from ._native import check_seconds as seconds
from ._native import shown, type_error

__all__ = [
    "boolean",
    "exception_classes",
    "instance",
    "int_list",
    "integer",
    "name",
    "non_negative_seconds",
    "number",
    "optional_callable",
    "positive_seconds",
    "seconds",
    "shown",
    "type_error",
]

T = TypeVar("T")


def instance(field: str, value: Any, cls: Type[T], expected: Optional[str] = None) -> T:
    """``value`` if it is a ``cls``, else a ``TypeError``."""
    if not isinstance(value, cls):
        raise type_error(field, expected or f"a {cls.__name__}", value)
    return value


def optional_callable(field: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise type_error(field, "callable or None", value)


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
                f"{field} must contain exception classes only, found {shown(c)} "
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
                f"{field} must be a list of ints, found {shown(c)} ({type(c).__name__})"
            )
