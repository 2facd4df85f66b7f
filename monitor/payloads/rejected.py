"""Why a model server's message cannot become events: raised by the readers, caught per message."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from monitor.decode import DeadLetterReason

_T = TypeVar("_T")


class Rejected(Exception):
    """A message (or a request and response pair) to dead-letter, with the reason and detail.

    The readers raise it from deep inside a body; the caller catches it once per message,
    so the happy path carries no error values around.
    """

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DeadLetterReason = reason
        self.detail = detail[:500]


def decode_body(
    decoder: msgspec.json.Decoder[_T], data: bytes | None, what: str, hint: str = ""
) -> _T:
    """``data`` decoded as ``what`` (a V1 request, ...), or Rejected with the reason it is not;
    ``hint`` follows a missing field's detail (the body may be of the other protocol)."""
    if not data:
        raise Rejected("empty", f"the {what} has no data")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as error:
        message = str(error)
        if message.startswith("Expected `object`") and " - at " not in message:
            raise Rejected("not_an_object", f"the {what} is not a JSON object") from None
        if "missing required field" in message:
            raise Rejected("missing_field", f"{what}: {message}{hint}") from None
        raise Rejected("wrong_type", f"{what}: {message}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise Rejected("invalid_json", f"{what}: {error}") from None
