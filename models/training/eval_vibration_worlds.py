"""The bearing-health package through the agent's own path (MQTT JSON parser, features, model, postprocess,
baseline judge) on windows of both generators: the training one and the clean-room one (models/evaluation)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from edge_agent.baseline import (
    AssetBaseline,
    BaselineLearner,
    BaselineRefused,
    BaselineSettings,
    judge,
    kept_evidence,
    machine_signature,
)
from edge_agent.ingest.vibration import parse_vibration
from edge_agent.pipelines.maintenance import HealthMonitor
from models.training.eval_states import meets_targets, state_metrics

# A commissioning run of this many windows (a few minutes of a real asset) learns each machine's baseline.
COMMISSION_WINDOWS = 60


@dataclass(frozen=True)
class Judged:
    """One window's published state without and with its asset's baseline."""

    absolute: str
    judged: str
    status: str


def _states(pipeline: HealthMonitor, messages: Iterable[dict[str, Any]]) -> list[str]:
    """Published states of MQTT vibration messages, absolute model only."""
    return [pipeline.assess(parse_vibration(json.dumps(m).encode())).result.state for m in messages]


def absolute_report(
    pipeline: HealthMonitor,
    known: Sequence[tuple[str, dict[str, Any], float]],
    untrained: Sequence[tuple[str, dict[str, Any]]],
    severity: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Figures of windows given as (true state, MQTT message, true rpm) and untrained (pattern, message), with
    recall per fault severity when the generator tells each window's `severity`."""
    states = _states(pipeline, (m for _, m, _ in known))
    untrained_states = _states(pipeline, (m for _, m in untrained))
    metrics = state_metrics(
        [t for t, _, _ in known],
        states,
        [r for _, _, r in known],
        [p for p, _ in untrained],
        untrained_states,
        severity,
    )
    metrics["meets_targets"] = meets_targets(metrics)
    return metrics


def _commission(
    pipeline: HealthMonitor, asset: str, messages: Sequence[dict[str, Any]], settings: BaselineSettings
) -> AssetBaseline:
    """Learn one asset's baseline from healthy windows, as the agent does at commissioning."""
    model = pipeline.model.package.ident
    learner = BaselineLearner(asset, model, settings)
    for message in messages:
        window = parse_vibration(json.dumps(message).encode())
        outcome = pipeline.assess(window)
        learner.add(machine_signature(window.samples, window.fs_hz, window.rpm), outcome.features, outcome.result)
    return learner.finish(0)


def judged_states(
    pipeline: HealthMonitor, baseline: AssetBaseline, messages: Iterable[dict[str, Any]], settings: BaselineSettings
) -> list[Judged]:
    """Absolute and baseline-judged states of one asset's successive windows (one episode: the evidence of the
    earlier windows is pooled with each new one's, as the agent does per asset)."""
    out = []
    recent: list[Mapping[str, float]] = []  # the asset's earlier windows' envelope evidence, as the agent keeps it
    for message in messages:
        window = parse_vibration(json.dumps(message).encode())
        outcome = pipeline.assess(window)
        signature = machine_signature(window.samples, window.fs_hz, window.rpm)
        verdict = judge(outcome.result, outcome.features, signature, baseline, settings, recent)
        recent = kept_evidence(recent, verdict, settings)
        out.append(Judged(outcome.result.state, verdict.state, verdict.status))
    return out


def _world(world: ModuleType | None) -> ModuleType:
    """The clean-room generator to draw from (models.evaluation.vibration_world unless another is given)."""
    if world is not None:
        return world
    from models.evaluation import vibration_world

    return vibration_world


def baseline_report(
    pipeline: HealthMonitor, seed: int, n_machines: int, per_state: int, world: ModuleType | None = None
) -> dict[str, Any]:
    """Clean-room fleet: commission each machine on its healthy windows, then judge every trained state,
    every untrained pattern and an imbalance at 3x the machine's own 1x against that baseline. `world` is a
    clean-room generator module (fleet, machine_windows, TRAINED_STATES, UNTRAINED_STATES)."""
    world = _world(world)
    settings = BaselineSettings(windows=COMMISSION_WINDOWS, min_windows=COMMISSION_WINDOWS // 2)
    truth: list[str] = []
    judged: list[Judged] = []
    rpm: list[float] = []
    severity: list[float] = []
    untrained_truth: list[str] = []
    untrained: list[Judged] = []
    imbalance_3x: list[Judged] = []
    refused: list[str] = []
    for k, machine in enumerate(world.fleet(seed, n_machines)):
        commissioning = world.machine_windows(machine, "healthy", COMMISSION_WINDOWS, seed + 1000 + k)
        try:
            baseline = _commission(pipeline, machine.asset_id, [w.message() for w in commissioning], settings)
        except BaselineRefused as exc:
            refused.append(f"{machine.asset_id}: {exc.reason}")
            continue
        for j, state in enumerate(world.TRAINED_STATES + world.UNTRAINED_STATES):
            windows = world.machine_windows(machine, state, per_state, seed + 2000 + 31 * k + j)
            results = judged_states(pipeline, baseline, (w.message() for w in windows), settings)
            if state in world.TRAINED_STATES:
                truth += [state] * len(results)
                judged += results
                rpm += [float(w.params["rpm"]) for w in windows]
                severity += [float(w.params["severity"]) for w in windows]
            else:
                untrained_truth += [state] * len(results)
                untrained += results
        weak = world.machine_windows(machine, "imbalance", per_state, seed + 3000 + k, imbalance_factor=3.0)
        imbalance_3x += judged_states(pipeline, baseline, (w.message() for w in weak), settings)
    metrics = state_metrics(
        truth, [j.judged for j in judged], rpm, untrained_truth, [j.judged for j in untrained], severity
    )
    metrics.update(_bad_commissioning(pipeline, world.fleet(seed, n_machines)[:6], seed, settings, world))
    metrics["absolute_on_the_same_windows"] = state_metrics(
        truth, [j.absolute for j in judged], rpm, untrained_truth, [j.absolute for j in untrained]
    )["state_accuracy"]
    metrics["machines"] = n_machines
    metrics["commissioning_windows"] = COMMISSION_WINDOWS
    metrics["healthy_machines_refused"] = refused
    metrics["imbalance_at_3x_detected"] = (
        sum(j.judged == "imbalance" for j in imbalance_3x) / len(imbalance_3x) if imbalance_3x else float("nan")
    )
    metrics["imbalance_at_3x_detected_absolute"] = (
        sum(j.absolute == "imbalance" for j in imbalance_3x) / len(imbalance_3x) if imbalance_3x else float("nan")
    )
    metrics["meets_targets"] = meets_targets(metrics)
    return metrics


def _speed_field(machine: Any) -> str:
    """The attribute holding a machine's nominal rpm (each generator names it its own way)."""
    return "rpm" if hasattr(machine, "rpm") else "rpm_nominal"


def _driven_at(machine: Any, factor: float) -> Any:
    """The same machine driven `factor` times faster."""
    field = _speed_field(machine)
    return replace(machine, **{field: getattr(machine, field) * factor})


def _bad_commissioning(
    pipeline: HealthMonitor, machines: Sequence[Any], seed: int, settings: BaselineSettings, world: ModuleType
) -> dict[str, Any]:
    """Machines commissioned while a bearing fault is already there must be refused with a reason; a learned
    baseline must not judge windows at a speed it never saw (the model's own state, status other_speed)."""
    refused, reasons, other_speed = 0, [], []
    for k, machine in enumerate(machines):
        fault = ("outer_race", "inner_race")[k % 2]
        faulty = world.machine_windows(machine, fault, COMMISSION_WINDOWS, seed + 4000 + k, severity=0.6)
        try:
            _commission(pipeline, machine.asset_id, [w.message() for w in faulty], settings)
        except BaselineRefused as exc:
            refused += 1
            reasons.append(exc.reason)
        healthy = world.machine_windows(machine, "healthy", COMMISSION_WINDOWS, seed + 5000 + k)
        baseline = _commission(pipeline, machine.asset_id, [w.message() for w in healthy], settings)
        # the same machine driven 1.5x faster (or, near the top of the range, 1.5x slower)
        factor = 1.5 if getattr(machine, _speed_field(machine)) * 1.5 <= 3600.0 else 1 / 1.5
        windows = world.machine_windows(_driven_at(machine, factor), "healthy", 4, seed + 6000 + k)
        other_speed += [j.status for j in judged_states(pipeline, baseline, (w.message() for w in windows), settings)]
    return {
        "faulty_commissioning_refused": refused / len(machines) if machines else float("nan"),
        "faulty_commissioning_reasons": reasons[:3],
        "other_speed_windows_told": sum(s == "other_speed" for s in other_speed) / len(other_speed)
        if other_speed
        else float("nan"),
    }


def cleanroom_known(
    seed: int, n_per_state: int, world: ModuleType | None = None
) -> tuple[list[tuple[str, dict[str, Any], float]], list[Any], list[float]]:
    """Clean-room windows of every trained state (fresh machine each), of every untrained pattern, and the
    severity (0..1) of each trained-state window."""
    world = _world(world)
    drawn = world.windows(seed, n_per_state)
    known = [(w.state, w.message(), float(w.params["rpm"])) for w in drawn]
    untrained = [(w.state, w.message()) for w in world.windows(seed + 1, n_per_state, world.UNTRAINED_STATES)]
    return known, untrained, [float(w.params["severity"]) for w in drawn]
