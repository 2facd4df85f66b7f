"""monitor.payloads.cloudevents: the envelope of a model server's logged request or response.

Spec versions followed: CloudEvents 1.0.2; Kafka Protocol Binding for CloudEvents 1.0.2
(binary mode, section 3.2: ``ce_`` headers and ``content-type``; structured mode, section
3.3: ``content-type: application/cloudevents+json``); JSON Event Format 1.0.2. The
messages are KServe's logger's, through a Knative Kafka sink (see tests/kserve_messages.py).
"""

from __future__ import annotations

import pytest

from monitor.payloads.cloudevents import attribute_or_header, epoch_seconds, read_cloudevent
from monitor.payloads.rejected import Rejected
from tests.kserve_messages import REQUEST_TYPE, ce_headers, structured, v1_request

BODY = v1_request([[6.8, 2.8, 4.8, 1.4]])


def _rejected(value: bytes | None, headers: list[tuple[str, bytes]]) -> Rejected:
    with pytest.raises(Rejected) as caught:
        read_cloudevent(value, headers)
    return caught.value


def test_binary_mode_reads_attributes_from_ce_headers_and_data_from_the_value() -> None:
    event = read_cloudevent(BODY, ce_headers("0009174a", "request"))

    assert (event.id, event.type, event.data) == ("0009174a", REQUEST_TYPE, BODY)
    assert event.attributes["source"] == "http://localhost:9081/"
    assert event.attributes["inferenceservicename"] == "sklearn-iris"
    assert event.attributes["endpoint"] == ""
    assert event.attributes["datacontenttype"] == "application/json"


def test_structured_mode_reads_the_json_envelope() -> None:
    headers, value = structured(ce_headers("0009174a", "request"), BODY)

    event = read_cloudevent(value, headers)

    assert (event.id, event.type) == ("0009174a", REQUEST_TYPE)
    assert event.attributes["inferenceservicename"] == "sklearn-iris"
    assert event.data == b'{"instances":[[6.8,2.8,4.8,1.4]]}'


def test_structured_data_base64_is_decoded() -> None:
    headers, _ = structured(ce_headers("b64", "request"), BODY)
    value = (
        b'{"specversion":"1.0","id":"b64","source":"s","type":"t",'
        b'"data_base64":"eyJpbnN0YW5jZXMiOltbMV1dfQ=="}'
    )

    assert read_cloudevent(value, headers).data == b'{"instances":[[1]]}'


def test_time_with_seven_fractional_digits_is_read_as_utc_epoch_seconds() -> None:
    event = read_cloudevent(BODY, ce_headers("t", "request", time="2021-04-10T00:23:26.0789529Z"))

    assert event.time() == pytest.approx(1618014206.078952)


def test_time_without_an_offset_is_read_as_utc() -> None:
    assert epoch_seconds("2021-04-10T00:23:26") == epoch_seconds("2021-04-10T00:23:26+00:00")


@pytest.mark.parametrize("text", ["yesterday", "2021-13-40T00:00:00Z"])
def test_a_time_that_is_no_rfc_3339_time_is_rejected(text: str) -> None:
    event = read_cloudevent(BODY, ce_headers("t", "request", time=text))

    with pytest.raises(Rejected) as caught:
        event.time()
    assert caught.value.reason == "invalid_timestamp"


def test_a_time_in_milliseconds_range_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        epoch_seconds("9999-12-31T23:59:59Z")
    assert caught.value.reason == "invalid_timestamp"


def test_a_message_without_ce_headers_is_not_a_cloudevent_and_says_what_is_missing() -> None:
    rejected = _rejected(b'{"model": "fraud"}', [])

    assert rejected.reason == "not_a_cloudevent"
    assert "ce_id, ce_source, ce_specversion, ce_type" in rejected.detail


def test_a_missing_required_attribute_is_named() -> None:
    headers = [h for h in ce_headers("x", "request") if h[0] != "ce_source"]

    rejected = _rejected(BODY, headers)

    assert rejected.reason == "not_a_cloudevent"
    assert "no ce_source" in rejected.detail


def test_an_older_spec_version_is_refused() -> None:
    headers = [(n, b"0.3" if n == "ce_specversion" else v) for n, v in ce_headers("x", "request")]

    rejected = _rejected(BODY, headers)

    assert rejected.reason == "not_a_cloudevent"
    assert "'0.3'" in rejected.detail


def test_a_header_that_is_not_utf8_is_refused() -> None:
    rejected = _rejected(BODY, [*ce_headers("x", "request"), ("ce_bad", b"\xff\xfe")])

    assert rejected.reason == "not_a_cloudevent"


def test_a_structured_envelope_that_is_no_json_object_is_refused() -> None:
    headers = [("content-type", b"application/cloudevents+json")]

    assert _rejected(b"[1, 2]", headers).reason == "not_an_object"
    assert _rejected(b"{", headers).reason == "invalid_json"


def test_a_structured_envelope_in_another_format_is_refused() -> None:
    rejected = _rejected(b"\x00", [("content-type", b"application/cloudevents+avro")])

    assert rejected.reason == "not_a_cloudevent"


def test_an_attribute_falls_back_to_a_plain_header_of_that_name() -> None:
    headers = [*ce_headers("x", "request"), ("model-version", b"7")]
    event = read_cloudevent(BODY, headers)

    assert attribute_or_header(event, headers, "inferenceservicename") == "sklearn-iris"
    assert attribute_or_header(event, headers, "model-version") == "7"
    assert attribute_or_header(event, headers, "nowhere") is None
