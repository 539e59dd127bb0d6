"""`edge-agent demo`: a private broker, the agent with the shipped models, and a simulated line."""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from edge_agent.config import GatewayConfig, parse_config
from edge_agent.demo.demo_cloud import start_cloud
from edge_agent.demo.demo_loop import MissRate, RetrainLoop
from edge_agent.demo.demo_plc import DemoPlc, prepare_demo_plc
from edge_agent.demo.devbroker import DevBroker
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


def demo_config(
    broker_port: int,
    state_dir: Path,
    models_dir: Path,
    keys_dir: Path,
    web_port: int,
    cloud: dict[str, object] | None = None,
    extra_keys: list[str] | None = None,
    api_ports: tuple[int, int] = (0, 0),
) -> dict:
    """The agent config of the demo line: 2 cameras, 4 assets."""
    bearing_6205 = {"balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04, "contact_angle_deg": 0}
    bearing_6309 = {"balls": 8, "ball_diameter_mm": 17.46, "pitch_diameter_mm": 72.5, "contact_angle_deg": 0}
    return {
        "version": 1,
        "gateway": {"id": "demo-gw", "site": "demo-plant", "line": "line-1"},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "reconnect_min_s": 0.5, "reconnect_max_s": 5},
        "cameras": [
            {"id": "cam-1", "model": "surface-inspection"},
            {"id": "cam-2", "model": "surface-inspection-onnx"},
        ],
        "assets": [
            {"id": "pump-1", "bearing": bearing_6205, "rpm": 1780},
            {"id": "pump-2", "bearing": bearing_6205, "rpm": 2950},
            {"id": "fan-1", "bearing": bearing_6309, "rpm": 990},
            {"id": "motor-1", "bearing": bearing_6309, "rpm": 1480},
        ],
        "models": {
            "dir": str(models_dir),
            "trusted_keys": [str(keys_dir), *(extra_keys or [])],
            "maintenance": "bearing-health",
        },
        # The simulated faults start 30 s in: commission on the first 20 windows (a real asset takes hours).
        "baseline": {"windows": 20, "min_windows": 10},
        "store": {"path": str(state_dir / "agent.db")},
        "outbox": {"path": str(state_dir / "outbox.db")},
        "web": {"port": web_port},
        "api": {"http_port": api_ports[0], "grpc_port": api_ports[1]},
        **({"cloud": cloud} if cloud else {}),
    }


def run_demo(duration_s: float | None = None, web_port: int = 8080, loop: bool = False) -> int:
    """Run everything until Ctrl-C (or duration_s), then remove what it started."""
    from edge_agent.app import Agent
    from edge_agent.mqtt import MqttClient, MqttSettings
    from models.training.simulators import LineSchedule, LineSimulator, SimulatedAsset, machine_domain

    state_dir = Path(tempfile.mkdtemp(prefix="edge-demo-"))
    broker = DevBroker(workdir=state_dir / "broker")
    (state_dir / "broker").mkdir()
    broker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    agent = None
    camera = None
    simulator = None
    demo_plc: DemoPlc | None = None
    cloud = None
    try:
        cloud = start_cloud(state_dir / "cloud", "demo-gw", "line-1")
        gateway_models = state_dir / "models"
        # real NAME/VERSION folders only: an agent run against models/ may have left a gitignored current -> link
        for package in sorted(p for p in (REPO / "models").glob("*/*/manifest.json") if not p.parent.is_symlink()):
            shutil.copytree(package.parent, gateway_models / package.parent.parent.name / package.parent.name)
            cloud.publish(package.parent)
        document = demo_config(
            broker.port,
            state_dir,
            gateway_models,
            REPO / "models" / "keys",
            web_port,
            cloud={"url": cloud.url, "token_file": str(cloud.device_token_file), "poll_s": 5},
            extra_keys=[str(cloud.fleet_public_key)],
            api_ports=(8000, 8001),  # Triton's and KServe's usual ports, so their clients work as documented
        )
        if loop:
            # motor-1 is the asset whose sensor mounting drifts and whose every state a technician labels: the
            # loop is about the model, so its windows keep the model's own states (no baseline judge).
            for asset in document["assets"]:
                if asset["id"] == "motor-1":
                    asset["baseline"] = {"enabled": False}
        plc_client: list[MqttClient] = []  # the PLC simulator publishes through the line simulator's client
        ns = GatewayConfig.model_validate(document["gateway"]).ns
        demo_plc = prepare_demo_plc(lambda topic, body: plc_client[0].publish(topic, body, qos=1), ns)
        document["line"] = demo_plc.section
        config = parse_config(document, "demo config")
        agent = Agent(config)
        agent.start()
        runner = threading.Thread(target=agent.run, name="agent-main", daemon=True)
        runner.start()
        scorer = MissRate({})
        camera = MqttClient(MqttSettings(host="127.0.0.1", port=broker.port, client_id="demo-line-simulator"), scorer)
        camera.subscribe([f"{config.gateway.ns}/maintenance/motor-1/health"])
        camera.start()
        camera.wait_connected(10)
        publisher = camera

        def publish(topic: str, payload: bytes, props: dict[str, str] | None) -> None:
            publisher.publish(topic, payload, qos=1, user_properties=props)

        bearings = [asset.bearing for asset in config.assets if asset.bearing is not None]
        simulator = LineSimulator(
            publish,
            config.gateway.ns,
            ["cam-1", "cam-2"],
            [
                SimulatedAsset(
                    "pump-1", bearings[0], 1780, fault="outer_race", fault_after_s=30, domain=machine_domain(1)
                ),
                SimulatedAsset(
                    "pump-2", bearings[1], 2950, fault="imbalance", fault_after_s=60, domain=machine_domain(2)
                ),
                SimulatedAsset(
                    "fan-1", bearings[2], 990, fault="looseness", fault_after_s=45, domain=machine_domain(3)
                ),
                SimulatedAsset("motor-1", bearings[3], 1480, domain=machine_domain(4)),
            ],
            LineSchedule(window_hz=4.0 if loop else 1.0),
        )
        scorer.truth = simulator.truth
        retrain_loop = RetrainLoop(simulator, cloud.url, cloud.admin_token, state_dir / "retrain") if loop else None
        simulator.start()
        plc_client.append(camera)
        demo_plc.runner.start()
        ns = config.gateway.ns
        print(f"broker:        mqtt://127.0.0.1:{broker.port}  (mosquitto_sub -p {broker.port} -t '{ns}/#' -v)")
        print(f"results:       {ns}/inspection/+/result and {ns}/maintenance/+/health")
        print(f"agent status:  {ns}/agent/demo-gw/status (retained), events on {ns}/agent/demo-gw/events")
        print(f"result store:  {state_dir / 'agent.db'}")
        print(f"status page:   http://127.0.0.1:{web_port}/")
        print(f"cloud-sync:    {cloud.url}/  (admin token {cloud.admin_token}; e.g. .venv/bin/cloud-sync status")
        print(f"               --url {cloud.url} --token {cloud.admin_token})")
        print("faults appear over time: pump-1 outer race at 30 s, fan-1 looseness (never trained) at 45 s,")
        print("pump-2 imbalance at 60 s. Ctrl-C stops everything.")
        print(f"line KPIs:     {ns}/line/+/kpi (retained; press-1 and weld-2 on MQTT tags, pack-3 on OPC UA")
        print(f"               {demo_plc.plc.url}); 2 h of history replayed at 60x, then real time")
        started = time.monotonic()
        last_report = started
        while not stop.wait(1.0):
            now = time.monotonic()
            if retrain_loop is not None:
                retrain_loop.tick(now - started)
            if now - last_report >= 10:
                last_report = now
                totals = agent.service.status_document()["totals"]
                print(f"[{now - started:5.0f} s] sent {simulator.sent} agent {totals}", flush=True)
                if retrain_loop is not None:
                    print(f"[loop] {scorer.summary()}", flush=True)
            if duration_s is not None and now - started >= duration_s:
                break
        return 0
    except EdgeAgentError as exc:
        print(f"edge-agent demo: {exc}")
        return 2
    finally:
        if simulator:
            simulator.stop()
        if demo_plc:
            demo_plc.stop()
        if camera:
            camera.stop()
        if agent:
            agent.stop()
        if cloud:
            cloud.stop()
        broker.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
