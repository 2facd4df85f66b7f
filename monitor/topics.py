"""The daemon's Kafka topics: which exist, creating them when asked, and how to say what is missing.

A consumer subscribed to a topic that does not exist gets no partitions and, from
librdkafka, an ``UNKNOWN_TOPIC_OR_PART`` error per fetch; a producer's dead letter
to a missing topic is refused. So ``run`` checks every topic it reads or writes
before it subscribes, names each missing one with how to create it, and waits
(``kafka.create_topics: true`` creates them instead). Listing uses a Metadata
request for every topic: asking for one named topic would auto-create it on brokers
with ``auto.create.topics.enable`` (and on Tansu, always).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin re-exports it implicitly

from monitor.config import Config
from monitor.errors import DriftMonitorError, ServiceUnavailable
from monitor.logs import KAFKA_LOGGER

_log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger(KAFKA_LOGGER)

_CONNECTION_PREFIXES = ("security.", "sasl.", "ssl.", "socket.", "client.")
"""The librdkafka settings an admin client must share with the consumer to reach the same
cluster (credentials, TLS, timeouts); consumer-only settings would only draw warnings."""


def daemon_topics(config: Config) -> list[str]:
    """Every topic ``run`` reads or writes: predictions, labels (if any), dead letters."""
    kafka = config.kafka
    topics = [kafka.predictions_topic]
    if kafka.labels_topic is not None:
        topics.append(kafka.labels_topic)
    topics.append(kafka.dead_letter_topic)
    return topics


def admin_settings(config: Config) -> dict[str, Any]:
    """librdkafka settings for an admin client that reaches the daemon's cluster."""
    kafka = config.kafka
    if kafka.bootstrap_servers is None:
        raise ValueError("kafka.bootstrap_servers is not set")
    shared = {
        name: value
        for name, value in kafka.consumer.items()
        if name.startswith(_CONNECTION_PREFIXES)
    }
    return {**shared, "bootstrap.servers": kafka.bootstrap_servers}


def existing_topics(admin: AdminClient, bootstrap_servers: str, timeout: float) -> dict[str, int]:
    """Topic name -> partition count, of the topics the cluster lists with partitions."""
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ServiceUnavailable(
            f"Kafka at {bootstrap_servers} did not answer a Metadata request within "
            f"{timeout:.0f}s: {exc.args[0].str()}"
        ) from exc
    return {
        name: len(meta.partitions)
        for name, meta in metadata.topics.items()
        if meta.error is None and meta.partitions
    }


def topic_ids(admin: AdminClient, topics: Sequence[str], timeout: float) -> dict[str, str]:
    """Topic name -> Kafka topic id, of those of ``topics`` that exist and have one.

    A deleted and recreated topic has a new id (brokers without topic ids, before Kafka
    2.8, give none: their topics are left out). Only listed topics are described, since a
    description names them and Tansu creates a topic it is asked about by name. Raises
    :class:`KafkaException` if the broker does not answer in ``timeout`` seconds.
    """
    listed = admin.list_topics(timeout=timeout).topics
    present = [name for name in topics if name in listed and listed[name].error is None]
    if not present:
        return {}
    described = admin.describe_topics(TopicCollection(present), request_timeout=timeout)
    ids = {}
    for name, future in described.items():
        topic_id = future.result(timeout=timeout).topic_id
        if topic_id.get_most_significant_bits() or topic_id.get_least_significant_bits():
            ids[name] = str(topic_id)
    return ids


def how_to_create(topics: Sequence[str], config: Config) -> str:
    """One sentence a user can act on: the command that creates ``topics``, or the setting."""
    commands = "; ".join(
        f"kafka-topics.sh --bootstrap-server {config.kafka.bootstrap_servers} --create "
        f"--topic {name} --partitions {config.kafka.topic_partitions}"
        for name in topics
    )
    return f"create them ({commands}), or set kafka.create_topics: true"


def ensure_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    admin_config: Mapping[str, object] | None = None,
    *,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics in ``topics`` (name -> partitions) that do not exist yet.

    Idempotent, so the daemon (with ``kafka.create_topics``) and the demo call it at every
    start-up, and two instances racing to create the same topic both succeed
    (TOPIC_ALREADY_EXISTS counts as success). Existing
    topics are never altered; a partition count that differs from the request is logged. The
    replication factor is the broker's default, which suits both Tansu and a real cluster.
    Returns the names this call created.

    ``admin_config`` carries librdkafka settings (security, timeouts); ``bootstrap_servers``
    wins over any ``bootstrap.servers`` in it. Raises
    :class:`~monitor.errors.ServiceUnavailable` if the broker cannot be reached in ``timeout``
    seconds and :class:`~monitor.errors.DriftMonitorError` if it refuses a creation.
    """
    if isinstance(topics, str) or not isinstance(topics, Mapping):
        raise TypeError("ensure_topics() takes a mapping of topic name -> partition count")
    if not topics:
        return []
    config: dict[str, Any] = {**(admin_config or {}), "bootstrap.servers": bootstrap_servers}
    admin = AdminClient(config, logger=_rdkafka_log)
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        return max(0.1, deadline - time.monotonic())

    def existing() -> dict[str, int]:
        return existing_topics(admin, bootstrap_servers, remaining())

    present = existing()
    missing = [
        NewTopic(name, num_partitions=n) for name, n in topics.items() if name not in present
    ]
    created: list[str] = []
    if missing:
        futures = admin.create_topics(missing, request_timeout=remaining())
        for name, future in futures.items():
            try:
                future.result(timeout=remaining())
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                if error.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT):
                    raise ServiceUnavailable(
                        f"creating topic {name!r} on {bootstrap_servers} timed out: {error.str()}"
                    ) from exc
                raise DriftMonitorError(
                    f"Kafka at {bootstrap_servers} refused to create topic {name!r}: "
                    f"{error.name()}: {error.str()}"
                ) from exc
            created.append(name)
        _log.info("created Kafka topics %s on %s", sorted(created), bootstrap_servers)

    # Creation is acknowledged by the controller before every broker's metadata shows the
    # topic; wait until it does, so a consumer assigned right after finds its partitions.
    while True:
        present = existing()
        pending = [name for name in topics if name not in present]
        if not pending:
            break
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(
                f"topics {pending} were created on {bootstrap_servers} but did not appear in "
                f"its metadata within {timeout:.0f}s"
            )
        time.sleep(0.05)
    for name, wanted in topics.items():
        if present[name] != wanted:
            _log.warning(
                "topic %r on %s has %d partitions, not the %d requested; leaving it as it is",
                name,
                bootstrap_servers,
                present[name],
                wanted,
            )
    return created


RECHECK_SECONDS = 2.0
"""How often a daemon waiting for its topics asks the cluster again."""
REMIND_SECONDS = 30.0
"""How often the wait is logged again: the first line at once, then a reminder."""


def await_topics(
    config: Config, stop: threading.Event, report: Callable[[list[str], str | None], None]
) -> None:
    """Return once every topic of :func:`daemon_topics` exists, or ``stop`` is set.

    Missing topics are created when ``kafka.create_topics`` is on; otherwise they are
    named, with how to create them, at once and every ``REMIND_SECONDS``, and ``report``
    hears the current list (``/readyz`` shows it) until it is empty. An unreachable
    cluster is waited for the same way, and ``report`` hears why instead of a list: no
    topic is known to be missing while nobody answers.
    """
    kafka = config.kafka
    bootstrap = str(kafka.bootstrap_servers)
    settings = admin_settings(config)
    admin = AdminClient(settings, logger=_rdkafka_log)
    wanted = daemon_topics(config)
    said_at: float | None = None
    while not stop.is_set():
        unreachable: str | None = None
        try:
            present = existing_topics(admin, bootstrap, timeout=10.0)
        except ServiceUnavailable as error:
            missing, unreachable = [], str(error)
            problem = f"{error}; waiting for it"
        else:
            missing = [name for name in wanted if name not in present]
            if not missing:
                report([], None)
                if said_at is not None:
                    _log.info("kafka topics present; consuming", extra={"topics": wanted})
                return
            if kafka.create_topics:
                ensure_topics(bootstrap, dict.fromkeys(missing, kafka.topic_partitions), settings)
                continue
            problem = (
                f"kafka topics missing on {bootstrap}: {', '.join(missing)}; "
                f"{how_to_create(missing, config)}. Waiting for them."
            )
        report(missing, unreachable)
        now = time.monotonic()
        if said_at is None or now - said_at >= REMIND_SECONDS:
            _log.error(problem, extra={"topics": wanted, "missing_topics": missing})
            said_at = now
        stop.wait(RECHECK_SECONDS)
