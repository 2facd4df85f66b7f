"""Reading what model servers already write: KServe's payload logger and the Open Inference
Protocol, as CloudEvents on Kafka.

A model server logs each inference as two CloudEvents with one id, the request and the
response, which may land on different partitions in either order. This package turns
such messages into the daemon's own prediction events, one per row of a batched
request:

* :mod:`~monitor.payloads.cloudevents` reads the envelope (binary or structured mode of
  the CloudEvents Kafka protocol binding);
* :mod:`~monitor.payloads.v1` and :mod:`~monitor.payloads.oip` read the bodies (KServe V1
  ``instances`` / ``predictions``, Open Inference Protocol tensors);
* :mod:`~monitor.payloads.halves` makes one message a request or response half, and
  keeps a waiting half as bytes for Redis;
* :mod:`~monitor.payloads.pairing` plans, without I/O, which halves pair up, which wait
  and which have waited too long;
* :mod:`~monitor.payloads.rows` turns a pair into prediction events;
* :mod:`~monitor.payloads.stage` is what the daemon calls once per batch.

Nothing here is used with ``payload.format: drift-monitor``.
"""
