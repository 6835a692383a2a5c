"""``edge-inspect demo``: the shipped samples through the shipped model, published to an embedded broker.

It runs ``config/replay.yaml`` (the tuned engine settings of ``edge-inspect run --config
config/replay.yaml``) with the broker, station and outbox pointed at throw-away ones; any ``--set`` applies
on top. Every failure ends with a non-zero exit: a bad config (2), a failed start, results the
subscriber did not receive.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path
from typing import Any

from edge_inspect.commands.options import add_overrides
from edge_inspect.shipped import MODEL, REPLAY_CONFIG, SAMPLES

EXIT_NOT_RECEIVED = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="replay the shipped sample images through the shipped model, over an embedded broker"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help=f"model package (default: the shipped {MODEL})"
    )
    parser.add_argument(
        "--samples", type=Path, default=None, help=f"images to replay (default: the shipped {SAMPLES})"
    )
    add_overrides(parser, "source.fps=25")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_inspect.app import App
    from edge_inspect.config.loader import load_config_with_origins
    from edge_inspect.demo.broker import EmbeddedBroker
    from edge_inspect.demo.console import ConsoleSink, describe_engine, format_summary, summarise
    from edge_inspect.errors import EdgeInspectError
    from edge_inspect.log import configure_logging
    from edge_inspect.shipped import shipped

    model = (args.model or shipped(MODEL)).absolute()
    samples = (args.samples or shipped(SAMPLES)).absolute()
    configure_logging("warning", "console")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="edge-inspect-demo-") as state:
        demo = [
            "station=demo",
            f"source.path={samples}",
            f"model.path={model}",
            "mqtt.host=127.0.0.1",
            f"mqtt.port={broker.port}",
            "mqtt.protocol=3.1.1",
            f"paths.state_dir={state}",
        ]
        # the user's --set last: they win over the demo's own
        config = load_config_with_origins(shipped(REPLAY_CONFIG), [*demo, *args.overrides]).config
        received: list[bytes] = []
        all_in = threading.Condition()

        def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            with all_in:
                received.append(bytes(msg.payload))
                all_in.notify_all()

        subscribed = threading.Event()
        subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        subscriber.on_message = on_message
        subscriber.on_subscribe = lambda *_args: subscribed.set()
        subscriber.connect(config.mqtt.host, config.mqtt.port)
        subscriber.loop_start()
        app = App(config, extra_sinks=[console := ConsoleSink()])
        subscriber.subscribe(app.topics.result, qos=1)
        if not subscribed.wait(10):
            msg = "the demo's subscriber could not subscribe to the embedded broker"
            raise EdgeInspectError(msg)
        print(
            f"edge-inspect demo: {samples} -> {model.name} -> mqtt://127.0.0.1:{broker.port}/{app.topics.result}"
        )
        print(f"  {describe_engine(app)}")
        paced = float(getattr(config.station_cameras[0].source, "fps", 0) or 0) > 0
        code = app.run()
        with all_in:
            all_in.wait_for(lambda: len(received) >= len(console.results), timeout=10)
        subscriber.disconnect()
        subscriber.loop_stop()
        print(
            format_summary(summarise(console.results, app.final_stats, paced=paced), received=len(received))
        )
    if code == 0 and len(received) < len(console.results):
        missing = len(console.results) - len(received)
        print(f"edge-inspect demo: {missing} result(s) did not reach the subscriber")
        return EXIT_NOT_RECEIVED
    return code
