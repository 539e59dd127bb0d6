"""The MQTT 5 client (the only module that imports paho): persistent session, backoff, last will, QoS 1."""

from __future__ import annotations

import contextlib
import copy
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.mqtt_publish import decode_publish_v5
from edge_agent.mqtt_replay import AckedReplayWindow, OutgoingMessage

log = logging.getLogger(__name__)


# Copied per message instead of built: Properties.__init__ rebuilds two 27-entry tables every time.
_EMPTY_PUBLISH_PROPERTIES = Properties(PacketTypes.PUBLISH)


class _PahoClient(paho.Client):
    """paho's client with the one-pass PUBLISH decoder of edge_agent.mqtt_publish on the network thread, and one
    wake-up of that thread per batch of packets queued from other threads; the rest of the protocol, and every
    PUBLISH that decoder declines, stays paho's."""

    # paho writes a byte to its socket pair for every queued packet to break the network thread out of select():
    # a PUBACK queued by the network thread itself, which checks for packets to write before every select anyway,
    # and every result of a batch the outbox publishes, each a syscall and, on a small gateway, a thread switch.
    # One byte stands for every packet queued until the network thread starts writing (loop_write clears the flag
    # before it drains the queue, so a packet queued after that sends a byte of its own).
    _wake_pending = False

    def _packet_queue(
        self,
        command: int,
        packet: bytes | bytearray,
        mid: int,
        qos: int,
        info: paho.MQTTMessageInfo | None = None,
    ) -> paho.MQTTErrorCode:
        wake = self._sockpairW
        if self._thread is None or wake is None or self._on_socket_register_write is not None:
            return super()._packet_queue(command, packet, mid, qos, info)  # paho's own loop or an external one
        self._out_packet.append(
            {"command": command, "mid": mid, "qos": qos, "pos": 0, "to_process": len(packet), "packet": packet,
             "info": info}
        )  # fmt: skip
        if not self._wake_pending and threading.current_thread() is not self._thread:
            self._wake_pending = True
            with contextlib.suppress(BlockingIOError):
                wake.send(paho.sockpair_data)
        self._call_socket_register_write()
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_write(self) -> paho.MQTTErrorCode:
        self._wake_pending = False
        return super().loop_write()

    def _reset_sockets(self, sockpair_only: bool = False) -> None:
        self._wake_pending = False  # a byte in a closed pair wakes nobody
        super()._reset_sockets(sockpair_only)

    def _handle_publish(self) -> paho.MQTTErrorCode:
        if self._protocol != paho.MQTTv5:
            return super()._handle_publish()
        decoded = decode_publish_v5(self._in_packet["command"], self._in_packet["packet"])
        if decoded is None:
            return super()._handle_publish()
        message = paho.MQTTMessage(mid=decoded.mid, topic=decoded.topic)
        message.dup, message.qos, message.retain = decoded.dup, decoded.qos, decoded.retain
        properties = copy.copy(_EMPTY_PUBLISH_PROPERTIES)
        for name, value in decoded.properties.items():
            object.__setattr__(properties, name, value)  # validated by the decoder; paho's setter costs ~50 us
        message.properties = properties
        message.payload = decoded.payload
        message.timestamp = paho.time_func()
        self._handle_on_message(message)
        if decoded.qos == 0 or self._manual_ack:
            return paho.MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(decoded.mid)


class MqttError(EdgeAgentError):
    """The broker connection failed in a way the agent cannot retry away (bad TLS files, bad host)."""


@dataclass(frozen=True)
class InboundMessage:
    """One message from the broker, with its MQTT 5 user properties."""

    topic: str
    payload: bytes
    user_properties: dict[str, str] = field(default_factory=dict)
    retained: bool = False


@dataclass(frozen=True)
class MqttSettings:
    """What the client needs to connect; built by app.py from the config section."""

    host: str
    port: int
    client_id: str
    keepalive_s: int = 30
    session_expiry_s: int = 3600
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    will_topic: str | None = None
    will_payload: bytes = b""
    # paho's own queue of QoS 1 messages not yet acknowledged; 0 would be unbounded
    max_queued: int = 100_000
    # A broker acknowledges a QoS 1 message before it has forwarded or saved it: killed in that gap it comes back
    # without it. After a reconnect, messages acknowledged this long before the drop are sent again (at least
    # once: subscribers dedupe by result id). 0 turns it off.
    replay_acked_s: float = 0.0
    # A broker that comes back without our session lost everyone's (a corrupt or missing store): the replay then
    # waits this long, so that persistent subscribers have resubscribed, and includes what was sent meanwhile.
    replay_after_session_loss_s: float = 5.0


MessageHandler = Callable[[InboundMessage], None]


def _no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    """TCP_NODELAY on the broker socket: paho leaves Nagle on, so a small result published after the broker's
    last ACK waited for the next one (up to the peer's 40 ms delayed ACK) before it left the gateway."""
    with contextlib.suppress(OSError, AttributeError, ValueError):  # a unix or websocket transport has no such option
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


ConnectionHandler = Callable[[bool, str], None]


class MqttClient:
    """A paho client that reconnects forever, resubscribes, and keeps QoS 1 messages across outages."""

    def __init__(
        self,
        settings: MqttSettings,
        on_message: MessageHandler,
        on_connection: ConnectionHandler | None = None,
    ) -> None:
        self.settings = settings
        self._on_message = on_message
        self._on_connection = on_connection
        self._subscriptions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.last_error = ""
        client = _PahoClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5,
        )
        client.reconnect_delay_set(max(1, round(settings.reconnect_min_s)), max(1, round(settings.reconnect_max_s)))
        client.max_queued_messages_set(settings.max_queued)
        client.max_inflight_messages_set(100)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.ca_file or settings.cert_file:
            try:
                client.tls_set(
                    ca_certs=str(settings.ca_file) if settings.ca_file else None,
                    certfile=str(settings.cert_file) if settings.cert_file else None,
                    keyfile=str(settings.key_file) if settings.key_file else None,
                    cert_reqs=ssl.CERT_REQUIRED,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"mqtt.tls: cannot load TLS files ({exc})") from exc
        if settings.will_topic:
            client.will_set(settings.will_topic, settings.will_payload, qos=1, retain=True)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_socket_open = _no_delay
        client.on_publish = self._handle_acked
        self._client = client
        self._replay = AckedReplayWindow(settings.replay_acked_s, max_messages=settings.max_queued)
        self._was_connected = False

    @property
    def connected(self) -> bool:
        """True while the broker has accepted our connection."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected or the timeout passes."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Connect in the background; paho retries with exponential backoff until stop()."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.settings.session_expiry_s
        try:
            self._client.connect_async(
                self.settings.host,
                self.settings.port,
                keepalive=self.settings.keepalive_s,
                clean_start=False,
                properties=properties,
            )
        except (OSError, ValueError) as exc:
            raise MqttError(
                f"cannot start MQTT connection to {self.settings.host}:{self.settings.port}: {exc}"
            ) from exc
        self._client.loop_start()

    def stop(self, final_topic: str | None = None, final_payload: bytes = b"", timeout: float = 3.0) -> None:
        """Publish a last retained message (e.g. offline status), flush, disconnect and stop the thread."""
        if final_topic and self.connected:
            info = self._client.publish(final_topic, final_payload, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def subscribe(self, topics: Iterable[str], qos: int = 1) -> None:
        """Subscribe now (if connected) and again after every reconnect."""
        with self._lock:
            for topic in topics:
                self._subscriptions[topic] = qos
            current = list(self._subscriptions.items())
        if self.connected and current:
            self._client.subscribe(current)

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 1,
        retain: bool = False,
        user_properties: dict[str, str] | None = None,
    ) -> bool:
        """Queue a message; QoS 1 messages wait in paho's queue through broker outages."""
        properties = None
        if user_properties:
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = list(user_properties.items())
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            log.warning("MQTT outgoing queue is full; dropped a message to %s", topic)
            return False
        if qos > 0 and self._replay.enabled:
            # recorded after paho returns, never under a lock held across paho: its network thread calls
            # _handle_acked while holding paho's own message lock
            self._replay.sent(info.mid, OutgoingMessage(topic, payload, retain, properties))
        return info.rc in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN)

    def pending(self) -> int:
        """Messages paho still holds (queued or awaiting acknowledgement)."""
        return len(getattr(self._client, "_out_messages", {}))

    # paho callbacks run in paho's network thread: they must never raise or block.
    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error("MQTT %s", self.last_error)
            self._notify(False, self.last_error)
            return
        with self._lock:
            current = list(self._subscriptions.items())
        if current:
            client.subscribe(current)
        session_lost = self._was_connected and not getattr(flags, "session_present", False)
        self._was_connected = True
        if session_lost and self._replay.enabled:
            delay = self.settings.replay_after_session_loss_s
            log.warning("MQTT broker came back without our session; replaying what it may have lost in %.1f s", delay)
            timer = threading.Timer(delay, self._resend, args=(self._replay.now(),))
            timer.daemon = True
            timer.start()
        else:
            self._resend(None)
        self._connected.set()
        self.last_error = ""
        log.info("MQTT connected to %s:%d (session present: %s)", self.settings.host, self.settings.port, flags)
        self._notify(True, "connected")

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and self._replay.enabled:
            self._replay.disconnected()
        if was_connected:
            self.last_error = f"disconnected: {reason}"
            log.warning("MQTT %s; reconnecting with backoff", self.last_error)
            self._notify(False, self.last_error)

    def _resend(self, acked_since: float | None) -> None:
        replay = self._replay.take_replay()
        if acked_since is not None:
            replay += self._replay.acked_since(acked_since)
        for message in replay:
            info = self._client.publish(
                message.topic, message.payload, qos=1, retain=message.retain, properties=message.properties
            )
            self._replay.sent(info.mid, message)
        if replay:
            log.info("MQTT re-sent %d message(s) the broker may have lost", len(replay))

    def _handle_acked(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if self._replay.enabled:
            self._replay.acked(mid)

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        props: dict[str, str] = {}
        user_props = getattr(message.properties, "UserProperty", None) if message.properties else None
        if user_props:
            props = {str(k): str(v) for k, v in user_props}
        try:
            self._on_message(InboundMessage(message.topic, bytes(message.payload), props, bool(message.retain)))
        except Exception:  # a handler bug must never kill paho's network thread
            log.exception("message handler failed for %s", message.topic)

    def _notify(self, connected: bool, detail: str) -> None:
        if self._on_connection is None:
            return
        try:
            self._on_connection(connected, detail)
        except Exception:
            log.exception("connection handler failed")
