"""What a type checker sees of the protected calls: ``call`` and ``acall``
return the protected function's type (or its union with the fallback's),
checked by running mypy on a snippet."""

from __future__ import annotations

import textwrap

from mypy import api

SNIPPET = textwrap.dedent(
    """
    from typing import Optional
    from seawall import DistributedCircuitBreaker, UnifiedCircuitBreaker

    def fetch() -> int:
        return 1
    async def afetch() -> str:
        return "a"
    def cached() -> Optional[int]:
        return None

    async def main(cb: UnifiedCircuitBreaker, fleet: DistributedCircuitBreaker) -> None:
        reveal_type(cb.call(fetch))
        reveal_type(cb.call(fetch, cached))
        reveal_type(await cb.acall(afetch))
        reveal_type(fleet.call(fetch))
        reveal_type(await fleet.acall(afetch))
    """
)


def test_call_and_acall_return_the_protected_functions_type() -> None:
    out, err, status = api.run(["--strict", "--no-incremental", "-c", SNIPPET])
    revealed = [
        line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type is" in line
    ]
    assert revealed == ['"int"', '"int | None"', '"str"', '"int"', '"str"'], out + err
    assert "error" not in out, out
