"""The conversions of old calls into Seawall's, on the concrete syntax tree:
each takes the original call (whose nodes the ``Analysis`` knows) and the
call as already transformed inside (its arguments may hold converted calls),
and returns the new expression, or the reason it cannot be converted
exactly. Arguments keep their formatting and comments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from .resolve import Analysis

#: A converted expression, or why there is none.
Outcome = Union[cst.BaseExpression, str]


@dataclass
class Needs:
    """Names the converted code uses: from ``seawall``, and ``timedelta``."""

    seawall: Set[str] = field(default_factory=set)
    timedelta: bool = False


def _kw(arg: cst.Arg, name: str, value: Optional[cst.BaseExpression] = None) -> cst.Arg:
    """``arg`` as the keyword ``name`` (its comma and comments kept)."""
    equal = arg.equal if arg.keyword is not None else cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
    )
    return arg.with_changes(keyword=cst.Name(name), equal=equal,
                            value=arg.value if value is None else value)


def _new_kw(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value=value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))


def _append(args: List[cst.Arg], extra: cst.Arg, closing: Optional[cst.Arg],
            closing_in_args: bool) -> List[cst.Arg]:
    """``args`` plus ``extra`` in the same layout (on its own line when the
    arguments are one per line): ``extra`` ends the list as ``closing``
    (the call's original last argument) ended it."""
    if not args:
        return [extra]
    last = args[-1]
    sep: Optional[cst.Comma] = None
    if not closing_in_args and isinstance(last.comma, cst.Comma):
        sep = last.comma
    elif len(args) > 1 and isinstance(args[-2].comma, cst.Comma):
        sep = args[-2].comma
    end = closing if closing is not None else last
    return [
        *args[:-1],
        last.with_changes(comma=sep or cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                          whitespace_after_arg=cst.SimpleWhitespace("")),
        extra.with_changes(comma=end.comma, whitespace_after_arg=end.whitespace_after_arg),
    ]


def _positional_and_keywords(
    orig: cst.Call, new: cst.Call, names: Sequence[str]
) -> Union[str, List[Tuple[str, cst.Arg, cst.Arg]]]:
    """``(name, original arg, transformed arg)`` for every argument, the
    positional ones named after ``names``; a reason for ``*args``,
    ``**kwargs`` or too many positional arguments."""
    out: List[Tuple[str, cst.Arg, cst.Arg]] = []
    for i, (o, n) in enumerate(zip(orig.args, new.args)):
        if o.star == "**":
            return "it passes **kwargs, whose keys are known only at run time"
        if o.star == "*":
            return "it passes *args, whose length is known only at run time"
        if o.keyword is None:
            if i >= len(names):
                return f"it has more than {len(names)} positional arguments"
            out.append((names[i], o, n))
        else:
            out.append((o.keyword.value, o, n))
    return out


def _seconds(a: Analysis, orig: cst.BaseExpression, new: cst.BaseExpression,
             needs: Needs) -> Optional[cst.BaseExpression]:
    """A timeout for ``CircuitBreakerConfig``: a number literal becomes
    ``timedelta(seconds=N)``; a variable, an attribute or a ``timedelta(...)``
    is passed as it is (the config takes seconds or a ``timedelta``, as the
    old breaker did); anything computed gives ``None``."""
    if isinstance(orig, (cst.Integer, cst.Float)):
        needs.timedelta = True
        return cst.Call(func=cst.Name("timedelta"), args=[_new_kw("seconds", new)])
    if isinstance(orig, (cst.Name, cst.Attribute)) or a.is_timedelta(orig):
        return new
    return None


def _exceptions(a: Analysis, orig: cst.BaseExpression,
                new: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """``expected_exception`` (a class or a tuple of classes) as a list for
    ``track_exceptions``; ``None`` when it may be either."""
    if isinstance(orig, cst.Tuple) and isinstance(new, cst.Tuple):
        return cst.List(elements=[e.with_changes(comma=e.comma) for e in new.elements],
                        lbracket=cst.LeftSquareBracket(), rbracket=cst.RightSquareBracket())
    if a.is_class(orig):
        return cst.List(elements=[cst.Element(new)])
    return None


BREAKER_ARGS = ("failure_threshold", "recovery_timeout", "expected_exception")


def convert_breaker(a: Analysis, orig: cst.Call, new: cst.Call, needs: Needs) -> Outcome:
    """``CircuitBreaker(failure_threshold, recovery_timeout,
    expected_exception, *, name, clock)`` ->
    ``UnifiedCircuitBreaker([name,] CircuitBreakerConfig(failure_threshold=...,
    timeout=..., track_exceptions=[...], success_threshold=1)[, clock=...])``:
    the old breaker closes after one successful trial call, so
    ``success_threshold=1`` keeps that (the new default is 3); the new
    defaults of the other fields are the old ones."""
    privates = a.private_uses(orig)
    if privates:
        p = privates[0]
        return (f"its private field {p.field} is used (line {p.line}), which "
                "UnifiedCircuitBreaker does not have")
    args = _positional_and_keywords(orig, new, BREAKER_ARGS)
    if isinstance(args, str):
        return args
    config: List[cst.Arg] = []
    name: Optional[cst.Arg] = None
    clock: Optional[cst.Arg] = None
    for key, o, n in args:
        if key == "failure_threshold":
            config.append(_kw(n, key))
        elif key == "recovery_timeout":
            t = _seconds(a, o.value, n.value, needs)
            if t is None:
                return (f"its recovery_timeout {a.code(o.value)} is computed: "
                        "it may be seconds or a timedelta")
            config.append(_kw(n, "timeout", t))
        elif key == "expected_exception":
            e = _exceptions(a, o.value, n.value)
            if e is None:
                return (f"its expected_exception {a.code(o.value)} may hold one "
                        "class or a tuple of them")
            config.append(_kw(n, "track_exceptions", e))
        elif key == "name":
            name = n
        elif key == "clock":
            clock = n
        else:
            return f"it has an argument {key!r} that the old breaker does not take"
    closing = new.args[-1] if new.args else None
    closing_in_args = bool(args) and args[-1][0] not in ("name", "clock")
    config = _append(config, _new_kw("success_threshold", cst.Integer("1")), closing,
                     closing_in_args)
    needs.seawall.update(("UnifiedCircuitBreaker", "CircuitBreakerConfig"))
    cfg = cst.Call(func=cst.Name("CircuitBreakerConfig"), args=config,
                   whitespace_before_args=new.whitespace_before_args)
    outer: List[cst.Arg] = []
    if name is not None:
        outer.append(name.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT,
                                       comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))))
    outer.append(cst.Arg(cfg))
    if clock is not None:
        outer[-1] = outer[-1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        outer.append(clock.with_changes(comma=cst.MaybeSentinel.DEFAULT,
                                        whitespace_after_arg=cst.SimpleWhitespace("")))
    return new.with_changes(func=cst.Name("UnifiedCircuitBreaker"), args=outer,
                            whitespace_before_args=cst.SimpleWhitespace(""))


WITH_RETRY_ARGS = ("name", "circuit_breaker")
RETRY_NUMBERS = ("max_attempts", "initial_delay", "max_delay", "exponential_base")


def convert_with_retry(a: Analysis, orig: cst.Call, new: cst.Call, needs: Needs) -> Outcome:
    """``with_retry(name, circuit_breaker=cb, **options)`` ->
    ``with_resilience(RetryConfig(**options), circuit_breaker=cb, name=name)``:
    what the old decorator did. ``RetryConfig``'s defaults are
    ``with_retry``'s; ``jitter=False`` becomes
    ``strategy=RetryStrategy.EXPONENTIAL, jitter_enabled=False``."""
    args = _positional_and_keywords(orig, new, WITH_RETRY_ARGS)
    if isinstance(args, str):
        return args
    retry: List[cst.Arg] = []
    breaker: Optional[cst.Arg] = None
    name: Optional[cst.Arg] = None
    for key, o, n in args:
        if key == "name":
            name = _kw(n, "name")
        elif key == "circuit_breaker":
            if not (isinstance(o.value, cst.Name) and o.value.value == "None"):
                breaker = _kw(n, "circuit_breaker")
        elif key in RETRY_NUMBERS:
            retry.append(_kw(n, key))
        elif key == "jitter":
            v = o.value
            if not (isinstance(v, cst.Name) and v.value in ("True", "False")):
                return f"its jitter {a.code(v)} is computed: it decides the retry strategy"
            if v.value == "False":
                needs.seawall.add("RetryStrategy")
                retry.append(_new_kw("strategy", cst.parse_expression(
                    "RetryStrategy.EXPONENTIAL")))
                retry.append(_new_kw("jitter_enabled", cst.Name("False")))
        elif key == "retryable_exceptions":
            v = o.value
            if isinstance(v, cst.Name) and v.value == "None":
                continue
            if isinstance(v, cst.List):
                retry.append(_kw(n, key))
            elif isinstance(v, cst.Tuple) and isinstance(n.value, cst.Tuple):
                retry.append(_kw(n, key, cst.List(elements=list(n.value.elements))))
            else:
                return (f"its retryable_exceptions {a.code(v)} is computed: it may "
                        "be None, a list or a tuple")
        else:
            return f"it has an argument {key!r} that with_retry does not take"
    if name is None:
        return "it has no name, which with_retry requires"
    sp = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    retry = [r.with_changes(comma=sp, whitespace_after_arg=cst.SimpleWhitespace(""))
             for r in retry]
    if retry:
        retry[-1] = retry[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    needs.seawall.update(("with_resilience", "RetryConfig"))
    out = [cst.Arg(cst.Call(func=cst.Name("RetryConfig"), args=retry))]
    if breaker is not None:
        out.append(breaker)
    out.append(name)
    # The separators of the original arguments, in order, where there are.
    commas = [x.comma for x in new.args[:-1] if isinstance(x.comma, cst.Comma)]
    out = [x.with_changes(comma=commas[i] if i < len(commas) else sp,
                          whitespace_after_arg=cst.SimpleWhitespace(""))
           for i, x in enumerate(out)]
    out[-1] = out[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT,
                                   whitespace_after_arg=new.args[-1].whitespace_after_arg)
    return new.with_changes(func=cst.Name("with_resilience"), args=out)


class _Comments(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def visit_Comment(self, node: cst.Comment) -> None:
        self.count += 1


def comments(node: cst.CSTNode) -> int:
    """The comments inside ``node``: a conversion must keep them all."""
    v = _Comments()
    node.visit(v)
    return v.count
