"""Signing webhook bodies: HMAC-SHA256 over ``timestamp + "." + body``.

Headers: ``X-Drift-Monitor-Timestamp`` (Unix seconds) and
``X-Drift-Monitor-Signature: sha256=<hex>``. Signing the timestamp with the
body lets a receiver reject replays of an old request (check the timestamp is
recent) as well as forgeries. ``verify`` is the receiver's side, used by the
tests exactly as the documented recipe does.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Drift-Monitor-Timestamp"
SIGNATURE_HEADER = "X-Drift-Monitor-Signature"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: bytes, timestamp: str, body: bytes, given: str, now: float, tolerance: float = 300.0
) -> bool:
    """True when ``given`` signs this body and timestamp, and the timestamp is recent."""
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), given)
