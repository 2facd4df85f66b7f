"""What every sink offers the delivery worker, and what a delivery attempt reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from monitor.alerts.plan import OutboxMessage


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one attempt.

    ``retryable`` is False for answers that another attempt cannot change (a
    400 for a malformed request, a 401 for a wrong key): those are dead-lettered
    at once instead of hammering the receiver. ``retry_after`` is the pause the
    receiver asked for (429/503 Retry-After), in seconds.
    """

    ok: bool
    detail: str = ""
    status: int | None = None
    retryable: bool = True
    retry_after: float | None = None


class Sink(Protocol):
    """A destination; ``deliver`` must not raise for delivery problems, only report them."""

    name: str

    def deliver(self, message: OutboxMessage) -> DeliveryResult: ...

    def close(self) -> None: ...
