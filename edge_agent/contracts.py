"""Wire and file contracts: the model manifest, bearing geometry, version ordering, MQTT topics."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["quality_inspection", "predictive_maintenance", "cycle_time"]
RuntimeKind = Literal["litert", "onnx"]
TensorDType = Literal["uint8", "int8", "float32"]
# The states of one OTA offer on a gateway (DESIGN.md section 6), as reported to cloud-sync.
OtaState = Literal[
    "offered",
    "downloading",
    "verifying",
    "staged",
    "selftest",
    "shadow",
    "active",
    "probation",
    "committed",
    "rejected",
    "rolled_back",
]
OTA_FINAL_STATES = ("committed", "rejected", "rolled_back")

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


class _Strict(BaseModel):
    """Base for contract models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def semver_key(version: str) -> tuple[int, int, int, int, tuple[Any, ...]]:
    """Sort key for semantic versions; a pre-release sorts before its release."""
    match = _SEMVER.match(version)
    if match is None:
        raise ValueError(f"not a semantic version (MAJOR.MINOR.PATCH): {version!r}")
    major, minor, patch, pre = match.groups()
    pre_key: tuple[Any, ...] = ()
    if pre:
        pre_key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre_key)


class BearingGeometry(_Strict):
    """Rolling-element bearing geometry; gives the fault frequencies as orders of shaft speed."""

    balls: int = Field(ge=3, le=64, description="Number of rolling elements")
    ball_diameter_mm: float = Field(gt=0, description="Rolling element diameter in mm")
    pitch_diameter_mm: float = Field(gt=0, description="Pitch circle diameter in mm")
    contact_angle_deg: float = Field(default=0.0, ge=0, lt=60, description="Contact angle in degrees")

    @model_validator(mode="after")
    def _ball_smaller_than_pitch(self) -> BearingGeometry:
        if self.ball_diameter_mm >= self.pitch_diameter_mm:
            raise ValueError("ball_diameter_mm must be smaller than pitch_diameter_mm")
        return self

    def fault_orders(self) -> dict[str, float]:
        """Fault frequencies divided by shaft frequency: ftf, bsf, bpfo, bpfi."""
        ratio = self.ball_diameter_mm / self.pitch_diameter_mm * math.cos(math.radians(self.contact_angle_deg))
        n = self.balls
        return {
            "ftf": 0.5 * (1 - ratio),
            "bsf": self.pitch_diameter_mm / (2 * self.ball_diameter_mm) * (1 - ratio * ratio),
            "bpfo": n / 2 * (1 - ratio),
            "bpfi": n / 2 * (1 + ratio),
        }


class Quantization(_Strict):
    """Affine quantization of a tensor: real = scale * (q - zero_point)."""

    scale: float = Field(gt=0, description="Real value of one quantization step")
    zero_point: int = Field(description="Quantized value that represents real 0")


class GrayscaleStep(_Strict):
    """Convert a colour image to one grey channel (luma, BT.601)."""

    op: Literal["grayscale"] = "grayscale"


class ResizeStep(_Strict):
    """Resize the image to the model's input size."""

    op: Literal["resize"] = "resize"
    width: int = Field(gt=0, description="Target width in pixels")
    height: int = Field(gt=0, description="Target height in pixels")
    interpolation: Literal["area", "linear"] = Field(default="area", description="Resampling filter")


class ScaleStep(_Strict):
    """Affine map of pixel values: x * factor + offset (e.g. 1/255 to get 0..1)."""

    op: Literal["scale"] = "scale"
    factor: float = Field(description="Multiplier applied to every value")
    offset: float = Field(default=0.0, description="Added after the multiplier")


class BearingFeaturesStep(_Strict):
    """Shaft-speed-normalised vibration features (edge_agent.pipelines.vibration_features)."""

    op: Literal["bearing_features"] = "bearing_features"
    feature_names: list[str] = Field(description="Names of the features, in model input order")
    envelope_band_hz: tuple[float, float] = Field(description="Band-pass before demodulation, in Hz")
    order_tolerance: float = Field(default=0.03, gt=0, description="Relative width of an order peak search")
    min_samples: int = Field(default=1024, gt=0, description="Shortest window accepted, in samples")
    max_samples: int = Field(default=65536, gt=0, description="Longest window accepted, in samples")


class CycleFeaturesStep(_Strict):
    """A line unit's completed cycle as model input (edge_agent.line.cycle_model): unit and product rows of the
    model's tables, speed setpoint over the unit's nominal, share of the cycle the upstream unit was not running."""

    op: Literal["cycle_features"] = "cycle_features"
    feature_names: list[str] = Field(description="Names of the features, in model input order")
    units: list[str] = Field(min_length=1, description="Unit ids, in table row order")
    products: dict[str, list[str]] = Field(
        description="Per unit, its products in table column order; any other product uses the unit's last column"
    )
    nominal_speed: dict[str, float] = Field(description="Per unit, the speed setpoint the speed feature divides by")


PreprocessStep = Annotated[
    GrayscaleStep | ResizeStep | ScaleStep | BearingFeaturesStep | CycleFeaturesStep, Field(discriminator="op")
]


class InputSpec(_Strict):
    """The model's single input tensor and how raw data becomes it."""

    name: str = Field(description="Input tensor name in the model file")
    shape: list[int] = Field(min_length=1, description="Tensor shape; -1 marks a dynamic dimension")
    dtype: TensorDType = Field(description="Tensor element type")
    layout: Literal["NHWC", "NCHW", "NF"] = Field(description="Axis meaning: images NHWC/NCHW, features NF")
    quantization: Quantization | None = Field(default=None, description="Set for integer inputs")
    preprocessing: list[PreprocessStep] = Field(description="Steps from raw input to tensor, in order")
    min_image_px: int | None = Field(default=None, description="Smallest accepted image side in pixels")
    test_time_views: Literal[1, 2, 4, 8] = Field(
        default=1,
        exclude_if=lambda views: views == 1,  # manifests written before views existed stay byte for byte
        description="Dihedral views of each image item (identity, transpose, 180-degree turn, anti-transpose, "
        "then the four others) run as one batch; their class probabilities are averaged before the verdict. "
        "Only for a square NHWC image input; the thresholds were calibrated on the averaged scores",
    )

    @model_validator(mode="after")
    def _views_need_a_square_image(self) -> InputSpec:
        square = self.layout == "NHWC" and len(self.shape) == 4 and self.shape[1] == self.shape[2]
        if self.test_time_views > 1 and not square:
            raise ValueError(f"test_time_views needs a square NHWC image input, not {self.layout} {self.shape}")
        return self


class OutputTensor(_Strict):
    """One output tensor of the model."""

    name: str = Field(description="Output tensor name (informative for LiteRT)")
    shape: list[int] = Field(description="Tensor shape; -1 marks a dynamic dimension")
    dtype: TensorDType = Field(description="Tensor element type")
    quantization: Quantization | None = Field(default=None, description="Set for integer outputs")
    meaning: Literal["class_probabilities", "anomaly_score", "cycle_time_s"] = Field(
        description="What the values are (cycle_time_s: expected cycle and its upper bounds, columns as labelled "
        "in the cycle_features step's model card)"
    )


class OutputSpec(_Strict):
    """The model's outputs and the class labels they score."""

    tensors: list[OutputTensor] = Field(min_length=1, description="Outputs in model order")
    labels: list[str] = Field(min_length=2, description="Class labels, in score order")
    negative_label: str = Field(description="The label that means 'nothing wrong' (ok / healthy)")

    @model_validator(mode="after")
    def _negative_label_known(self) -> OutputSpec:
        if self.negative_label not in self.labels:
            raise ValueError(f"negative_label {self.negative_label!r} is not one of labels {self.labels}")
        # a cycle-time regression scores no classes: its labels are the verdicts its judge gives
        wanted = 0 if any(t.meaning == "cycle_time_s" for t in self.tensors) else 1
        if sum(t.meaning == "class_probabilities" for t in self.tensors) != wanted:
            raise ValueError(f"exactly {wanted} output tensor(s) must have meaning 'class_probabilities'")
        return self


class Thresholds(_Strict):
    """Decision thresholds that travel with the model version."""

    ng_score: float | None = Field(default=None, ge=0, le=1, description="Verdict ng when 1-p(ok) >= this")
    anomaly: float | None = Field(default=None, description="Anomaly flagged when score > this")
    low_margin: float = Field(default=0.2, ge=0, le=1, description="Top-2 margin below which input is hard")
    uncertain_below: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Maintenance state 'uncertain' (with the top two states) when the top class probability is below",
    )
    max_latency_ms: float = Field(default=250.0, gt=0, description="Latency budget per item on a gateway")


class Manifest(_Strict):
    """manifest.json of a model package (DESIGN.md section 5)."""

    schema_version: Literal[1] = Field(default=1, description="Manifest format version")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Model name")
    version: str = Field(description="Semantic version; only goes up")
    task: Task = Field(description="What the model does")
    runtime: RuntimeKind = Field(description="Which inference runtime loads the file")
    file: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="Model file name inside the package")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the model file")
    size: int = Field(gt=0, description="Model file size in bytes")
    files: dict[str, str] = Field(
        description="sha256 of every other file of the package (selftest.npz, MODEL_CARD.md): the signature covers all"
    )
    input: InputSpec = Field(description="Input tensor and preprocessing")
    output: OutputSpec = Field(description="Output tensors and labels")
    thresholds: Thresholds = Field(description="Decision thresholds")
    min_agent_version: str = Field(description="Oldest edge-agent version that can run this package")
    created: str = Field(description="ISO 8601 creation time")
    description: str = Field(default="", description="One line for humans")
    training: dict[str, Any] = Field(default_factory=dict, description="Data recipe and held-out metrics")

    @model_validator(mode="after")
    def _versions_parse(self) -> Manifest:
        semver_key(self.version)
        semver_key(self.min_agent_version)
        if "selftest.npz" not in self.files:
            raise ValueError("files must list selftest.npz")
        for name, digest in self.files.items():
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"files: {name!r} needs a plain file name and a hex sha256")
        return self

    def tensor_for(self, meaning: str) -> tuple[int, OutputTensor] | None:
        """Index and spec of the output with this meaning, if the model has one."""
        for index, tensor in enumerate(self.output.tensors):
            if tensor.meaning == meaning:
                return index, tensor
        return None


def namespace(site: str, line: str, template: str = "factory/v1/{site}/{line}") -> str:
    """The plant namespace prefix for every topic of one line."""
    return template.format(site=site, line=line)


def frame_topic(ns: str, camera: str) -> str:
    """Topic on which a camera publishes JPEG/PNG frames."""
    return f"{ns}/cam/{camera}/frame"


def vibration_topic(ns: str, asset: str) -> str:
    """Topic on which a DAQ publishes vibration windows for one asset."""
    return f"{ns}/sensor/{asset}/vibration"


def inspection_result_topic(ns: str, camera: str) -> str:
    """Topic on which the agent publishes inspection results for one camera."""
    return f"{ns}/inspection/{camera}/result"


def health_topic(ns: str, asset: str) -> str:
    """Topic on which the agent publishes an asset's health."""
    return f"{ns}/maintenance/{asset}/health"
