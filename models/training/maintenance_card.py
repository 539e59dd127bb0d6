"""Model-card text of the bearing-health model: features, model, the randomised data recipe, held-out results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge_agent.pipelines.vibration_features import FEATURE_NAMES
from models.training import eval_maintenance as ev
from models.training.vibration import STATES, UNTRAINED_STATES, VibrationDomain

if TYPE_CHECKING:
    from models.training.train_maintenance import Recipe


def maintenance_card(
    metrics: dict[str, Any],
    threshold: float,
    uncertain_below: float,
    recipe: Recipe,
    domain: VibrationDomain,
    seeds: dict[str, int],
) -> str:
    """Model-card sections written at training time (the gateway-path evaluation is appended later)."""
    lines = [
        "## Features",
        f"{len(FEATURE_NAMES)} features (edge_agent.pipelines.vibration_features): frequencies are orders of shaft "
        "speed; levels are log ratios, except the two ISO 20816 velocities (dB re 1 mm/s RMS), the one absolute "
        "level every analyst reads. " + ", ".join(f"`{n}`" for n in FEATURE_NAMES),
        "",
        "## Model",
        f"StandardScaler + MLP {recipe.hidden} (scikit-learn, exported with skl2onnx) -> `probabilities` over "
        f"{', '.join(STATES)}. Anomaly score (`anomaly_score`) = sqrt(min over {recipe.anomaly_components} Gaussian "
        "components per class (k-means sub-clusters) of the squared Mahalanobis distance / F); `unknown` when > "
        f"{threshold}. `uncertain` (with the top two states) when the top probability is below {uncertain_below}.",
        "",
        "## Data recipe",
        "Synthetic windows from models.training.vibration, randomised over what real machines add on top of the "
        f"spec: rpm {domain.rpm}, fs {domain.fs_hz} Hz, duration {domain.duration_s} s; every machine carries its "
        f"own residual 1x of {domain.residual_1x_mm_s} mm/s RMS (log-uniform) with a 2x {domain.residual_2x_gap_db} "
        f"dB and a 3x {domain.residual_3x_gap_db} dB behind it, background harmonics {domain.background_db} dB, "
        f"mains hum {domain.hum_db} dB re the noise on {domain.hum_share:.0%} of windows, coloured noise "
        f"{domain.noise_rms_g} g with tilt {domain.noise_tilt}, a sensor mounting resonance at "
        f"{domain.mount_corner_hz} Hz (Q {domain.mount_q}) and {domain.structural_modes} structural modes, speed "
        f"ripple up to {domain.speed_wobble[1]:.1%} and a reported-speed error up to {domain.rpm_error:.1%}. "
        f"Bearings: {len(domain.bearings)} catalogue geometries and, on {domain.random_bearing_share:.0%} of "
        f"windows, a drawn geometry ({domain.random_balls} elements, d/D {domain.random_diameter_ratio}). "
        f"Imbalance is a 1x {domain.imbalance_over_residual_db} dB over the machine's own; misalignment a 2x "
        f"{domain.misalignment_2x_ratio} times the 1x, at SNR {domain.snr_db} dB over the full-band noise; bearing "
        f"faults at {domain.bearing_snr_db} dB over the noise within +-25% of the resonance their impacts ring.",
        "",
        f"Hard negatives: {recipe.mining_pool} healthy windows of machines with a strong residual series; those the "
        f"first fit gave p(healthy) < {recipe.mining_below} join the training set. Healthy training windows count "
        f"{recipe.healthy_weight} times, so that where a faint fault and a healthy machine look alike the model leans "
        "to healthy. Thresholds (anomaly, uncertain) "
        "are set on a calibration split drawn from the domain widened by a margin past every range, seen by "
        f"neither test split. Seeds {seeds}; per state: {recipe.train_per_state} train, {recipe.val_per_state} "
        f"calibration, {recipe.test_per_state} test; {recipe.unknown_per_state} per untrained pattern "
        f"({', '.join(UNTRAINED_STATES)}).",
        "",
        "## Held-out results (training generator, argmax of the probabilities)",
        f"- state accuracy: {metrics['state_accuracy']:.4f}",
        f"- healthy flagged (wrong state or anomalous): {metrics['healthy_flagged_rate']:.4f}",
        f"- untrained patterns detected as anomalous: {metrics['unknown_detection_rate']:.4f} "
        f"({metrics['unknown_detection_by_pattern']})",
        f"- model file: {metrics['model_bytes']} bytes",
        "",
        ev.confusion_markdown(metrics["confusion_matrix"], list(STATES)),
    ]
    return "\n".join(lines) + "\n"
