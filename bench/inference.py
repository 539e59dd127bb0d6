"""Inference latency and throughput of every shipped package: the agent's path vs the bare runtime.

Prints, per model, runtime and thread count: per-item p50/p99 and items/s for
  - bare:     runtime.run on a ready, preprocessed tensor (the floor)
  - pipeline: bytes -> decode -> preprocess/features -> run -> verdict (what the agent does per item)
  - naive:    what a first script does: load the model for every item, float pre-processing by hand
and the ratios. Run: .venv/bin/python bench/inference.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.app import build_pipeline  # noqa: E402
from edge_agent.ingest.images import decode_image  # noqa: E402
from edge_agent.ingest.vibration import parse_vibration  # noqa: E402
from edge_agent.model_manager import active_package_dir  # noqa: E402
from edge_agent.pipelines.image_preprocess import dihedral_views  # noqa: E402
from edge_agent.pipelines.inspection import QualityInspector  # noqa: E402
from edge_agent.pipelines.maintenance import HealthMonitor  # noqa: E402
from edge_agent.runtimes import RuntimeOptions, create_runtime  # noqa: E402
from models.training.surfaces import generate_surface  # noqa: E402
from models.training.vibration import generate_window, to_message  # noqa: E402

MODELS = REPO / "models"
KEYS = [MODELS / "keys"]


def measure(fn: Callable[[int], object], items: int, seconds: float) -> dict[str, float]:
    """Call fn(i) repeatedly for about `seconds`; per-call latency percentiles and calls/s."""
    fn(0)
    times: list[float] = []
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds or len(times) < 20:
        t0 = time.perf_counter()
        fn(i % items)
        times.append((time.perf_counter() - t0) * 1000)
        i += 1
    elapsed = time.perf_counter() - started
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
        "items_per_s": len(times) / elapsed,
    }


def bench_inspection(name: str, threads: int, seconds: float) -> dict[str, dict[str, float]]:
    """Inspection: JPEG bytes of 640x480 frames."""
    pipeline = build_pipeline(active_package_dir(MODELS, name), KEYS, threads=threads)
    assert isinstance(pipeline, QualityInspector)
    rng = np.random.default_rng(5)
    frames = [generate_surface(rng, label, (480, 640)).jpeg for label in ("ok", "scratch", "pit", "crack", "stain")]
    ready = [pipeline.prepare(decode_image(f))[None] for f in frames]
    runtime = pipeline.model.runtime
    manifest = pipeline.model.manifest
    model_path = pipeline.model.package.model_path

    def naive(i: int) -> object:
        import cv2

        fresh = create_runtime(manifest.runtime, model_path, RuntimeOptions(num_threads=threads))
        image = cv2.imdecode(np.frombuffer(frames[i], np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64) / 255.0
        small = cv2.resize(grey, (manifest.input.shape[2], manifest.input.shape[1]))
        if manifest.input.dtype == "uint8":
            return fresh.run((small * 255).round().astype(np.uint8)[None, :, :, None])
        return fresh.run(small.astype(np.float32)[None, :, :, None])

    figures = {"bare": measure(lambda i: runtime.run(ready[i % len(ready)]), len(ready), seconds)}
    views = manifest.input.test_time_views
    if views > 1:
        # the model step the pipeline takes per frame: all its test-time views in one run (naive runs one view)
        viewed = [np.stack(dihedral_views(item[0], views)) for item in ready]
        figures[f"bare_{views}_views"] = measure(lambda i: runtime.run(viewed[i % len(viewed)]), len(viewed), seconds)
    figures["pipeline"] = measure(lambda i: pipeline.inspect(decode_image(frames[i])), len(frames), seconds)
    figures["naive"] = measure(naive, len(frames), seconds / 2)
    return figures


def bench_maintenance(name: str, threads: int, seconds: float) -> dict[str, dict[str, float]]:
    """Maintenance: 0.5 s windows at 25.6 kHz as base64 JSON messages; batch of 16 as the agent micro-batches."""
    pipeline = build_pipeline(active_package_dir(MODELS, name), KEYS, threads=threads)
    assert isinstance(pipeline, HealthMonitor)
    rng = np.random.default_rng(6)
    messages = [
        json.dumps(to_message(generate_window(rng, s, fs_hz=25600.0, duration_s=0.5), binary=True)).encode()
        for s in ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
    ]
    features = [pipeline.prepare(parse_vibration(m)) for m in messages]
    batch16 = np.stack([features[i % len(features)] for i in range(16)])
    runtime = pipeline.model.runtime
    windows16 = [parse_vibration(messages[i % len(messages)]) for i in range(16)]

    def pipeline_batch(i: int) -> object:
        return pipeline.infer([pipeline.prepare(w) for w in windows16])

    bare16 = measure(lambda i: runtime.run(batch16), 1, seconds)
    piped16 = measure(pipeline_batch, 1, seconds)
    for figures in (bare16, piped16):
        figures["items_per_s"] *= 16
        figures["p50_ms"] /= 16
        figures["p99_ms"] /= 16
    return {
        "bare": measure(lambda i: runtime.run(features[i][None]), len(features), seconds),
        "pipeline": measure(lambda i: pipeline.assess(parse_vibration(messages[i])), len(messages), seconds),
        "bare_batch16": bare16,
        "pipeline_batch16": piped16,
    }


def main() -> int:
    """Run every benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    args = parser.parse_args()
    print(f"{'model':26} {'thr':>3} {'variant':17} {'p50 ms':>8} {'p99 ms':>8} {'items/s':>9} {'vs bare':>8}")
    for name, bench in (
        ("surface-inspection", bench_inspection),
        ("surface-inspection-onnx", bench_inspection),
        ("bearing-health", bench_maintenance),
    ):
        for threads in (1, 2):
            results = bench(name, threads, args.seconds)
            bare = results["bare"]["items_per_s"]
            for variant, figures in results.items():
                ratio = figures["items_per_s"] / bare
                print(
                    f"{name:26} {threads:>3} {variant:17} {figures['p50_ms']:8.3f} {figures['p99_ms']:8.3f} "
                    f"{figures['items_per_s']:9.1f} {ratio:7.2f}x"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
