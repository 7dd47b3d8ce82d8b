"""The legacy APIs that call sites of the original package still use, on
the Seawall core: ``seawall.compat.retry_strategy`` (the old
``shared.utils.retry_strategy``), ``seawall.compat.protection_facade``
(the old ``shared.security.protection_facade``) and
``seawall.compat.unified_http_client``
(the old ``shared.clients.unified_http_client``, which needs ``httpx``).
``seawall.install_legacy_aliases()`` makes the old module paths import
these, so old call sites run unchanged."""
