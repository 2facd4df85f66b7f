"""Where each message of a batch came from: topic, partition, offset and Kafka timestamp.

Read off the messages once, when the batch is decoded, and carried with the decoded
events as columns (a row's ``position`` indexes them), so everything downstream (event-time
watermarks per partition, sequential detectors owned by a partition, dead letters) works on
plain arrays and never on confluent-kafka ``Message`` objects. Reading all four costs about
a tenth of a microsecond per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from confluent_kafka import Message
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Origins:
    """Per message, by its position in the batch: topic, partition, offset, timestamp."""

    topics: Sequence[str]
    partitions: NDArray[np.int64]
    offsets: NDArray[np.int64]
    timestamps: NDArray[np.float64]
    """Kafka's message timestamp in epoch seconds; NaN where the message has none."""

    @classmethod
    def of_messages(cls, messages: Sequence[Message]) -> Origins:
        count = len(messages)
        stamps = np.fromiter(
            (stamp for _, stamp in map(Message.timestamp, messages)), np.float64, count
        )
        stamps[stamps < 0] = np.nan
        return cls(
            topics=[topic or "" for topic in map(Message.topic, messages)],
            partitions=np.fromiter(map(Message.partition, messages), np.int64, count),
            offsets=np.fromiter(map(Message.offset, messages), np.int64, count),
            timestamps=stamps / 1000.0,
        )

    @classmethod
    def of_lines(cls, source: str, count: int, timestamp: float) -> Origins:
        """Lines of a file (a reference, events to check): the line number is the offset."""
        return cls(
            topics=[source] * count,
            partitions=np.zeros(count, np.int64),
            offsets=np.arange(count, dtype=np.int64),
            timestamps=np.full(count, timestamp, np.float64),
        )

    def at(self, positions: NDArray[np.intp]) -> Origins:
        """The origins of these messages, in this order (one message may come several times:
        each row of a model server's batched request comes from the message that completed
        its pair)."""
        return Origins(
            topics=[self.topics[p] for p in positions.tolist()],
            partitions=self.partitions[positions],
            offsets=self.offsets[positions],
            timestamps=self.timestamps[positions],
        )

    def __len__(self) -> int:
        return len(self.topics)

    def timestamps_of(self, positions: NDArray[np.intp]) -> NDArray[np.float64]:
        """The Kafka timestamps of these messages: the event time of events without one."""
        return self.timestamps[positions]
