"""Runs ``orders_service`` (written against ``shared.resilience``) unchanged
on Seawall.

``seawall.install_legacy_aliases()`` makes ``shared.resilience`` (and its
submodules), ``shared.utils.retry_strategy``,
``shared.security.protection_facade`` and
``shared.clients.unified_http_client`` import Seawall's modules. Call it
once at start-up, before the old modules are imported; in a project, the
same can be done by a one-line ``shared/resilience/__init__.py`` shim:
``import seawall; seawall.install_alias(__name__)``.

Run: ``python examples/python/migration/run.py``
"""

import seawall

seawall.install_legacy_aliases()

import orders_service  # noqa: E402  (must come after the aliases)


def main() -> None:
    print(f"shared.resilience is seawall: "
          f"{orders_service.UnifiedCircuitBreaker is seawall.UnifiedCircuitBreaker}")

    print(f"stock of sku-1: {orders_service.stock_level('sku-1')}")
    orders_service.inventory_up = False
    for _ in range(3):
        # Failures and then rejections: the fallback answers 0 each time.
        print(f"stock of sku-1 (inventory down): {orders_service.stock_level('sku-1')}")
    print(f"inventory breaker: {orders_service.inventory_state()}")

    print(f"shipping quote: {orders_service.shipping_quote('sku-1')}")
    print(f"tax rate in eu: {orders_service.tax_rate('eu')}")
    print(f"tax rate in nowhere: {orders_service.tax_rate('nowhere')}")
    print(f"tax rate in eu (legacy breaker open: {orders_service.tax_breaker.is_open()}): "
          f"{orders_service.tax_rate('eu')}")


if __name__ == "__main__":
    main()
