"""Open Inference Protocol figures: p50/p99 and throughput at 1, 4 and 16 clients for HTTP JSON, HTTP binary and gRPC
beside the bare runtime on the same tensor, batching against batch size 1, and MQTT frames/s while the API is saturated.

Prints figures and ratios; asserts nothing. With --pin N the agent (and the bare runtime) run on the last N cores and
the broker, the publisher and the API's clients on the others: the clients (Python gRPC and HTTP) otherwise take the
cores the gateway is measured on. Run: python bench/api.py [--seconds 3] [--pin 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hotpath_profile import ask, spawn_client  # noqa: E402
from pinning import on_cpus, pin_process, split_cores  # noqa: E402

from edge_agent.app import build_pipeline  # noqa: E402
from edge_agent.ingest.images import decode_image  # noqa: E402
from edge_agent.pipelines.inspection import QualityInspector  # noqa: E402
from models.training.surfaces import generate_surface  # noqa: E402
from tests.e2e.api_gateway import KEYS, Gateway, start_gateway  # noqa: E402

MODEL = "surface-inspection"
PACKAGE = REPO / "models" / MODEL / "1.1.0"
CLIENTS = (1, 4, 16)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def closed_loop(call: Callable[[], Callable[[], object]], clients: int, seconds: float) -> tuple[list[float], float]:
    """Each client thread repeats its call for `seconds`; latencies (ms) and calls per second."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop = time.perf_counter() + seconds + 1e9

    def worker(index: int) -> None:
        once = call()
        once()  # warm the connection
        start.wait()
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            once()
            latencies[index].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    stop = began + seconds
    for thread in threads:
        thread.join(seconds + 30)
    flat = [v for per in latencies for v in per]
    return flat, len(flat) / (time.perf_counter() - began)


def clients_for(gateway: Gateway, tensor: np.ndarray) -> dict[str, Callable[[], Callable[[], object]]]:
    import tritonclient.grpc as grpc_client
    import tritonclient.http as http_client

    def http_call(binary: bool) -> Callable[[], Callable[[], object]]:
        def make() -> Callable[[], object]:
            client = http_client.InferenceServerClient(gateway.http)
            wanted = [http_client.InferRequestedOutput("StatefulPartitionedCall_1:0", binary_data=binary)]

            def once() -> object:
                data = http_client.InferInput("image", list(tensor.shape), "UINT8")
                data.set_data_from_numpy(tensor, binary_data=binary)
                return client.infer(MODEL, [data], outputs=wanted)

            return once

        return make

    def grpc_make() -> Callable[[], object]:
        client = grpc_client.InferenceServerClient(gateway.grpc)
        wanted = [grpc_client.InferRequestedOutput("StatefulPartitionedCall_1:0")]

        def once() -> object:
            data = grpc_client.InferInput("image", list(tensor.shape), "UINT8")
            data.set_data_from_numpy(tensor)
            return client.infer(MODEL, [data], outputs=wanted)

        return once

    return {"http-json": http_call(False), "http-binary": http_call(True), "grpc": grpc_make}


def mqtt_rate(gateway: Gateway, frames: int) -> float:
    """Inspection results per second while a publisher floods the camera (saturated)."""
    pub, sub = spawn_client("pub", gateway.broker.port), spawn_client("sub", gateway.broker.port)
    try:
        ask(sub, op="reset")
        ask(pub, op="flood", kind="frame", n=frames, sources=1)
        reply = ask(sub, op="wait", n=frames, idle_s=2.0)
        return float(reply["counts"]["inspection"]) / max(float(reply["span_s"]), 1e-9)
    finally:
        for process in (pub, sub):
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each closed-loop run")
    parser.add_argument("--frames", type=int, default=600, help="frames per MQTT flood")
    parser.add_argument("--pin", type=int, default=0, metavar="N", help="agent and bare runtime on the last N cores")
    args = parser.parse_args()
    measured: set[int] | None = None
    if args.pin:
        measured, rest = split_cores(args.pin)
        os.sched_setaffinity(0, rest)  # the broker, the publisher and the API's client threads inherit it
    inspector = build_pipeline(PACKAGE, [KEYS])
    assert isinstance(inspector, QualityInspector)
    jpeg = generate_surface(np.random.default_rng(4), "scratch", (480, 640)).jpeg
    tensor = inspector.prepare(decode_image(jpeg))[None]
    run = inspector.model.runtime.run
    print(f"tensor {tensor.dtype}{list(tensor.shape)}, {MODEL} 1.1.0 (LiteRT), {args.seconds:.0f} s per run\n")
    bare: dict[int, tuple[list[float], float]] = {}
    with on_cpus(measured):
        for clients in CLIENTS:
            bare[clients] = closed_loop(lambda: lambda: run(tensor), clients, args.seconds)
    print(f"{'path':<14}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'p50/bare':>10}{'rate/bare':>10}")
    for clients in CLIENTS:
        lat, rate = bare[clients]
        print(f"{'bare run':<14}{clients:>8}{pct(lat, 50):>9.2f}{pct(lat, 99):>9.2f}{rate:>9.0f}")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        gateway = start_gateway(Path(tmp) / "batched", token=None)
        if measured and gateway.agent.process is not None:
            pin_process(gateway.agent.process.pid, measured)
        try:
            rates: dict[tuple[str, int], float] = {}
            for name, make in clients_for(gateway, tensor).items():
                for clients in CLIENTS:
                    lat, rate = closed_loop(make, clients, args.seconds)
                    rates[(name, clients)] = rate
                    ratio_p50 = pct(lat, 50) / pct(bare[clients][0], 50)
                    ratio_rate = rate / bare[clients][1]
                    print(
                        f"{name:<14}{clients:>8}{pct(lat, 50):>9.2f}{pct(lat, 99):>9.2f}{rate:>9.0f}"
                        f"{ratio_p50:>10.2f}{ratio_rate:>10.2f}"
                    )
            alone = mqtt_rate(gateway, args.frames)
            api_load: list[tuple[list[float], float]] = []
            grpc_16 = clients_for(gateway, tensor)["grpc"]
            load = threading.Thread(
                target=lambda: api_load.append(closed_loop(grpc_16, 16, args.seconds * 3)), daemon=True
            )
            load.start()
            time.sleep(1.0)
            shared = mqtt_rate(gateway, args.frames)
            load.join()
            print(f"\nMQTT frames/s (640x480 JPEG flood): alone {alone:.0f}, with 16 gRPC clients saturating the API "
                  f"{shared:.0f} ({shared / alone:.2f}x); the API meanwhile {api_load[0][1]:.0f} req/s "
                  f"(alone {rates[('grpc', 16)]:.0f}; it yields while MQTT inputs wait)")  # fmt: skip
        finally:
            gateway.stop()
        unbatched = {"preferred_batch_size": 1, "max_batch_size": 1}
        single = start_gateway(Path(tmp) / "unbatched", token=None, api=unbatched)
        if measured and single.agent.process is not None:
            pin_process(single.agent.process.pid, measured)
        try:
            print("\n16 clients, dynamic batching vs batch size 1:")
            for name, make in clients_for(single, tensor).items():
                if name == "http-json":
                    continue
                _, rate = closed_loop(make, 16, args.seconds)
                print(f"  {name:<12} batched {rates[(name, 16)]:.0f} req/s, batch 1 {rate:.0f} req/s "
                      f"({rates[(name, 16)] / rate:.2f}x)")  # fmt: skip
        finally:
            single.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
