"""A CloudEvent read off a Kafka message, in either content mode of the Kafka protocol binding.

Kafka Protocol Binding for CloudEvents 1.0.2 (section 3): a message whose ``content-type``
header starts with ``application/cloudevents`` is in *structured* mode, its value a JSON
envelope (the JSON event format 1.0.2); any other message is in *binary* mode, its value
the event data as-is and every attribute, extensions included, in a ``ce_``-prefixed
header (``ce_id``, ``ce_type``, ``ce_source``, ``ce_specversion``, ``ce_time``, and e.g.
``ce_inferenceservicename``), with ``content-type`` standing for ``datacontenttype``.
KServe's payload logger sends binary-mode events over HTTP, and a Knative Kafka sink or
broker writes them to Kafka in binary mode by default.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import msgspec

from monitor.decode import MAX_EVENT_TIME
from monitor.payloads.rejected import Rejected

Headers = Sequence[tuple[str, bytes | str | None]]
"""A Kafka message's headers as confluent-kafka gives them (a list of pairs, in order)."""

PREFIX: Final = "ce_"
REQUIRED: Final = ("id", "source", "specversion", "type")
"""The CloudEvents 1.0 context attributes every event has."""
SPEC_VERSION: Final = "1.0"
_STRUCTURED: Final = "application/cloudevents"
_JSON_FORMAT: Final = "application/cloudevents+json"


class CloudEvent(NamedTuple):
    """One event: its attributes by name (extensions included, no prefix) and its data.

    A tuple: every message of a batch makes one, and a frozen dataclass costs more to build.
    """

    attributes: Mapping[str, str]
    data: bytes | None

    @property
    def id(self) -> str:
        return self.attributes["id"]

    @property
    def type(self) -> str:
        return self.attributes["type"]

    def time(self) -> float | None:
        """``time`` as epoch seconds (None when absent); Rejected when it is no RFC 3339 time."""
        text = self.attributes.get("time")
        return None if text is None else epoch_seconds(text)


def read_cloudevent(value: bytes | None, headers: Headers | None) -> CloudEvent:
    """The event a message carries, or Rejected (``not_a_cloudevent``) saying what is missing."""
    attributes = _binary_attributes(headers or ())
    content_type = attributes.get("datacontenttype", "")
    if content_type.lower().startswith(_STRUCTURED):
        return _structured(value, content_type)
    _check_required(attributes, PREFIX, "headers")
    return CloudEvent(attributes, value)


def attribute_or_header(event: CloudEvent, headers: Headers | None, name: str) -> str | None:
    """The CloudEvent attribute ``name``, else a plain Kafka header of that name."""
    found = event.attributes.get(name)
    if found is not None:
        return found
    return _header_texts(headers or ()).get(name)


def epoch_seconds(text: str) -> float:
    """An RFC 3339 time (no offset read as UTC) as epoch seconds in the daemon's range."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected("invalid_timestamp", f"time {text!r} is not an RFC 3339 time") from None
    seconds = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if not 0.0 <= seconds < MAX_EVENT_TIME or math.isnan(seconds):
        raise Rejected("invalid_timestamp", f"time {text!r} is out of range")
    return seconds


def _binary_attributes(headers: Headers) -> dict[str, str]:
    """The ``ce_`` headers by attribute name, and ``content-type`` as ``datacontenttype``,
    in one pass over the headers (a message has a dozen, and every message is read)."""
    names = _ATTRIBUTE_OF
    try:
        return {
            attribute: raw.decode()  # type: ignore[union-attr]
            for name, raw in reversed(headers)
            if raw is not None and (attribute := names[name])
        }
    except (UnicodeDecodeError, AttributeError):  # text values, or one to name: go slowly
        texts = _header_texts(headers)
    attributes = {name[3:]: text for name, text in texts.items() if name[:3] == PREFIX}
    if "content-type" in texts:
        attributes["datacontenttype"] = texts["content-type"]
    return attributes


class _AttributeNames(dict[str, str]):
    """Header name → the attribute it carries ("" for none), worked out once per name: a
    message has a dozen headers, always the same few names, and each is looked up in C."""

    def __missing__(self, name: str) -> str:
        if name[:3] == PREFIX:
            attribute = name[3:]
        else:
            attribute = "datacontenttype" if name == "content-type" else ""
        if len(self) < _NAMES_KEPT:  # a stream of made-up header names cannot grow it
            self[name] = attribute
        return attribute


_NAMES_KEPT: Final = 1024
_ATTRIBUTE_OF: Final = _AttributeNames()


def _header_texts(headers: Headers) -> dict[str, str]:
    """Header names (case-sensitive in Kafka; the binding's are lower-case) to UTF-8 text;
    the first of a repeated name wins."""
    try:  # in one quick pass; the loop below only runs for text headers or to say which fails
        return {name: raw.decode() for name, raw in reversed(headers) if raw is not None}  # type: ignore[union-attr]
    except (UnicodeDecodeError, AttributeError):
        pass
    texts: dict[str, str] = {}
    for name, raw in headers:
        if name in texts or raw is None:
            continue
        if isinstance(raw, str):
            texts[name] = raw
            continue
        try:
            texts[name] = raw.decode()
        except UnicodeDecodeError:
            raise Rejected("not_a_cloudevent", f"header {name!r} is not UTF-8") from None
    return texts


def _check_required(attributes: Mapping[str, str], prefix: str, container: str) -> None:
    if not all(map(attributes.get, REQUIRED)):
        missing = [f"{prefix}{name}" for name in REQUIRED if not attributes.get(name)]
        raise Rejected(
            "not_a_cloudevent",
            f"no {', '.join(missing)} in its {container}: a CloudEvent has {', '.join(REQUIRED)}",
        )
    version = attributes["specversion"]
    if version != SPEC_VERSION:
        raise Rejected(
            "not_a_cloudevent", f"specversion {version!r}; only CloudEvents {SPEC_VERSION} is read"
        )


def _structured(value: bytes | None, content_type: str) -> CloudEvent:
    """A JSON-format envelope: attributes at its top level, ``data`` or ``data_base64``."""
    if not content_type.lower().startswith(_JSON_FORMAT):
        raise Rejected(
            "not_a_cloudevent", f"structured mode in {content_type!r}; only JSON is read"
        )
    try:
        envelope: Any = msgspec.json.decode(value or b"")
    except msgspec.DecodeError as error:
        raise Rejected("invalid_json", f"CloudEvent envelope: {error}") from None
    if not isinstance(envelope, dict):
        raise Rejected("not_an_object", "the CloudEvent envelope is not a JSON object")
    attributes = {
        name: item if isinstance(item, str) else msgspec.json.encode(item).decode()
        for name, item in envelope.items()
        if name not in ("data", "data_base64") and item is not None
    }
    _check_required(attributes, "", "envelope")
    return CloudEvent(attributes, _envelope_data(envelope))


def _envelope_data(envelope: Mapping[str, Any]) -> bytes | None:
    if "data_base64" in envelope:
        try:
            return base64.b64decode(envelope["data_base64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise Rejected("wrong_type", "data_base64 is not base64") from None
    if "data" not in envelope:
        return None
    data = envelope["data"]
    if isinstance(data, str) and "json" not in envelope.get("datacontenttype", "json"):
        return data.encode()
    return msgspec.json.encode(data)
