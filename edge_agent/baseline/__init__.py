"""Per-asset baselines: learn each machine's healthy signature at commissioning and judge change against it."""

from edge_agent.baseline.judge import feature_deviation, judge, kept_evidence
from edge_agent.baseline.learner import BaselineLearner
from edge_agent.baseline.model import (
    BEARING_FAULT_STATES,
    CHANGE_FIELDS,
    LEVEL_FIELDS,
    AssetBaseline,
    BaselineError,
    BaselineJudgement,
    BaselineRefused,
    levels_db,
    to_db,
)
from edge_agent.baseline.signature import MachineSignature, iso_zone, machine_signature
from edge_agent.config_baseline import BaselineSettings

__all__ = [
    "BEARING_FAULT_STATES",
    "CHANGE_FIELDS",
    "LEVEL_FIELDS",
    "AssetBaseline",
    "BaselineError",
    "BaselineJudgement",
    "BaselineLearner",
    "BaselineRefused",
    "BaselineSettings",
    "MachineSignature",
    "feature_deviation",
    "iso_zone",
    "judge",
    "kept_evidence",
    "levels_db",
    "machine_signature",
    "to_db",
]
