"""drift-monitor redrive: dead-lettered messages sent again, in order, unless that would mislead.

Real redis-server, real delivery worker, real HTTP receiver: the receiver first
refuses for good (400), is "fixed", and the redriven letters reach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from monitor.alerts.plan import OutboxMessage
from monitor.alerts.records import AlertRecords
from monitor.alerts.redrive import redrive
from monitor.alerts.state import AlertState, Status
from monitor.cli import main
from monitor.config import Config
from monitor.keys import Keys
from monitor.tooling.embedded import RedisServer
from tests.alert_harness import MODEL, enqueue, make_worker, outbox, running, sink_config
from tests.alert_receivers import Receiver, receiver
from tests.daemon_harness import wait_until

pytestmark = pytest.mark.integration

DEDUP_KEY = f"{MODEL}/feature_drift/amount"


def _message(sink: str, episode: int, status: str) -> OutboxMessage:
    key = f"{DEDUP_KEY}/{episode}/{status}" + ("/critical" if status == "firing" else "")
    facts = {"dedup_key": DEDUP_KEY, "model": MODEL, "status": status, "episode": episode}
    return OutboxMessage(sink, key, "alert", facts)


def _state(status: Status, episode: int) -> dict[str, str]:
    return {DEDUP_KEY: AlertState(status=status, episode=episode).to_json()}


def _config(redis_server: RedisServer, **receivers: Receiver) -> Config:
    sinks = {name: {"type": "webhook", "url": r.url} for name, r in receivers.items()}
    return sink_config(redis_server.url, sinks)


def _dead_letters_of(
    client: redis.Redis, config: Config, messages: list[OutboxMessage], state: dict[str, str]
) -> None:
    """The messages, refused for good by their sinks, in the dead-letter list."""
    enqueue(client, config, messages, state)
    with running(make_worker(client, config)):
        wait_until(
            lambda: len(outbox(client, config).dead_letter_entries()) == len(messages),
            10,
            "the dead letters",
        )


def _redrive(client: redis.Redis, config: Config, **options: Any) -> Any:
    keys = Keys(config.redis.key_prefix)
    return redrive(config, outbox(client, config), AlertRecords(client, keys), **options)


def test_a_firing_message_is_sent_again_with_its_key_while_its_episode_lasts(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver(default=400) as team:
        config = _config(redis_server, team=team)
        firing = _message("team", 1, "firing")
        _dead_letters_of(redis_client, config, [firing], _state("firing", 1))
        team.default = 200

        report = _redrive(redis_client, config)
        with running(make_worker(redis_client, config)):
            wait_until(lambda: len(team.accepted()) == 1, 10, "the redriven delivery")

    assert [letter.message.key for letter in report.requeued] == [firing.key]
    assert team.accepted_keys() == {firing.key: 1}
    assert outbox(redis_client, config).dead_letter_entries() == []
    assert outbox(redis_client, config).depth() == {"team": 0}


def test_a_firing_message_of_an_episode_that_is_over_is_left_dead(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver(default=400) as team:
        config = _config(redis_server, team=team)
        _dead_letters_of(
            redis_client, config, [_message("team", 1, "firing")], _state("resolved", 1)
        )

        report = _redrive(redis_client, config)

    assert report.requeued == []
    ((letter, why),) = report.left
    assert "episode is over" in why
    assert outbox(redis_client, config).dead_letter_entries() == [letter]


def test_letters_are_sent_again_in_the_order_they_were_first_meant_to_arrive(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver(default=400) as team:
        config = _config(redis_server, team=team)
        messages = [_message("team", n, "resolved") for n in (1, 2, 3)]
        _dead_letters_of(redis_client, config, messages, _state("resolved", 3))
        team.default = 200

        _redrive(redis_client, config)
        with running(make_worker(redis_client, config)):
            wait_until(lambda: len(team.accepted()) == 3, 10, "the redriven deliveries")

    assert [r.headers["Idempotency-Key"] for r in team.accepted()] == [m.key for m in messages]


def test_redrive_of_one_sink_leaves_the_other_sinks_letters_dead(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver(default=400) as team, receiver(default=400) as pager:
        config = _config(redis_server, team=team, pager=pager)
        resolved = [_message("team", 1, "resolved"), _message("pager", 1, "resolved")]
        _dead_letters_of(redis_client, config, resolved, _state("resolved", 1))

        report = _redrive(redis_client, config, sink="pager")

    assert [letter.message.sink for letter in report.requeued] == ["pager"]
    left = outbox(redis_client, config).dead_letter_entries()
    assert [letter.message.sink for letter in left] == ["team"]


def test_redrive_dry_run_prints_what_it_would_send_and_changes_nothing(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with receiver(default=400) as team:
        config = _config(redis_server, team=team)
        resolved = _message("team", 1, "resolved")
        _dead_letters_of(redis_client, config, [resolved], _state("resolved", 1))
        path = tmp_path / "config.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "redis": {"url": redis_server.url, "key_prefix": config.redis.key_prefix},
                    "models": {
                        MODEL: {
                            "reference": {"path": "ref.jsonl"},
                            "window": {"events": 500},
                            "features": {"amount": "numeric"},
                        }
                    },
                    "sinks": {"team": {"type": "webhook", "url": team.url}},
                }
            )
        )

        assert main(["redrive", "-c", str(path), "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert f"would send again: team {resolved.key}" in out
    assert "1 would send again, 0 left in the dead-letter list" in out
    assert len(outbox(redis_client, config).dead_letter_entries()) == 1
