"""``seawall-migrate``: finds every use of the old circuit breakers
(``shared.utils.retry_strategy``'s ``CircuitBreaker`` and ``with_retry``,
the Protection Facade, ``UnifiedHTTPClient``, pybreaker, circuitbreaker)
through imports and aliases, and rewrites them to Seawall on a concrete
syntax tree (libcst: ``pip install 'seawall[migrate]'``), keeping the
formatting and comments. What it cannot convert exactly it leaves alone and
reports, with the reason and a suggested edit.

- ``apis``: the old names and their Seawall targets;
- ``resolve``: what a module's names stand for (libcst metadata);
- ``transforms``: the conversions of calls;
- ``rewrite``: one file's scan or rewrite, imports included;
- ``runner``: many files, in parallel;
- ``report`` / ``cli``: output and the command line.
"""

from .report import FileResult, Finding
from .rewrite import process

__all__ = ["FileResult", "Finding", "process", "main"]


def main() -> int:
    from .cli import main as cli_main

    return cli_main()
