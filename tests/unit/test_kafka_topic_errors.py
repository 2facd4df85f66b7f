"""What the daemon does with the topic errors librdkafka reports: a missing topic, a fatal error.

A daemon that stays up through a topic's deletion is not tested on the broker: once Tansu
deletes a subscribed topic, the subscribed consumer's process dies of SIGSEGV inside
librdkafka 2.16.0 (a bare confluent_kafka Consumer as well, so not the daemon's code; Tansu
itself stays up; README, "Your own Kafka and Redis"). The restart after it is tested in
``tests/integration/test_missing_topics.py``; what the daemon does with the error
librdkafka reports, should it survive, is tested here on the error itself.
"""

from __future__ import annotations

import logging
import threading
from typing import cast

import pytest
from confluent_kafka import KafkaError

from monitor.source import KafkaSource, KafkaUnusable
from monitor.store import StateStore
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import pipeline_config

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)


def _source() -> KafkaSource:
    """A source that is never started: only its handling of librdkafka's errors is used."""
    config = pipeline_config(
        bootstrap="127.0.0.1:9",
        redis_url="redis://127.0.0.1:9",
        topic="predictions",
        group="group",
        model=MODEL,
    )
    return KafkaSource(config, cast(StateStore, None), client_id="test", stop=threading.Event())


def test_an_unknown_topic_error_marks_the_topic_missing_and_is_logged_once_per_30_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = "predictions"
    source = _source()
    caplog.set_level(logging.WARNING, logger="monitor.source")
    gone = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
    assert not source._usable(topic, gone)
    assert not source._usable(topic, gone)
    assert source.missing_topics == [topic]
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"kafka topic {topic} does not exist (deleted while running?)")


def test_a_fatal_kafka_error_stops_with_a_sentence_not_an_internal_exception() -> None:
    fatal = KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True)
    with pytest.raises(KafkaUnusable, match="Kafka reported a fatal error: _FENCED: fenced"):
        _source()._usable("t", fatal)
