"""The script a plant engineer writes first: one paho callback that decodes, infers and publishes inline.

Used by bench/throughput.py as the baseline. Run: python bench/naive_agent.py PORT NAMESPACE MODELS_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.contracts import BearingFeaturesStep, BearingGeometry  # noqa: E402
from edge_agent.model_manager import active_package_dir  # noqa: E402
from edge_agent.pipelines.vibration_features import extract_features  # noqa: E402


def main() -> int:
    port, ns, models = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    # the packages the agent would run (the newest), without any of its checks
    inspection = active_package_dir(models, "surface-inspection")
    interpreter = Interpreter(model_path=str(inspection / "model.tflite"))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    maintenance = active_package_dir(models, "bearing-health")
    session = ort.InferenceSession(str(maintenance / "model.onnx"))
    manifest = json.loads((maintenance / "manifest.json").read_text())
    step = BearingFeaturesStep.model_validate(manifest["input"]["preprocessing"][0])
    labels = list(json.loads((inspection / "manifest.json").read_text())["output"]["labels"])
    bearing = BearingGeometry(balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if parts[-1] == "frame":
            image = cv2.imdecode(np.frombuffer(msg.payload, np.uint8), cv2.IMREAD_GRAYSCALE)
            if image is None:
                return
            x = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)[None, :, :, None]
            interpreter.set_tensor(inp["index"], x)
            interpreter.invoke()
            scores = interpreter.get_tensor(out["index"])[0].astype(np.float32) * out["quantization"][0]
            props = (
                dict(msg.properties.UserProperty) if msg.properties and hasattr(msg.properties, "UserProperty") else {}
            )
            result = {"part_id": props.get("part_id"), "label": labels[int(np.argmax(scores))]}
            client.publish(f"{ns}/inspection/{parts[-2]}/result", json.dumps(result), qos=1)
        elif parts[-1] == "vibration":
            message = json.loads(msg.payload)
            if "samples_b64" in message:
                import base64

                samples = np.frombuffer(base64.b64decode(message["samples_b64"]), "<f4")
            else:
                samples = np.asarray(message["samples"], np.float32)
            features = extract_features(samples, message["fs_hz"], message["rpm"], bearing, step)
            probabilities = session.run(None, {"features": features[None]})[0]
            result = {"ts_ms": message.get("ts_ms"), "state": int(np.argmax(probabilities))}
            client.publish(f"{ns}/maintenance/{parts[-2]}/health", json.dumps(result), qos=1)

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="naive", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.subscribe([(f"{ns}/cam/+/frame", 1), (f"{ns}/sensor/+/vibration", 1)])
    client.loop_start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
