"""Given mosquitto with firmware-config's TLS config and ACLs, the agent connects and others keep to their ACL."""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge_agent.demo.devbroker import find_mosquitto, free_port
from edge_agent.mqtt import InboundMessage, MqttClient, MqttSettings

REPO = Path(__file__).resolve().parents[2]
NS = "factory/v1/plant-a/line-2"
PASSWORDS = {"edge-agent": "agent-secret", "cam-top": "cam-secret", "scada": "scada-secret"}


def _certificate(subject: str, issuer_key: ec.EllipticCurvePrivateKey | None, issuer: x509.Name | None, ca: bool):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    certificate = builder.sign(issuer_key or key, hashes.SHA256())
    return key, certificate


def _write_pem(path: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
    path.with_suffix(".crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[dict[str, object]]:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca_key, ca_cert = _certificate("plant-ca", None, None, ca=True)
    broker_key, broker_cert = _certificate("localhost", ca_key, ca_cert.subject, ca=False)
    _write_pem(certs / "ca", ca_key, ca_cert)
    _write_pem(certs / "broker", broker_key, broker_cert)
    passwd = tmp_path / "edge-line.passwd"
    passwd.touch()
    for user, password in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    (tmp_path / "edge-line.acl").write_text((REPO / "firmware-config" / "mosquitto.acl").read_text())
    tls_port, plain_port = free_port(), free_port()
    config = (REPO / "firmware-config" / "mosquitto.conf").read_text()
    config = (
        config.replace("/etc/mosquitto/certs/", f"{certs}/")
        .replace("/etc/mosquitto/", f"{tmp_path}/")
        .replace("/var/lib/mosquitto/", f"{tmp_path}/")
        .replace("listener 8883", f"listener {tls_port} 127.0.0.1")
        .replace("listener 1883 127.0.0.1", f"listener {plain_port} 127.0.0.1")
    )
    conf_path = tmp_path / "mosquitto.conf"
    conf_path.write_text(f"user {getpass.getuser()}\n" + config)
    process = subprocess.Popen([find_mosquitto(), "-c", str(conf_path)], stderr=subprocess.PIPE)
    time.sleep(0.5)
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    yield {"port": tls_port, "ca": certs / "ca.crt"}
    process.terminate()
    process.wait(5)


def _client(broker: dict[str, object], user: str, password: str, inbox: list[InboundMessage]) -> MqttClient:
    settings = MqttSettings(
        host="127.0.0.1",
        port=int(str(broker["port"])),
        client_id=f"test-{user}-{time.monotonic_ns()}",
        username=user,
        password=password,
        ca_file=Path(str(broker["ca"])),
        reconnect_min_s=1,
        reconnect_max_s=2,
    )
    return MqttClient(settings, inbox.append)


def test_the_agent_user_connects_over_tls_and_reads_camera_frames(secure_broker: dict[str, object]) -> None:
    agent_inbox: list[InboundMessage] = []
    agent = _client(secure_broker, "edge-agent", PASSWORDS["edge-agent"], agent_inbox)
    agent.subscribe([f"{NS}/cam/+/frame"])
    agent.start()
    camera = _client(secure_broker, "cam-top", PASSWORDS["cam-top"], [])
    camera.start()
    try:
        assert agent.wait_connected(10), agent.last_error
        assert camera.wait_connected(10), camera.last_error
        time.sleep(0.3)
        camera.publish(f"{NS}/cam/cam-top/frame", b"own frame")
        camera.publish(f"{NS}/cam/cam-side/frame", b"pretending to be another camera")
        camera.publish(f"{NS}/inspection/cam-top/result", b'{"verdict":"ok"}')
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not agent_inbox:
            time.sleep(0.05)
        time.sleep(0.5)
        assert [m.payload for m in agent_inbox] == [b"own frame"]  # the ACL dropped the other two
    finally:
        camera.stop()
        agent.stop()


def test_a_wrong_password_is_refused(secure_broker: dict[str, object]) -> None:
    intruder = _client(secure_broker, "edge-agent", "guess", [])
    intruder.start()
    try:
        assert not intruder.wait_connected(3)
        assert "refused" in intruder.last_error or "authori" in intruder.last_error.lower()
    finally:
        intruder.stop()


def test_a_client_that_does_not_trust_the_plant_ca_cannot_connect(
    secure_broker: dict[str, object], tmp_path: Path
) -> None:
    other_key, other_ca = _certificate("some-other-ca", None, None, ca=True)
    _write_pem(tmp_path / "other", other_key, other_ca)
    settings = MqttSettings(
        host="127.0.0.1",
        port=int(str(secure_broker["port"])),
        client_id="test-untrusting",
        username="scada",
        password=PASSWORDS["scada"],
        ca_file=tmp_path / "other.crt",
    )
    client = MqttClient(settings, lambda m: None)
    client.start()
    try:
        assert not client.wait_connected(3)
    finally:
        client.stop()
