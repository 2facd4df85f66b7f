"""The one HTTP transport of the sinks: a POST with a timeout, classified for retrying.

stdlib ``urllib`` is enough for one JSON POST per notification, so no HTTP
client dependency is added. Answers are classified once, here: 2xx delivered;
408, 425, 429 and 5xx retryable (honouring Retry-After); other 4xx permanent;
connection errors and timeouts (a receiver that hangs) retryable.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from monitor.alerts.backoff import parse_retry_after
from monitor.alerts.plan import OutboxMessage
from monitor.alerts.sinks.base import DeliveryResult

RETRYABLE_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))
USER_AGENT = "drift-monitor"

Render = Callable[[OutboxMessage], tuple[bytes, dict[str, str]]]
"""A message → the request body and the headers it needs beyond the sink's own."""


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    *,
    success: frozenset[int] = frozenset(),
) -> DeliveryResult:
    """POST ``body``; ``success`` adds non-2xx answers that mean "already done" (a 409)."""
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in {"User-Agent": USER_AGENT, **headers}.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
            response.read(65536)
        return DeliveryResult(True, f"HTTP {status}", status)
    except urllib.error.HTTPError as error:
        status = error.code
        retry_after = parse_retry_after(error.headers.get("Retry-After"), time.time())
        excerpt = _excerpt(error)
        error.close()
        if status in success:
            return DeliveryResult(True, f"HTTP {status} (already delivered)", status)
        return DeliveryResult(
            False,
            f"HTTP {status}{excerpt}",
            status,
            retryable=status in RETRYABLE_STATUS,
            retry_after=retry_after,
        )
    except TimeoutError:
        return DeliveryResult(False, f"no answer within {timeout:g}s")
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return DeliveryResult(False, f"no answer within {timeout:g}s")
        return DeliveryResult(False, f"cannot connect: {reason}")
    except (ConnectionError, OSError) as error:
        return DeliveryResult(False, f"connection failed: {error}")


def _excerpt(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read(300).decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return ""
    return f": {text}" if text else ""


@dataclass
class HttpSink:
    """A sink that POSTs what its ``render`` makes of a message."""

    name: str
    url: str
    render: Render
    timeout: float
    headers: Mapping[str, str] = field(default_factory=dict)
    success: frozenset[int] = frozenset()

    def deliver(self, message: OutboxMessage) -> DeliveryResult:
        body, extra = self.render(message)
        headers = {"Content-Type": "application/json", **self.headers, **extra}
        return post(self.url, body, headers, self.timeout, success=self.success)

    def close(self) -> None:
        """Nothing is kept open between requests."""
