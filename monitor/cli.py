"""The ``drift-monitor`` command line: run, validate, status, reference build, replay, demo,
healthcheck, produce-synthetic.

The CLI is the only place that configures logging, installs signal handlers
or prints to the terminal; everything it drives is importable and testable
without it. Exit codes: 0 success, 1 the command failed (bad config, bad
reference data, unreachable service), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from monitor.blas_threads import limit_blas_threads
from monitor.config import Config, ModelConfig, deprecations, load_config
from monitor.errors import DriftMonitorError
from monitor.keys import Keys
from monitor.logs import configure_logging
from monitor.redis_client import connect
from monitor.store import StateStore

if TYPE_CHECKING:
    from monitor.daemon import Daemon

log = logging.getLogger("monitor.cli")

CONFIG_ENV = "DRIFT_MONITOR_CONFIG"
BROKEN_PIPE = 141
"""The exit code of a command whose reader closed its output early: 128 + SIGPIPE, what a
shell reports for a program SIGPIPE ends (``check`` keeps its verdict instead)."""


class PipeConsole(Console):
    """A rich console that lets a closed output reach the command as ``BrokenPipeError``:
    rich's own handling exits 1, which from ``check`` reads as drift."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if "config" in args and args.config is None:
        parser.error(f"no config file: pass -c FILE or set {CONFIG_ENV}")
    limit_blas_threads()
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # here, not at exit: a reader that left is a broken pipe below
        return code
    except DriftMonitorError as error:
        print(f"drift-monitor: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `drift-monitor status | head`: the reader has what it wanted
        _quiet_stdout()
        return BROKEN_PIPE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drift-monitor",
        description="Streaming drift monitoring for ML models: Kafka in, Redis state, "
        "Prometheus metrics and alerts out.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon")
    _config_arg(run)
    run.add_argument("--log-format", choices=["json", "text"], help="override logging.format")
    run.add_argument(
        "--shutdown-timeout",
        type=float,
        default=25.0,
        metavar="SECONDS",
        help="after SIGTERM, exit at the latest this much later even if the batch is not "
        "done; nothing is lost, the batch is consumed again (default 25, under "
        "Kubernetes' 30 s grace period)",
    )
    run.set_defaults(handler=_run)

    validate = commands.add_parser(
        "validate", help="check a config file; exit 0 or list every error"
    )
    _config_arg(validate)
    validate.set_defaults(handler=_validate)

    status = commands.add_parser(
        "status", help="per model a summary, then the drifted results (from Redis)"
    )
    _config_arg(status)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument(
        "--all", action="store_true", help="every latest result, not only the drifted ones"
    )
    status.add_argument(
        "--model", action="append", metavar="NAME", help="only this model (repeatable)"
    )
    status.add_argument(
        "--signal",
        action="append",
        metavar="NAME",
        help="only this signal, drifted or not (repeatable)",
    )
    status.add_argument(
        "--method", action="append", metavar="NAME", help="only this method (repeatable)"
    )
    status.set_defaults(handler=_status)

    _add_reference_commands(commands)

    replay = commands.add_parser("replay", help="produce a JSONL file of events into Kafka")
    _config_arg(replay)
    replay.add_argument("file", type=Path, help="JSONL file, one event per line")
    replay.add_argument(
        "--rate", type=float, default=None, help="events per second (default: as fast as possible)"
    )
    replay.add_argument("--topic", default=None, help="topic (default: kafka.predictions_topic)")
    replay.set_defaults(handler=_replay)

    healthcheck = commands.add_parser(
        "healthcheck", help="exit 0 if the daemon's heartbeat is fresh and /readyz says ready"
    )
    _config_arg(healthcheck)
    healthcheck.add_argument(
        "--timeout", type=float, default=3.0, help="seconds per check (default 3)"
    )
    healthcheck.set_defaults(handler=_healthcheck)

    synthetic = commands.add_parser(
        "produce-synthetic", help="stream synthetic prediction events that drift, at a rate"
    )
    _config_arg(synthetic)
    synthetic.add_argument("--model", default=None, help="model to imitate (default: the first)")
    synthetic.add_argument(
        "--rate", type=float, default=500.0, help="events per second (default 500)"
    )
    synthetic.add_argument(
        "--events", type=int, default=None, help="stop after this many (default: never)"
    )
    synthetic.add_argument(
        "--drift-after", type=int, default=50_000, help="first drifted event (default 50000)"
    )
    synthetic.add_argument(
        "--drift-period",
        type=int,
        default=None,
        help="then alternate this many drifted and this many calm events (default: stay drifted)",
    )
    synthetic.add_argument(
        "--shift",
        action="append",
        default=None,
        metavar="FEATURE=SD",
        help="move a numeric feature by SD standard deviations while drifting "
        "(repeatable; default: the model's first numeric feature by 1)",
    )
    synthetic.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synthetic.add_argument("--topic", default=None, help="topic (default: kafka.predictions_topic)")
    synthetic.set_defaults(handler=_produce_synthetic)

    alerts = commands.add_parser(
        "alerts", help="active alerts, recent transitions and the outbox, from Redis"
    )
    _config_arg(alerts)
    alerts.add_argument("--json", action="store_true", help="print one JSON object")
    alerts.add_argument(
        "--limit", type=int, default=20, help="recent transitions to show (default 20)"
    )
    alerts.set_defaults(handler=_alerts)

    redrive = commands.add_parser(
        "redrive", help="send dead-lettered alert messages again, oldest first, keys unchanged"
    )
    _config_arg(redrive)
    redrive.add_argument("--sink", default=None, help="only this sink's dead letters")
    redrive.add_argument(
        "--dry-run", action="store_true", help="say what would be sent again, change nothing"
    )
    redrive.set_defaults(handler=_redrive)

    test_sink = commands.add_parser(
        "test-sink", help="send a test notification to a sink and report the outcome"
    )
    _config_arg(test_sink)
    test_sink.add_argument("name", help="sink name, as under `sinks`")
    test_sink.set_defaults(handler=_test_sink)

    _add_check(commands)
    _add_report(commands)

    demo = commands.add_parser("demo", help="the whole loop on embedded defaults, drift included")
    demo.add_argument("--events", type=int, default=60_000, help="events to stream (default 60000)")
    demo.add_argument("--rate", type=float, default=8_000, help="events per second (default 8000)")
    demo.add_argument(
        "--drift-at", type=int, default=None, help="event at which drift starts (default: half-way)"
    )
    demo.add_argument(
        "--bootstrap-servers", default=None, help="use this Kafka instead of a local broker"
    )
    demo.add_argument(
        "--redis-url", default=None, help="use this Redis instead of a local redis-server"
    )
    demo.set_defaults(handler=_demo)
    return parser


def _config_arg(parser: argparse.ArgumentParser) -> None:
    """``-c``, defaulting to ``$DRIFT_MONITOR_CONFIG`` so a shell or container sets it once."""
    default = os.environ.get(CONFIG_ENV) or None
    parser.add_argument(
        "-c",
        "--config",
        default=None if default is None else Path(default),
        type=Path,
        help=f"YAML config file (default: ${CONFIG_ENV}"
        + (f", now {default})" if default else ", not set)"),
    )


def _store(config: Config) -> StateStore:
    return StateStore(
        connect(config.redis.url, cluster=config.redis.cluster),
        Keys(config.redis.key_prefix),
        history_size=config.redis.history_size,
    )


def _validate(args: argparse.Namespace) -> int:
    from monitor.preflight import preflight

    config = load_config(args.config)
    checked = preflight(config, os.environ)
    for warning in checked.warnings:
        print(f"drift-monitor: warning: {warning}", file=sys.stderr)
    if checked.errors:
        print(
            "drift-monitor: the config is valid, but `run` would refuse it:\n"
            + "\n".join(f"  - {error}" for error in checked.errors),
            file=sys.stderr,
        )
        return 1
    print(f"{args.config}: valid ({len(config.models)} model(s): {', '.join(config.models)})")
    return 0


def _run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    config = load_config(args.config)
    configure_logging(
        args.log_format or config.logging.format,
        config.logging.level,
        config.logging.kafka_level,
    )
    if config.kafka.bootstrap_servers is None:
        print(
            "drift-monitor: kafka.bootstrap_servers must be set to run the daemon", file=sys.stderr
        )
        return 1
    for deprecated in deprecations(config):
        log.warning("deprecated config key", extra={"detail": deprecated})
    daemon = Daemon(config, connect(config.redis.url, cluster=config.redis.cluster))
    _handle_signals(daemon, args.config, args.shutdown_timeout)
    log.info("starting", extra={"instance": daemon.instance, "models": list(config.models)})
    daemon.run()
    log.info("exited cleanly after the last checkpoint", extra={"instance": daemon.instance})
    return 0


def _handle_signals(daemon: Daemon, config_path: Path, shutdown_timeout: float) -> None:
    """Signal handlers only flag; the run loop acts between batches.

    First SIGTERM/SIGINT: finish the batch, checkpoint, commit, exit; if that
    takes longer than ``shutdown_timeout``, exit anyway (state in Redis is only
    ever moved by whole batches, so the unfinished one is consumed again).
    Second: exit at once. SIGHUP: reload thresholds, rules and sinks.
    """
    received: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if received:
            log.warning("second signal: exiting at once", extra={"signal": signum})
            os._exit(128 + signum)
        received.append(signum)
        log.info("stopping after the current batch", extra={"signal": signal.Signals(signum).name})
        daemon.stop()
        deadline = threading.Timer(shutdown_timeout, _overdue, args=(shutdown_timeout,))
        deadline.daemon = True
        deadline.start()

    def reload(_signum: int, _frame: FrameType | None) -> None:
        log.info("SIGHUP: reloading after the current batch", extra={"config": str(config_path)})
        daemon.request_reload(lambda: load_config(config_path))

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)


def _overdue(timeout: float) -> None:
    log.error(
        "shutdown took longer than --shutdown-timeout; exiting without the last batch "
        "(it is consumed again on restart)",
        extra={"timeout_seconds": timeout},
    )
    logging.shutdown()
    os._exit(75)


def _status(args: argparse.Namespace) -> int:
    from monitor.alerts.records import AlertRecords
    from monitor.alerts.report import ACTIVE
    from monitor.reconciliation import estimation_status
    from monitor.status_view import StatusQuery, render, select
    from monitor.versions import known_versions, stream_name

    config = load_config(args.config)
    models = args.model or list(config.models)
    unknown = [name for name in models if name not in config.models]
    if unknown:
        print(
            f"drift-monitor: no model {', '.join(map(repr, unknown))} in the config "
            f"({', '.join(config.models)})",
            file=sys.stderr,
        )
        return 1
    query = StatusQuery(tuple(args.signal or ()), tuple(args.method or ()), args.all)
    store = _store(config)
    models = [
        stream
        for name in models
        for stream in (
            [
                name,
                *(
                    stream_name(name, v)
                    for v in known_versions(config.models[name], store.versions(name))
                ),
            ]
            if config.models[name].reference.per_version
            else [name]
        )
    ]
    report = {name: store.model_status(name) for name in models}
    for name, status in report.items():
        status["estimation"] = estimation_status(store.client, config, name, status)
    problems = query.problems(report)
    if problems:
        print("\n".join(f"drift-monitor: {problem}" for problem in problems), file=sys.stderr)
        return 1
    selected = select(report, query)
    records = AlertRecords(store.client, Keys(config.redis.key_prefix))
    open_alerts = {
        name: sum(state.status in ACTIVE for state in records.read(name).states.values())
        for name in models
    }
    if args.json:
        for name, status in selected.items():
            status["open_alerts"] = open_alerts[name]
        print(json.dumps(selected, indent=2, sort_keys=True))
        return 0
    _print_lines(render(selected, open_alerts, query, width=_width(), now=time.time()))
    return 0


def _width() -> int:
    """The terminal's width; ``COLUMNS`` when set, 80 when output is not a terminal."""
    return shutil.get_terminal_size((80, 24)).columns


def _print_lines(lines: Sequence[Text]) -> None:
    """Lines already cut to the width: printed as they are, coloured on a terminal only."""
    console = PipeConsole(highlight=False, soft_wrap=True)
    for line in lines:
        console.print(line)


def _progress(unit: Literal["bytes", "messages"]) -> Progress:
    """The one progress bar of every command. It counts what is done (bytes whose rows are
    built, messages Kafka acknowledged), not what was read, in its own unit, and draws on
    stderr: stdout keeps what a script reads (replay's summary)."""
    done: tuple[ProgressColumn, ...] = (
        (DownloadColumn(),) if unit == "bytes" else (MofNCompleteColumn(), TextColumn(unit))
    )
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        *done,
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def _add_reference_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`reference build | list | show | diff | use`: versions of a model's reference profile,
    or with ``--model-version`` of one model version's (its stream, ``fraud/version=4``)."""
    from monitor.store import KEEP_REFERENCE_VERSIONS

    reference = commands.add_parser("reference", help="reference profiles and their versions")
    actions = reference.add_subparsers(dest="reference_command", required=True, metavar="ACTION")

    def action(name: str, help: str, handler: Any, model: str = "required") -> Any:
        parser = actions.add_parser(name, help=help)
        _config_arg(parser)
        if model == "required":
            parser.add_argument("--model", required=True, help="model name, as in the config")
        else:
            parser.add_argument("--model", default=None, help="only this model (default: all)")
        _model_version_arg(parser, "that version's stream (fraud/version=4) and its reference")
        parser.set_defaults(handler=handler)
        return parser

    build = action("build", "build a model's reference profile and make it the one in use", _build)
    build.add_argument(
        "--input",
        type=Path,
        default=None,
        help="JSONL events, .csv or .parquet (required, but with --model-version: by default "
        "the version's file from reference.by_version or the {model_version} path)",
    )
    build.add_argument(
        "--yes", action="store_true", help="replace the profile in use without asking"
    )
    build.add_argument(
        "--keep",
        type=_positive,
        default=KEEP_REFERENCE_VERSIONS,
        metavar="N",
        help=f"versions kept per model, the new one included; older ones are dropped "
        f"(default {KEEP_REFERENCE_VERSIONS})",
    )
    listing = action("list", "the stored versions per model; * marks the one in use", _list, "")
    show = action("show", "a readable summary of a version (default: the one in use)", _show)
    show.add_argument("version", nargs="?", default=None, help="version id, or its start")
    diff = action("diff", "which signals moved from version A to version B", _diff)
    diff.add_argument("a", metavar="A", help="version id, or its start (the older, usually)")
    diff.add_argument("b", metavar="B", help="version id, or its start")
    for parser in (listing, show, diff):
        parser.add_argument("--json", action="store_true", help="print one JSON object")
    use = action("use", "make a kept version the one the daemon loads when it starts", _use)
    use.add_argument("version", help="version id, or its start (see `reference list`)")


def _model_version_arg(parser: argparse.ArgumentParser, acts_on: str) -> None:
    """``--model-version``: a version of a model monitored per version (README "References per
    model version"); not to be confused with the versions of a reference that ``list`` and
    ``use`` name."""
    parser.add_argument(
        "--model-version",
        default=None,
        metavar="V",
        help=f"the model's version V (as events' model_version): {acts_on}",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _known_model(config: Config, model: str) -> None:
    if model not in config.models:
        raise DriftMonitorError(
            f"model {model!r} is not in the config ({', '.join(config.models)})"
        )


def _model_store(args: argparse.Namespace) -> tuple[Config, StateStore, ModelConfig | None]:
    """The config, the Redis store and what the command acts on (None: every model), once the
    config is known to hold it: ``--model``, or with ``--model-version`` that version's stream
    (checked before Redis is contacted)."""
    from monitor.versions import version_stream

    config = load_config(args.config)
    if args.model is None:
        if args.model_version is not None:
            raise DriftMonitorError("--model-version names a version of a --model; name it")
        return config, _store(config), None
    _known_model(config, args.model)
    model = config.models[args.model]
    if args.model_version is not None:
        model = version_stream(model, args.model_version)
    return config, _store(config), model


def _judged_model(args: argparse.Namespace) -> tuple[Config, StateStore, ModelConfig]:
    """As :func:`_model_store`, for a command that needs ``--model``; refused on a model
    monitored per version without ``--model-version``: the daemon judges none of its
    events against the model's own reference, so building, showing or using one would
    mislead (a version's stream is not itself per version)."""
    from monitor.versions import known_versions

    config, store, model = _model_store(args)
    assert model is not None  # argparse requires --model
    if model.reference.per_version:
        versions = ", ".join(known_versions(model, store.versions(model.name))) or "none seen yet"
        raise DriftMonitorError(
            f"model {model.name!r} is monitored per model version: name one with "
            f"--model-version (known: {versions})"
        )
    return config, store, model


def _emit(args: argparse.Namespace, report: Any, lines: Callable[[], list[str]]) -> None:
    print(json.dumps(report, indent=2) if args.json else "\n".join(lines()))


def _build(args: argparse.Namespace) -> int:
    """Check the file and the profile in use first; then build (a bar counting the rows built),
    warn on thin bins, ask before replacing, store and keep the versions."""
    from monitor.reference import build_profile_from_file, check_data_file, thin_bins_warning
    from monitor.versions import model_of, version_of
    from monitor.when import relative

    config, store, model = _judged_model(args)
    source = _build_input(args, model)
    check_data_file(source)
    current = store.reference(model.name)
    interactive = sys.stdin.isatty()
    if current is not None and not args.yes and not interactive:
        print(
            _wrapped(
                f"drift-monitor: model {model.name} already has a reference in use, "
                f"{current.id} ({current.events:,} rows from {current.source}); nothing "
                "changed. Pass --yes to replace it (it stays kept: `reference use` goes back "
                "to it)."
            ),
            file=sys.stderr,
        )
        return 1
    with _progress("bytes") as progress:
        task = progress.add_task(f"building from {source.name}", total=source.stat().st_size)
        profile = build_profile_from_file(
            config, model, source, lambda n: progress.advance(task, n)
        )
    thin = thin_bins_warning(profile, model.reference.bins)
    if thin:
        print(_wrapped(f"drift-monitor: warning: {thin}"), file=sys.stderr)
    if current is not None and current.id != profile.id and not args.yes:
        answer = input(
            f"replace {current.id} ({current.events:,} rows, built "
            f"{relative(current.created_at, time.time())}) with {profile.id} "
            f"({profile.events:,} rows)? [y/N] "
        )
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing changed", file=sys.stderr)
            return 1
    dropped = store.store_reference(
        profile, keep=args.keep, replacing=None if current is None else current.id
    )
    version = version_of(model.name)
    if version is not None:  # the daemon loads the stream at start-up, `status` lists it
        store.register_version(model_of(model.name), version)
    print(f"stored reference {profile.id} for model {model.name} ({profile.events} events)")
    if current is not None and current.id != profile.id:
        print(_wrapped(f"It replaces {current.id}; `reference use {current.id}` goes back."))
        print(_restart_note(current.id, profile.id))
    if dropped:
        print(f"dropped the oldest (over --keep {args.keep}): {', '.join(dropped)}")
    return 0


def _build_input(args: argparse.Namespace, model: ModelConfig) -> Path:
    """``--input``, else a model version's file as the config names it."""
    if args.input is not None:
        return Path(args.input)
    if args.model_version is None:
        raise DriftMonitorError("reference build needs --input FILE")
    if model.reference.path is None:
        raise DriftMonitorError(
            f"the config names no reference file for {model.name} (it warms up from its "
            "first from_stream events); pass --input FILE"
        )
    return Path(model.reference.path)


def _restart_note(old: str, new: str) -> str:
    return _wrapped(
        f"A running daemon keeps judging against {old} until it restarts; it then loads "
        f"{new}, and windows it counted against {old} are recorded but not judged."
    )


def _wrapped(text: str) -> str:
    import textwrap

    return textwrap.fill(text, width=80, break_on_hyphens=False, break_long_words=False)


def _list(args: argparse.Namespace) -> int:
    from monitor.reference_view import list_lines, version_entry

    config, store, model = _model_store(args)
    now, report, lines = time.time(), {}, []
    for name in _listed(config, store, model):
        versions, in_use = store.reference_versions(name)
        report[name] = [version_entry(p, p.id == in_use) for p in versions]
        lines.extend(list_lines(name, versions, in_use, now))
    _emit(args, report, lambda: lines)
    return 0


def _listed(config: Config, store: StateStore, model: ModelConfig | None) -> list[str]:
    """The model or stream named, else every model, a model monitored per version as its
    versions' streams (those of by_version and those seen so far)."""
    from monitor.versions import known_versions, stream_name

    if model is not None and not model.reference.per_version:
        return [model.name]
    listed = []
    for each in config.models.values() if model is None else [model]:
        streams = [each.name]
        if each.reference.per_version:
            versions = known_versions(each, store.versions(each.name))
            streams = [stream_name(each.name, v) for v in versions] or streams
        listed.extend(streams)
    return listed


def _show(args: argparse.Namespace) -> int:
    from monitor.reference_view import profile_summary, show_lines

    _, store, model = _judged_model(args)
    _, in_use = store.reference_versions(model.name)
    if args.version is None and in_use is None:
        raise DriftMonitorError(f"model {model.name!r} has no reference in use; name a version")
    profile = store.reference_version(model.name, args.version or str(in_use))
    used = profile.id == in_use
    _emit(args, profile_summary(profile, used), lambda: show_lines(profile, used, time.time()))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from monitor.reference_view import diff_lines, diff_profiles

    _, store, model = _judged_model(args)
    old = store.reference_version(model.name, args.a)
    new = store.reference_version(model.name, args.b)
    moves = diff_profiles(old, new, model.drift.thresholds)
    report = {"a": old.id, "b": new.id, "signals": [m.to_dict() for m in moves]}
    _emit(args, report, lambda: diff_lines(old, new, moves, time.time()))
    return 0


def _use(args: argparse.Namespace) -> int:
    from monitor.reference import check_signals

    _, store, model = _judged_model(args)
    wanted = store.reference_version(model.name, args.version)
    check_signals(model, wanted)
    current = store.reference(model.name)
    if current is not None and current.id == wanted.id:
        print(f"model {model.name} already uses {wanted.id}; nothing changed")
        return 0
    store.use_reference(model.name, wanted.id)
    print(f"model {model.name} now uses reference {wanted.id} ({wanted.events:,} rows)")
    if current is not None:
        print(_restart_note(current.id, wanted.id))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from monitor.replay import count_lines, file_lines, produce_lines, require_topic, summary

    config = load_config(args.config)
    configure_logging(config.logging.format, "WARNING", config.logging.kafka_level)
    if config.kafka.bootstrap_servers is None:
        print("drift-monitor: kafka.bootstrap_servers must be set to replay", file=sys.stderr)
        return 1
    if not args.file.is_file():
        print(f"drift-monitor: {args.file} does not exist", file=sys.stderr)
        return 1
    total = count_lines(args.file)
    if total:  # an absent broker or topic is one sentence, with no bar drawn before it
        require_topic(config, args.topic or config.kafka.predictions_topic)
    with _progress("messages") as progress:
        task = progress.add_task(f"replaying {args.file.name}", total=total)
        result = produce_lines(
            config,
            file_lines(args.file),
            topic=args.topic,
            rate=args.rate,
            progress=lambda n: progress.advance(task, n),
        )
    print(json.dumps(summary(result)))
    return 0 if result.failed == 0 else 1


def _healthcheck(args: argparse.Namespace) -> int:
    from monitor.healthcheck import check_health

    report = check_health(load_config(args.config), timeout_seconds=args.timeout)
    print("\n".join(report.lines()), file=sys.stdout if report.healthy else sys.stderr)
    return 0 if report.healthy else 1


def _produce_synthetic(args: argparse.Namespace) -> int:
    from monitor.tooling.synthetic_producer import DriftSchedule, produce_synthetic

    config = load_config(args.config)
    configure_logging(config.logging.format, config.logging.level, config.logging.kafka_level)
    if config.kafka.bootstrap_servers is None:
        print("drift-monitor: kafka.bootstrap_servers must be set to produce", file=sys.stderr)
        return 1
    schedule = DriftSchedule.parse(args.shift, after=args.drift_after, period=args.drift_period)
    result = produce_synthetic(
        config,
        model=args.model,
        schedule=schedule,
        rate=args.rate,
        events=args.events,
        seed=args.seed,
        topic=args.topic,
    )
    return 0 if result.failed == 0 else 1


def _alerts(args: argparse.Namespace) -> int:
    from monitor.alerts.report import alerts_report
    from monitor.alerts_view import render

    config = load_config(args.config)
    report = alerts_report(
        config, connect(config.redis.url, cluster=config.redis.cluster), limit=args.limit
    )
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_lines(render(report, width=_width(), now=time.time()))
    return 0


def _redrive(args: argparse.Namespace) -> int:
    from monitor.alerts.outbox import Outbox
    from monitor.alerts.records import AlertRecords
    from monitor.alerts.redrive import redrive

    config = load_config(args.config)
    if args.sink is not None and args.sink not in config.sinks:
        print(f"drift-monitor: no sink {args.sink!r} in the config", file=sys.stderr)
        return 1
    client = connect(config.redis.url, cluster=config.redis.cluster)
    keys = Keys(config.redis.key_prefix)
    outbox = Outbox(client, keys, dead_letter_size=config.alerting.dead_letter_size)
    report = redrive(
        config, outbox, AlertRecords(client, keys), sink=args.sink, dry_run=args.dry_run
    )
    verb = "would send again" if args.dry_run else "sent again"
    for letter in report.requeued:
        print(f"{verb}: {letter.message.sink} {letter.message.key}")
    for letter, why in report.left:
        print(f"left dead: {letter.message.sink} {letter.message.key}: {why}")
    print(f"{len(report.requeued)} {verb}, {len(report.left)} left in the dead-letter list")
    return 0


def _test_sink(args: argparse.Namespace) -> int:
    from monitor.alerts.report import send_test

    config = load_config(args.config)
    if args.name not in config.sinks:
        print(
            f"drift-monitor: no sink {args.name!r} in the config "
            f"({', '.join(config.sinks) or 'none defined'})",
            file=sys.stderr,
        )
        return 1
    result, seconds = send_test(config, args.name)
    outcome = "delivered" if result.ok else "FAILED"
    print(f"{args.name}: {outcome} in {seconds * 1000:.0f} ms ({result.detail})")
    return 0 if result.ok else 1


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`report`: one self-contained HTML file of the drift, from Redis (see monitor.report)."""
    report = commands.add_parser(
        "report", help="write an HTML report (timelines, histograms) that opens offline"
    )
    _config_arg(report)
    report.add_argument(
        "--model", action="append", metavar="NAME", help="only this model (repeatable)"
    )
    report.add_argument(
        "--windows", type=int, default=200, help="the last N closed windows (default 200)"
    )
    report.add_argument(
        "--signal",
        action="append",
        default=[],
        metavar="NAME",
        help="also draw this signal's distribution, drifted or not (repeatable)",
    )
    report.add_argument(
        "--out", type=Path, default=Path("report.html"), help="file (default report.html)"
    )
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from monitor.report import build

    config = load_config(args.config)
    unknown = [m for m in args.model or () if m not in config.models]
    if unknown:
        print(f"drift-monitor: no model {unknown[0]!r} in the config", file=sys.stderr)
        return 1
    models = [config.models[m] for m in args.model or config.models]
    signals = {s for m in models for s in (*m.features, "prediction")}
    missing = [s for s in args.signal if s not in signals]
    if missing:
        print(f"drift-monitor: no signal {missing[0]!r} in those models", file=sys.stderr)
        return 1
    page = build(
        config, _store(config), models=args.model, windows=args.windows, signals=args.signal
    )
    args.out.write_text(page, encoding="utf-8")
    print(f"report written: {args.out.resolve()} ({len(page.encode()) / 1e6:.2f} MB)")
    return 0


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`check`: a file judged as one window (see monitor.check)."""
    check = commands.add_parser(
        "check",
        help="judge a file against the reference, no Kafka needed; exit 0 no drift, 1 drift, "
        "2 error",
    )
    _config_arg(check)
    check.add_argument("--model", required=True, help="model name, as in the config")
    _model_version_arg(
        check,
        "judge against that version's reference (stored, else the version's file from the "
        "config, also when Redis cannot be reached)",
    )
    check.add_argument("--input", required=True, type=Path, help="JSONL events, .csv or .parquet")
    check.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="build the reference from this file (as `reference build` does) instead of "
        "reading the stored one from Redis",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    """Exit 0 no drift, 1 drift, 2 the check could not run (one line on stderr).

    Any exception is 2: a pipeline gating on 1 must not read a failure as drift (Python
    exits 1 on an uncaught one)."""
    from monitor.check import check_file, one_line, print_result

    try:
        result = check_file(
            args.config,
            args.model,
            args.input,
            reference=args.reference,
            model_version=args.model_version,
        )
    except DriftMonitorError as error:
        print(f"drift-monitor: {one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:
        failure = f"{type(error).__name__}: {error}"
        print(f"drift-monitor: the check failed, a bug to report: {failure}", file=sys.stderr)
        return 2
    verdict = 1 if result.drifted else 0
    try:
        if args.json:
            print(json.dumps(result.to_dict(), indent=2))
        else:
            print_result(result, PipeConsole())
        sys.stdout.flush()
    except BrokenPipeError:  # `check ... | head`: a pipeline gating on it still gets the verdict
        _quiet_stdout()
    return verdict


def _quiet_stdout() -> None:
    """Point stdout at /dev/null after its reader left, so the interpreter's last flush
    raises no second BrokenPipeError (the recipe of Python's ``signal`` documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _demo(args: argparse.Namespace) -> int:
    from monitor.tooling.demo import run_demo

    configure_logging("text", "ERROR")
    return int(
        run_demo(
            events=args.events,
            rate=args.rate,
            drift_at=args.drift_at,
            bootstrap_servers=args.bootstrap_servers,
            redis_url=args.redis_url,
        )
    )
