"""``edge-inspect tail``: subscribe to results and parts and print one line each, coloured by verdict.

For commissioning and for the MES side: ``--share mes`` joins a shared subscription, exactly as an MES
consumer group would; ``--json`` prints the raw messages for ``jq``. Broker, TLS and credentials come from
``--config`` (a station's own config file) and/or the flags, the flags winning.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

_COLOURS = {"PASS": "\x1b[32m", "NG": "\x1b[1;31m", "ERROR": "\x1b[33m"}
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
_WORST_DEFECTS_SHOWN = 3
_TIME_OF_DAY = slice(11, 23)  # 'HH:MM:SS.mmm' of an ISO timestamp


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("tail", help="subscribe to inspection results and print them")
    parser.add_argument("--config", type=Path, help="a station config: broker, TLS and credentials from it")
    parser.add_argument("--host", help="broker host (default: the config's, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="broker port (default: the config's, else 1883)")
    parser.add_argument(
        "--protocol",
        choices=("5", "3.1.1"),
        help="MQTT version (default: the config's mqtt.protocol, else 5); 3.1.1 for brokers that speak "
        "no MQTT 5 (RabbitMQ 3.x, amqtt)",
    )
    parser.add_argument("--prefix", help="topic prefix (default: the config's mqtt.topic_prefix)")
    parser.add_argument("--station", default="+", help="station id, or + for all (default)")
    parser.add_argument("--camera", default="+", help="camera id, or + for all (default)")
    parser.add_argument("--share", metavar="GROUP", help="join the shared subscription $share/GROUP/...")
    parser.add_argument("--status", action="store_true", help="also print daemon and camera status")
    parser.add_argument("--count", type=int, help="exit after this many results")
    parser.add_argument("--json", action="store_true", help="print each message's raw JSON on one line")
    parser.add_argument("--colour", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--password-file", type=Path, help="file holding the broker password")
    parser.add_argument("--ca-file", type=Path, help="CA of the broker's certificate (enables TLS)")
    parser.add_argument("--cert-file", type=Path, help="client certificate (PEM)")
    parser.add_argument("--key-file", type=Path, help="client private key (PEM)")
    parser.add_argument("--insecure", action="store_true", help="skip the broker host-name check")
    parser.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ formatting


def format_result(payload: Mapping[str, Any], *, colour: bool) -> str:
    """``08:15:02.123 st-1/cam-1 #42 NG  12.3 ms  2 defects: scratch 130px @(10,20) p=0.93  -> path``."""
    verdict = str(payload.get("verdict", "?"))
    shown = f"{verdict:5}"
    if colour:
        shown = f"{_COLOURS.get(verdict, '')}{shown}{_RESET}"
    when = str(payload.get("timestamp", ""))[_TIME_OF_DAY]
    where = f"{payload.get('station', '?')}/{payload.get('camera', '?')}"
    total = (payload.get("timings_ms") or {}).get("total")
    latency = f"{total:7.1f} ms" if isinstance(total, int | float) else "      - ms"
    parts = [f"{when} {where} #{payload.get('seq', '?')} {shown} {latency}"]
    if verdict == "ERROR":
        parts.append(f"error: {payload.get('error')}")
    else:
        parts.append(_defects(payload.get("defects") or []))
    if payload.get("image_path"):
        parts.append(f"-> {payload['image_path']}")
    if payload.get("replayed"):
        parts.append("(replayed)")
    return "  ".join(parts)


def _defects(defects: Sequence[Mapping[str, Any]]) -> str:
    if not defects:
        return "no defects"
    worst = sorted(defects, key=lambda d: -float(d.get("max_score", 0.0)))[:_WORST_DEFECTS_SHOWN]
    described = ", ".join(
        f"{d.get('class')} {d.get('area_px')}px @({d.get('bbox', {}).get('x')},{d.get('bbox', {}).get('y')}) "
        f"p={float(d.get('max_score', 0.0)):.2f}"
        for d in worst
    )
    more = f" (+{len(defects) - len(worst)} more)" if len(defects) > len(worst) else ""
    noun = "defect" if len(defects) == 1 else "defects"
    return f"{len(defects)} {noun}: {described}{more}"


def format_part(payload: Mapping[str, Any], *, colour: bool) -> str:
    """``08:15:02.345 part st-1 P-0001 NG   312.0 ms  camera top shot 1: NG (1 defect > max 0)``."""
    verdict = str(payload.get("verdict", "?"))
    shown = f"{_COLOURS.get(verdict, '')}{verdict:<5}{_RESET}" if colour else f"{verdict:<5}"
    when = str(payload.get("decided_at", ""))[_TIME_OF_DAY]
    took = payload.get("latency_ms")
    latency = f"{took:7.1f} ms" if isinstance(took, int | float) else "      - ms"
    line = [f"{when} part {payload.get('station', '?')} {payload.get('part_id', '?')} {shown} {latency}"]
    reasons = payload.get("reasons") or []
    line.append(
        "; ".join(str(r) for r in reasons) if reasons else f"{len(payload.get('frames') or [])} shots"
    )
    if payload.get("duplicate"):
        line.append("(duplicate id)")
    return "  ".join(line)


def format_status(topic: str, payload: Mapping[str, Any], *, colour: bool) -> str:
    """``08:15:02.123 status st-1 online`` (or ``camera st-1/cam-1 reconnecting: device removed``)."""
    when = str(payload.get("timestamp", ""))[_TIME_OF_DAY]
    kind = "camera" if topic.endswith("/camera") else "status"
    whose = payload.get("station", "?") + (f"/{payload['camera']}" if payload.get("camera") else "")
    reason = f": {payload['reason']}" if payload.get("reason") else ""
    line = f"{when} {kind} {whose} {payload.get('state', '?')}{reason}"
    return f"{_DIM}{line}{_RESET}" if colour else line


def format_message(topic: str, raw: bytes, *, colour: bool) -> str:
    """One printable line for any message; a message that is not JSON is shown as such, never fatal."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"unreadable message on {topic} ({len(raw)} bytes): {exc}"
    if not isinstance(payload, dict):
        return f"unexpected message on {topic}: {raw[:200]!r}"
    if topic.endswith("/result"):
        return format_result(payload, colour=colour)
    if topic.endswith("/part"):
        return format_part(payload, colour=colour)
    return format_status(topic, payload, colour=colour)


def subscriptions(prefix: str, station: str, camera: str, *, share: str | None, status: bool) -> list[str]:
    """The topic filters to subscribe to; results and parts through ``$share/<group>/`` when sharing."""
    result, part = f"{prefix}/{station}/{camera}/result", f"{prefix}/{station}/part"
    topics = [f"$share/{share}/{topic}" if share else topic for topic in (result, part)]
    if status:
        topics += [f"{prefix}/{station}/status", f"{prefix}/{station}/{camera}/camera"]
    return topics


# ------------------------------------------------------------------------------------------- command


class Printer:
    """Prints each message as it arrives (from paho's thread); ``finished`` is set after ``count`` results."""

    def __init__(self, out: TextIO, *, raw_json: bool, colour: bool, count: int | None) -> None:
        self.out = out
        self.raw_json = raw_json
        self.colour = colour
        self.count = count
        self.results = 0
        self.finished = threading.Event()
        self.refused: str | None = None
        self._lock = threading.Lock()

    def message(self, topic: str, raw: bytes) -> None:
        text = (
            raw.decode("utf-8", "replace")
            if self.raw_json
            else format_message(topic, raw, colour=self.colour)
        )
        with self._lock:
            print(text, file=self.out, flush=True)
            if topic.endswith("/result"):
                self.results += 1
                if self.count is not None and self.results >= self.count:
                    self.finished.set()

    def refuse(self, reason: str) -> None:
        self.refused = reason
        self.finished.set()


def run(args: argparse.Namespace) -> int:
    from edge_inspect.errors import EdgeInspectError
    from edge_inspect.publish.credentials import with_password

    config = with_password(_mqtt_config(args))
    topics = subscriptions(
        args.prefix or config.topic_prefix, args.station, args.camera, share=args.share, status=args.status
    )
    colour = args.colour == "always" or (args.colour == "auto" and sys.stdout.isatty())
    printer = Printer(sys.stdout, raw_json=args.json, colour=colour, count=args.count)
    client = _client(config, topics, printer)
    try:
        client.connect(config.host, config.port, keepalive=config.keepalive_s)
    except OSError as exc:
        msg = f"cannot connect to the broker at {config.host}:{config.port}: {exc}"
        raise EdgeInspectError(msg) from exc
    print(f"edge-inspect tail: mqtt://{config.host}:{config.port} {' '.join(topics)}", file=sys.stderr)
    client.loop_start()
    try:
        printer.finished.wait()
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
    if printer.refused is not None:
        msg = f"the broker at {config.host}:{config.port}: {printer.refused}"
        raise EdgeInspectError(msg)
    return 0


def _client(config: Any, topics: Sequence[str], printer: Printer) -> Any:
    """A paho client that subscribes to ``topics`` on every connect and hands messages to ``printer``."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_inspect.publish.attempts import CLOSED_BEFORE_CONNACK, REJECTED, diagnose
    from edge_inspect.publish.tls import tls_setup

    connected = threading.Event()

    def refuse(kind: str, reason: str | None = None) -> None:
        failure = diagnose(kind, config.protocol, reason)
        printer.refuse(failure.cause + (f"; {failure.hint}" if failure.hint else ""))

    def on_connect(client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            refuse(REJECTED, str(reason))
        else:
            connected.set()
            client.subscribe([(topic, 1) for topic in topics])

    def on_disconnect(_c: mqtt.Client, _u: object, _f: object, _reason: Any, _p: object) -> None:
        if not connected.is_set() and printer.refused is None:
            refuse(CLOSED_BEFORE_CONNACK)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        printer.message(message.topic, bytes(message.payload))

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311
    )
    if config.username is not None:
        password = config.password.get_secret_value() if config.password is not None else None
        client.username_pw_set(config.username, password)
    if config.tls is not None:
        tls_setup(config.tls)(client)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    return client


def _mqtt_config(args: argparse.Namespace) -> Any:
    """The station config's ``mqtt`` section (or the defaults), with the command-line flags on top."""
    from edge_inspect.config import load_config
    from edge_inspect.config.mqtt import MqttConfig

    base = load_config(args.config).mqtt if args.config is not None else MqttConfig()
    data = base.model_dump()
    flags = {
        "host": args.host,
        "port": args.port,
        "protocol": args.protocol,
        "username": args.username,
        "password_file": args.password_file,
    }
    for key, value in flags.items():
        if value is not None:
            data[key] = value
    if args.password_file is not None:
        data["password"] = None
    if any(getattr(args, key) is not None for key in ("ca_file", "cert_file", "key_file")) or args.insecure:
        tls = dict(data.get("tls") or {})
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(args, key) is not None:
                tls[key] = getattr(args, key)
        tls["insecure"] = bool(args.insecure) or bool(tls.get("insecure"))
        data["tls"] = tls
    return MqttConfig.model_validate(data)
