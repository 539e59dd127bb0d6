"""The surface-inspection CNN: a small strided conv net with a training-only defect-map head."""

from __future__ import annotations

from typing import Any

from models.training.inspection_data import SIDE
from models.training.surfaces import CLASSES

ARCHITECTURE = [
    ("conv 4x4 /4", 16),
    ("conv 3x3", 16),
    ("conv 3x3 /2", 32),
    ("conv 3x3", 32),
    ("conv 3x3 /2", 64),
    ("conv 3x3", 64),
    ("conv 3x3", 64),
]


def build_model() -> tuple[Any, Any]:
    """Small CNN (strided conv-bn-relu, global max+avg pool, softmax) and its training twin.

    The training twin adds a 1x1-conv defect map over the 16x16 feature grid, supervised with the
    generator's masks: dense "where is the defect" feedback teaches small-defect detectors much
    faster than one label per image. Only the classifier is exported.
    """
    import keras
    from keras import layers

    inp = keras.Input((SIDE, SIDE, 1), name="image")
    # frames differ by mean grey (80-180); removing each frame's mean leaves the defects to learn
    x = layers.Subtract()([inp, layers.GlobalAveragePooling2D(keepdims=True)(inp)])
    for desc, filters in ARCHITECTURE:
        kernel = int(desc.split()[1][0])
        stride = int(desc.split("/")[1]) if "/" in desc else 1
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
    cell_logits = layers.Conv2D(len(CLASSES), 1, name="cell_logits")(x)
    cells = layers.Softmax(name="defect_map")(cell_logits)
    # max pooling keeps a small defect's evidence that an average over the frame would dilute; the
    # pooled defect-map logits hand the classifier the densely supervised detectors directly
    pooled = layers.Concatenate()(
        [layers.GlobalMaxPooling2D()(x), layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(cell_logits)]
    )
    pooled = layers.Dropout(0.1)(pooled)
    probs = layers.Dense(len(CLASSES), activation="softmax", name="class_probabilities")(pooled)
    classifier = keras.Model(inp, probs, name="surface_inspection")
    return classifier, keras.Model(inp, [probs, cells], name="surface_inspection_train")
