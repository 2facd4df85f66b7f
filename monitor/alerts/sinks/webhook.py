"""Generic webhook: the alert facts as the JSON body, signed when a secret is configured.

Headers: ``Idempotency-Key`` (the message's stable key, the same on every
retry), ``X-Drift-Monitor-Timestamp`` and ``X-Drift-Monitor-Signature``
(HMAC-SHA256 over ``timestamp + "." + body``, see ``signing.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from monitor.alerts.facts import dumps
from monitor.alerts.plan import OutboxMessage
from monitor.alerts.signing import signed_headers

IDEMPOTENCY_HEADER = "Idempotency-Key"


def webhook_renderer(
    secret: bytes | None, clock: Callable[[], float] = time.time
) -> Callable[[OutboxMessage], tuple[bytes, dict[str, str]]]:
    def render(message: OutboxMessage) -> tuple[bytes, dict[str, str]]:
        body = dumps(message.facts).encode()
        headers = {IDEMPOTENCY_HEADER: message.key}
        if secret is not None:
            headers.update(signed_headers(secret, body, clock()))
        return body, headers

    return render
