"""CPU cost of line KPIs: N work units x 10 tags at 1 Hz through the agent's tag path, plus the KPI ticks.

Feeds {ns}/sensor/UNIT/TAG JSON messages (state, product, two counters and six tags the line does not use) through
AgentService.on_message into the LineTracker, as paho's thread would, for a simulated hour, with a LineEngine tick
(every unit's shift and rolling KPIs, the retained documents) every 10 simulated seconds. Prints CPU seconds per
simulated second = the share of one core. Run: .venv/bin/python bench/line_load.py [--units 200] [--seconds 3600]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.config_line import LineConfig  # noqa: E402
from edge_agent.line.engine import LineEngine  # noqa: E402
from edge_agent.line.persist import LineStateFile  # noqa: E402
from edge_agent.line.tracker import LineTracker  # noqa: E402
from edge_agent.mqtt import InboundMessage  # noqa: E402
from edge_agent.queues import DropQueue  # noqa: E402
from edge_agent.service import AgentService, Topics  # noqa: E402
from edge_agent.stats import AgentStats  # noqa: E402

NS = "factory/v1/plant/line-1"
STATES = {"1": "running", "2": "idle", "5": "fault"}
EXTRA_TAGS = ("temp", "pressure", "speed", "current", "torque", "setpoint")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=3600)
    args = parser.parse_args()
    units = [f"u{i:03d}" for i in range(args.units)]
    config = LineConfig.model_validate(
        {
            "units": [
                {
                    "id": u,
                    "state_tag": f"{u}/state",
                    "product_tag": f"{u}/product",
                    "states": STATES,
                    "counters": {"total": f"{u}/total", "reject": f"{u}/reject"},
                    "ideal_cycle_s": {"default": 4.0},
                }
                for u in units
            ],
            "save_interval_s": 1e9,
        }
    )
    clock = [time.time() - args.seconds - 60]
    tracker = LineTracker(config, emit=lambda kind, **detail: None, wall=lambda: clock[0])
    service = AgentService(
        Topics(NS, "gw"), {}, {}, DropQueue(1, "drop_oldest"), DropQueue(1, "drop_oldest"), AgentStats(), None,
        line=tracker,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        engine = LineEngine(
            config, NS, tracker, LineStateFile(Path(tmp) / "s.json"), lambda t, p: None, lambda *a: None,
            wall=lambda: clock[0],
        )  # fmt: skip
        rng = random.Random(1)
        counts = dict.fromkeys(units, 0)
        states = dict.fromkeys(units, 1)
        start_ms = int(clock[0] * 1000)
        messages = 0
        cpu0 = time.process_time()
        for second in range(args.seconds):
            ts = start_ms + second * 1000
            clock[0] = ts / 1000
            for u in units:
                if rng.random() < 0.01:
                    states[u] = rng.choice([1, 1, 2, 5])
                if states[u] == 1 and rng.random() < 0.25:
                    counts[u] += 1
                values = {"state": states[u], "product": "A", "total": counts[u], "reject": counts[u] // 50}
                values.update({tag: rng.random() for tag in EXTRA_TAGS})
                for tag, value in values.items():
                    body = json.dumps({"timestamp_ms": ts, "value": value}).encode()
                    service.on_message(InboundMessage(f"{NS}/sensor/{u}/{tag}", body, {}))
                    messages += 1
            if second % 10 == 0:
                engine.tick()
        cpu = time.process_time() - cpu0
    print(f"{args.units} units x 10 tags at 1 Hz, {args.seconds} simulated s: {messages} messages")
    print(f"CPU {cpu:.1f} s = {100 * cpu / args.seconds:.2f}% of one core (message parse + tracker + KPI ticks)")


if __name__ == "__main__":
    main()
