"""Kafka messages as KServe's payload logger, through a Knative Kafka sink, writes them.

Followed, for the bytes below:

* KServe's payload logger (``pkg/logger/worker.go``, KServe 0.11 to 0.15): one CloudEvent
  per request and one per response, both with the request's id (``x-request-id``), type
  ``org.kubeflow.serving.inference.request`` / ``.response``, source the logger's URL,
  ``time`` set when sent, ``datacontenttype`` the request's content type, and the
  extensions ``inferenceservicename``, ``namespace``, ``component``, ``endpoint`` and
  ``metadata`` (JSON of the logged request headers); the data is the HTTP body as the
  client or the model server wrote it.
* Kafka Protocol Binding for CloudEvents 1.0.2, binary content mode (section 3.2), which
  a Knative KafkaSink or Kafka broker uses by default: every attribute in a ``ce_``
  header, ``content-type`` for ``datacontenttype``, the data as the value, no key unless
  the event has a ``partitionkey``; structured mode (section 3.3) and the JSON Event
  Format 1.0.2 for the envelope.
* CloudEvents 1.0.2 (``specversion`` "1.0"; ``time`` RFC 3339, here with the 7 fractional
  digits .NET and Go clocks print).
* KServe V1 data plane (``{"instances": ...}`` / ``{"predictions": ...}``) and the Open
  Inference Protocol REST API (``kserve/open-inference-protocol``,
  ``specification/protocol/inference_rest.md``; KServe's ``docs/predict-api/v2``):
  tensors ``{"name", "shape", "datatype", "data"}``, data row-major, flat or nested; the
  KServe Python server's response JSON (``"model_version": null``, ``"parameters": null``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
Kind = Literal["request", "response"]


def ce_headers(
    event_id: str,
    kind: Kind,
    *,
    model: str = "sklearn-iris",
    time: str = "2026-03-02T10:15:30.1234567Z",
    namespace: str = "default",
    extra: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, bytes]]:
    """A binary-mode message's headers, in the order the Knative sink writes them."""
    headers = [
        ("ce_specversion", "1.0"),
        ("ce_id", event_id),
        ("ce_source", "http://localhost:9081/"),
        ("ce_type", REQUEST_TYPE if kind == "request" else RESPONSE_TYPE),
        ("ce_time", time),
        ("content-type", "application/json"),
        ("ce_inferenceservicename", model),
        ("ce_namespace", namespace),
        ("ce_component", "predictor"),
        ("ce_endpoint", ""),
        ("ce_metadata", '{"Content-Type":["application/json"]}'),
        *extra,
    ]
    return [(name, value.encode()) for name, value in headers]


def structured(
    headers: Sequence[tuple[str, bytes]], body: bytes
) -> tuple[list[tuple[str, bytes]], bytes]:
    """The same event in structured mode: one JSON envelope, the data inlined."""
    attributes = {
        name.removeprefix("ce_"): value.decode()
        for name, value in headers
        if name.startswith("ce_")
    }
    attributes["datacontenttype"] = "application/json"
    envelope = {**attributes, "data": json.loads(body)}
    content_type = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    return content_type, json.dumps(envelope).encode()


def v1_request(instances: Sequence[Any], *, pretty: bool = False) -> bytes:
    """As a client sends it (``pretty``: as KServe's sample ``iris-input.json`` file is)."""
    if pretty:
        return json.dumps({"instances": instances}, indent=2).encode()
    return json.dumps({"instances": instances}, separators=(",", ":")).encode()


def v1_response(predictions: Sequence[Any]) -> bytes:
    """As KServe's Python model server writes it."""
    return json.dumps({"predictions": predictions}, separators=(",", ":")).encode()


def tensor(name: str, shape: Sequence[int], datatype: str, data: Sequence[Any]) -> dict[str, Any]:
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": list(data)}


def v2_request(inputs: Sequence[dict[str, Any]], **fields: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **fields}).encode()


def v2_response(
    event_id: str, outputs: Sequence[dict[str, Any]], *, model: str, version: str | None = None
) -> bytes:
    """As KServe's Python model server writes it: every field, nulls included."""
    body = {
        "model_name": model,
        "model_version": version,
        "id": event_id,
        "parameters": None,
        "outputs": [{**output, "parameters": None} for output in outputs],
    }
    return json.dumps(body, separators=(",", ":")).encode()
