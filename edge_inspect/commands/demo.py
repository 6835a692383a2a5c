"""``edge-inspect demo``: the shipped samples through the shipped model, published to an embedded broker."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from edge_inspect.commands.options import add_overrides

REPO = Path(__file__).resolve().parents[2]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="replay the shipped sample images through the shipped model, over an embedded broker"
    )
    parser.add_argument("--model", type=Path, default=REPO / "models" / "dagm-unet", help="model package")
    parser.add_argument(
        "--samples", type=Path, default=REPO / "models" / "dagm-sample", help="images to replay"
    )
    add_overrides(parser, "model.variant=fp32")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_inspect.app import App
    from edge_inspect.config import build_config
    from edge_inspect.demo.broker import EmbeddedBroker
    from edge_inspect.demo.console import ConsoleSink, format_summary, summarise
    from edge_inspect.errors import EdgeInspectError
    from edge_inspect.log import configure_logging

    for path in (args.model, args.samples):
        if not path.exists():
            msg = f"{path} not found: the demo runs from a source checkout (pip install -e .)"
            raise EdgeInspectError(msg)
    configure_logging("warning", "console")
    with EmbeddedBroker() as broker:
        config = build_config(
            {
                "station": "demo",
                "camera": "cam-1",
                "source": {"type": "replay", "path": str(args.samples), "fps": 0, "loop": 1},
                "model": {"path": str(args.model)},
                "mqtt": {"host": "127.0.0.1", "port": broker.port, "protocol": "3.1.1"},
            },
            source="demo",
            base_dir=REPO,
            overrides=args.overrides,
        )
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
        subscriber.connect("127.0.0.1", broker.port)
        subscriber.loop_start()
        app = App(config, extra_sinks=[console := ConsoleSink()])
        subscriber.subscribe(app.topics.result, qos=1)
        if not subscribed.wait(10):
            msg = "the demo's subscriber could not subscribe to the embedded broker"
            raise EdgeInspectError(msg)
        print(
            f"edge-inspect demo: {args.samples} -> {args.model.name} -> mqtt://127.0.0.1:{broker.port}/{app.topics.result}"
        )
        code = app.run()
        with all_in:
            all_in.wait_for(lambda: len(received) >= len(console.results), timeout=10)
        subscriber.disconnect()
        subscriber.loop_stop()
        print(format_summary(summarise(console.results, app.stats.snapshot()), received=len(received)))
    return code
