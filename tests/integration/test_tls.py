"""TLS and passwords against a real mosquitto: certificates made in the test, a mosquitto_passwd file.

A station with the right CA, client certificate and password delivers; a wrong CA or a wrong password
is logged as a clear error while results keep queueing, and a fixed password delivers the queue.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from edge_inspect.config.mqtt import MqttConfig, TlsConfig
from edge_inspect.publish.credentials import with_password
from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.publish.tls import HandshakeReporter, tls_setup
from edge_inspect.publish.topics import Topics
from edge_inspect.types import Verdict
from tests.helpers.broker import Mosquitto, Subscriber, free_port
from tests.helpers.certs import Pki, make_other_ca, make_pki
from tests.helpers.daemon import ROOT, run_cli, start_daemon
from tests.helpers.results import result
from tests.helpers.tiny_model import make_tiny_package
from tests.helpers.waiting import wait_until

USER = "station-1"
PASSWORD = "correct horse battery staple"
TOPICS = Topics("edge-inspect", USER, "cam-1")
CONFIG = ROOT / "config" / "replay.yaml"


def for_mosquitto(*paths: Path) -> None:
    """Started as root, mosquitto drops to its own user before reading certificates and passwords."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)


def set_password(password_file: Path, user: str, password: str) -> None:
    flags = ["-b"] if password_file.exists() else ["-c", "-b"]
    subprocess.run(
        ["mosquitto_passwd", *flags, str(password_file), user, password], check=True, capture_output=True
    )
    password_file.chmod(0o600)
    for_mosquitto(password_file)


@pytest.fixture
def broker_files() -> Iterator[Path]:
    """A folder mosquitto's own user can reach (pytest's tmp_path sits under a root-only folder)."""
    folder = Path(tempfile.mkdtemp(prefix="edge-inspect-tls-"))
    for_mosquitto(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pki(broker_files: Path) -> Pki:
    made = make_pki(broker_files / "pki")
    for_mosquitto(made.server_cert.parent, made.server_cert, made.server_key, made.ca)
    return made


@pytest.fixture
def password_file(broker_files: Path) -> Path:
    path = broker_files / "passwd"
    set_password(path, USER, PASSWORD)
    set_password(path, "mes", "mes-password")
    return path


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki, password_file: Path) -> Iterator[Mosquitto]:
    conf = "\n".join(
        [
            f"cafile {pki.ca}",
            f"certfile {pki.server_cert}",
            f"keyfile {pki.server_key}",
            "require_certificate true",
            "tls_version tlsv1.2",
            f"password_file {password_file}",
        ]
    )
    with Mosquitto(tmp_path / "broker", extra_conf=conf, allow_anonymous=False) as broker:
        yield broker


def mes_subscriber(broker: Mosquitto, pki: Pki) -> Subscriber:
    def client_tls(client: mqtt.Client) -> None:
        client.tls_set(ca_certs=str(pki.ca), certfile=str(pki.client_cert), keyfile=str(pki.client_key))

    return Subscriber(broker.port, "edge-inspect/#", tls=client_tls, username="mes", password="mes-password")


def publisher(
    broker: Mosquitto, tls: TlsConfig, config: MqttConfig, reporter: HandshakeReporter
) -> MqttPublisher:
    return MqttPublisher(
        with_password(config),
        TOPICS,
        station=USER,
        client_id=f"edge-inspect-{USER}-cam-1",
        version="test",
        tls=tls_setup(tls, on_failure=reporter),
    )


def station_config(broker: Mosquitto, password_file: Path) -> MqttConfig:
    return MqttConfig(
        host="127.0.0.1",
        port=broker.port,
        username=USER,
        password_file=password_file,
        reconnect_min_s=0.5,
        reconnect_max_s=1.0,
    )


def test_results_arrive_over_tls_with_a_client_certificate_and_a_password_file(
    tls_broker: Mosquitto, pki: Pki, tmp_path: Path
) -> None:
    # given the station's password in a credentials file, and its client certificate
    secret = tmp_path / "mqtt_password"
    secret.write_text(PASSWORD + "\n")
    tls = TlsConfig(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    reporter = HandshakeReporter("127.0.0.1", tls_broker.port)
    with mes_subscriber(tls_broker, pki) as mes:
        sender = publisher(tls_broker, tls, station_config(tls_broker, secret), reporter)
        sender.start()
        try:
            # when it publishes five results
            assert sender.wait_connected(15), tls_broker.log_path.read_text(errors="replace")
            sent = [result(Verdict.NG if i % 2 else Verdict.PASS, seq=i, station=USER) for i in range(5)]
            for item in sent:
                sender.handle(item)
            # then the MES receives all five, over TLS, and no handshake failed
            assert sender.flush(15)
            assert mes.wait_for(lambda m: len([x for x in m if x.topic.endswith("/result")]) == 5, 15)
        finally:
            sender.close()
    received = {m.json()["result_id"] for m in mes.on("/result")}
    assert received == {r.result_id for r in sent}
    assert reporter.failures == 0


def test_a_wrong_ca_is_a_clear_error_and_results_keep_queueing(
    tls_broker: Mosquitto, pki: Pki, tmp_path: Path
) -> None:
    # given a station that trusts the wrong CA
    secret = tmp_path / "mqtt_password"
    secret.write_text(PASSWORD)
    tls = TlsConfig(ca_file=make_other_ca(tmp_path), cert_file=pki.client_cert, key_file=pki.client_key)
    reporter = HandshakeReporter("127.0.0.1", tls_broker.port)
    sender = publisher(tls_broker, tls, station_config(tls_broker, secret), reporter)
    with capture_logs() as logs:
        sender.start()
        try:
            # when it tries to connect and inspects three frames meanwhile
            for i in range(3):
                sender.handle(result(seq=i, station=USER))
            assert wait_until(lambda: reporter.failures >= 2, 15.0)
            # then it is not connected, the three results wait, and the log says why, once
            assert not sender.connected
            assert sender.pending() == 3
        finally:
            sender.close()
    errors = [e for e in logs if e["log_level"] == "error" and "TLS handshake" in e["event"]]
    assert len(errors) == 1
    assert errors[0]["reason"].startswith("certificate verify failed: ")
    assert errors[0]["port"] == tls_broker.port


def test_a_wrong_password_is_refused_and_the_queue_arrives_once_it_is_fixed(
    tls_broker: Mosquitto, pki: Pki, password_file: Path, tmp_path: Path
) -> None:
    # given a station whose password the broker does not (yet) accept
    secret = tmp_path / "mqtt_password"
    secret.write_text("new password\n")
    tls = TlsConfig(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    reporter = HandshakeReporter("127.0.0.1", tls_broker.port)
    with mes_subscriber(tls_broker, pki) as mes, capture_logs() as logs:
        sender = publisher(tls_broker, tls, station_config(tls_broker, secret), reporter)
        sender.start()
        try:
            sent = [result(seq=i, station=USER) for i in range(3)]
            for item in sent:
                sender.handle(item)
            assert wait_until(lambda: any(e["event"] == "cannot connect to the broker" for e in logs), 15.0)
            # then: refused with the broker's reason, not connected, the results wait
            refused = next(e for e in logs if e["event"] == "cannot connect to the broker")
            assert "authori" in refused["reason"].lower() or "password" in refused["reason"].lower()
            assert not sender.connected
            assert sender.pending() == 3
            # when the broker's password file is updated and reloaded (SIGHUP)
            set_password(password_file, USER, "new password")
            assert tls_broker.process is not None
            tls_broker.process.send_signal(signal.SIGHUP)
            # then the station connects on its next retry and every queued result arrives
            assert sender.wait_connected(20)
            assert sender.flush(15)
            assert mes.wait_for(lambda m: len([x for x in m if x.topic.endswith("/result")]) == 3, 15)
        finally:
            sender.close()
    assert {m.json()["result_id"] for m in mes.on("/result")} == {r.result_id for r in sent}
    assert reporter.failures == 0


def test_the_daemon_reads_its_secrets_from_the_credentials_directory(
    tls_broker: Mosquitto, pki: Pki, sample_dir: Path, tmp_path: Path
) -> None:
    # given secrets laid out as systemd's LoadCredential=mqtt:/etc/edge-inspect/credentials would
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mqtt_password").write_text(PASSWORD + "\n")
    (credentials / "mqtt_client.key").write_bytes(pki.client_key.read_bytes())
    model = make_tiny_package(tmp_path / "model", variants=("fp32",))
    overrides = [
        f"station={USER}",
        f"model.path={model}",
        "model.variant=null",
        f"source.path={sample_dir}",
        "source.loop=1",
        f"mqtt.port={tls_broker.port}",
        f"mqtt.username={USER}",
        "mqtt.password_file=$CREDENTIALS_DIRECTORY/mqtt_password",
        f"mqtt.tls.ca_file={pki.ca}",
        f"mqtt.tls.cert_file={pki.client_cert}",
        "mqtt.tls.key_file=$CREDENTIALS_DIRECTORY/mqtt_client.key",
        "logging.format=json",
    ]
    frames = len([p for p in sample_dir.iterdir() if p.suffix.lower() in {".png", ".bmp", ".tif", ".jpg"}])
    with mes_subscriber(tls_broker, pki) as mes:
        # when the daemon runs with $CREDENTIALS_DIRECTORY set
        daemon = start_daemon(CONFIG, overrides, env={"CREDENTIALS_DIRECTORY": str(credentials)})
        out, _ = daemon.communicate(timeout=180)
        assert daemon.returncode == 0, out[-3000:]
        # then every frame's result arrived over TLS
        assert mes.wait_for(lambda m: len([x for x in m if x.topic.endswith("/result")]) >= frames, 15)
    assert len({m.json()["result_id"] for m in mes.on("/result")}) == frames


def test_a_tls_daemon_exports_its_handshake_failures_at_zero_from_the_start(
    tls_broker: Mosquitto, pki: Pki, sample_dir: Path, tmp_path: Path
) -> None:
    # the counter documented in the metrics docs is there, at 0, before any handshake has failed
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    port = free_port()
    overrides = [
        f"station={USER}",
        f"model.path={make_tiny_package(tmp_path / 'model', variants=('fp32',))}",
        "model.variant=null",
        f"source.path={sample_dir}",
        "source.loop=0",
        "source.fps=2",
        f"mqtt.port={tls_broker.port}",
        f"mqtt.username={USER}",
        f"mqtt.password_file={password}",
        f"mqtt.tls.ca_file={pki.ca}",
        f"mqtt.tls.cert_file={pki.client_cert}",
        f"mqtt.tls.key_file={pki.client_key}",
        "metrics.enabled=true",
        f"metrics.port={port}",
        f"paths.state_dir={tmp_path / 'state'}",
    ]
    daemon = start_daemon(CONFIG, overrides)
    try:
        samples: dict[str, float] = {}

        def scraped() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    text = response.read().decode()
            except OSError:
                return False
            samples.update(
                {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
            )
            return "edge_inspect_frames_total" in samples

        assert wait_until(scraped, 120), "the metrics endpoint did not answer"
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, out[-3000:]
    assert samples.get("edge_inspect_mqtt_tls_handshake_failures_total") == 0.0, sorted(samples)


def test_a_daemon_with_an_unreadable_ca_file_refuses_to_start_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "ca.pem"
    done = run_cli("run", "--config", str(CONFIG), "--set", f"mqtt.tls.ca_file={missing}", timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"mqtt.tls.ca_file: cannot read {missing}" in done.stderr
