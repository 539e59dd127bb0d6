"""Turn a trained model into a signed model package (DESIGN.md section 5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_agent.contracts import InputSpec, OutputSpec, RuntimeKind, Task, Thresholds


@dataclass
class TrainedModel:
    """Everything a trainer hands over to the packager."""

    name: str
    version: str
    task: Task
    runtime: RuntimeKind
    file_name: str
    model_bytes: bytes
    input: InputSpec
    output: OutputSpec
    thresholds: Thresholds
    description: str
    # data recipe, held-out metrics (floats or nested dicts), confusion matrix as list of lists
    training: dict[str, Any]
    # preprocessed model inputs (batch axis first, model dtype) for selftest.npz, 16-64 items
    selftest_inputs: np.ndarray
    # the true class label of each selftest input
    selftest_labels: list[str]
    # extra markdown appended to MODEL_CARD.md (architecture, recipe, confusion matrix)
    card_markdown: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
