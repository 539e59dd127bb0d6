"""Recent inspection thumbnails in a bounded ring buffer; ng frames get an outline where the defect probably is.

The inspection models classify whole frames and have no localisation, so the outline comes from an honest
image-processing heuristic, labelled as such on the page ("highlight: local contrast"): each pixel's
difference from a heavily blurred copy of the surface (which follows texture and illumination but not small
defects), thresholded at a multiple of the frame's own robust spread, and the strongest blobs boxed in red.
The worker thread that made a frame keeps a reference to the frame's encoded bytes as they arrived (or, for a
frame that came without them, shrinks the pixels to thumbnail size, ~0.2 ms for 640x480); the shrinking, the
outline and the JPEG happen the first time the page asks for them, since on a fast line most thumbnails leave
the ring before anyone looks. Encoded frames held this way count against a byte budget.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from edge_agent.ingest.images import decode_image

log = logging.getLogger(__name__)
HIGHLIGHT_METHOD = "local contrast"
Box = tuple[int, int, int, int]  # x, y, width, height in thumbnail pixels
_K_SIGMA = 3.5  # threshold in robust standard deviations of the frame's local contrast
_MIN_CONTRAST = 8.0  # grey levels; below this nothing is "visibly" different, whatever the spread
_BACKGROUND_CELLS = 8  # heavy blur = the thumbnail shrunk to this many cells across, then scaled back up
_MAX_BOXES = 3
_MIN_AREA_PX = 4
_RED = (0, 0, 255)


@dataclass(frozen=True)
class Thumbnail:
    """One stored thumbnail and what it shows; outline and JPEG are rendered once, on first use."""

    id: int
    camera: str
    part_id: str | None
    ts_ms: int | None
    verdict: str
    label: str
    frame: np.ndarray | bytes  # the frame at thumbnail size (uint8 grey or BGR), or its JPEG/PNG bytes as received
    width: int  # thumbnail width in pixels
    height: int  # thumbnail height in pixels
    quality: int = 80

    @cached_property
    def _rendered(self) -> tuple[bytes, list[Box]]:
        # cached_property writes the instance dict directly, so it works on a frozen dataclass
        try:
            small = self.frame
            if isinstance(small, bytes):
                small = shrink(decode_image(small), self.width)  # as the inspection worker decoded it
            return encode_thumbnail(small, self.verdict == "ng", self.quality)
        except Exception as exc:  # a picture the encoder cannot show is a missing picture, not a page error
            log.warning("thumbnail %d cannot be rendered: %s", self.id, exc)
            return b"", []

    @property
    def jpeg(self) -> bytes:
        """The thumbnail as JPEG (outlined in red when ng)."""
        return self._rendered[0]

    @property
    def boxes(self) -> list[Box]:
        """Outlines of the probable defect, strongest first (ng only)."""
        return self._rendered[1]

    @property
    def highlight(self) -> str | None:
        """How the outline was found ("local contrast"), "none found" for ng without blobs, None for ok."""
        if self.verdict != "ng":
            return None
        return HIGHLIGHT_METHOD if self.boxes else "none found"


def thumbnail_size(shape: tuple[int, ...], width: int) -> tuple[int, int]:
    """(width, height) of a frame of this shape shrunk to `width` pixels wide (never wider than it was)."""
    src_h, src_w = shape[:2]
    width = min(width, src_w)
    return width, max(1, round(src_h * width / src_w))


def _displayable(image: np.ndarray) -> np.ndarray:
    """A uint8 grey (HxW) or BGR (HxWx3) view of a grey, BGR or BGRA frame of any numeric dtype."""
    if image.dtype != np.uint8:
        values = np.nan_to_num(image.astype(np.float32))
        low, high = float(values.min()), float(values.max())
        image = ((values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"cannot show an image of shape {image.shape}")
    return image[:, :, :3]


def highlight_boxes(grey: np.ndarray) -> list[Box]:
    """Boxes around the strongest local-contrast blobs of a small grey uint8 image, strongest first."""
    height, width = grey.shape
    smooth = cv2.GaussianBlur(grey, (3, 3), 0)  # sensor noise is not a defect
    cells = (max(1, _BACKGROUND_CELLS), max(1, round(_BACKGROUND_CELLS * height / width)))
    coarse = cv2.GaussianBlur(cv2.resize(grey, cells, interpolation=cv2.INTER_AREA), (3, 3), 0)
    background = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    contrast = cv2.absdiff(smooth, background)
    # robust spread: the median absolute deviation, so the defect itself cannot inflate the threshold
    hist = cv2.calcHist([contrast], [0], None, [256], [0, 256]).ravel()
    median = int(np.searchsorted(np.cumsum(hist), 0.5 * hist.sum()))
    threshold = max(_K_SIGMA * max(median * 1.4826, 1.5), _MIN_CONTRAST)
    _, mask = cv2.threshold(contrast, threshold, 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))  # rejoin broken thin lines
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return []
    # rank blobs by contrast mass, not area: a faint wide smear should not beat a sharp pit
    mass = np.bincount(labels.ravel(), weights=contrast.ravel().astype(np.float64), minlength=count)[1:]
    order = np.argsort(-mass)[:_MAX_BOXES]
    boxes: list[Box] = []
    for index in order:
        x, y, w, h, area = (int(v) for v in stats[index + 1])
        if area >= _MIN_AREA_PX and mass[index] >= 0.25 * mass[order[0]]:
            boxes.append((x, y, w, h))
    return boxes


def shrink(image: np.ndarray, width: int) -> np.ndarray:
    """A grey, BGR or BGRA frame of any dtype as a uint8 image `width` pixels wide (never wider than it was)."""
    display = _displayable(image)
    return cv2.resize(display, thumbnail_size(display.shape, width), interpolation=cv2.INTER_AREA)


def encode_thumbnail(small: np.ndarray, highlight: bool, quality: int = 80) -> tuple[bytes, list[Box]]:
    """(JPEG bytes, boxes) of a thumbnail-sized image, outlined in red when `highlight`."""
    boxes: list[Box] = []
    if highlight:
        boxes = highlight_boxes(small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        if boxes:
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR) if small.ndim == 2 else small.copy()
        for x, y, w, h in boxes:
            cv2.rectangle(small, (x - 2, y - 2), (x + w + 1, y + h + 1), _RED, 1)
    ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes(), boxes


def render_thumbnail(
    image: np.ndarray, width: int, highlight: bool, quality: int = 80
) -> tuple[bytes, int, int, list[Box]]:
    """(JPEG bytes, width, height, boxes) of a frame shrunk to `width`, outlined in red when `highlight`."""
    small = shrink(image, width)
    jpeg, boxes = encode_thumbnail(small, highlight, quality)
    return jpeg, small.shape[1], small.shape[0], boxes


def _key(camera: str, part_id: str | None, ts_ms: int | None) -> tuple[str, str] | None:
    if part_id is not None:
        return camera, f"p:{part_id}"
    if ts_ms is not None:
        return camera, f"t:{ts_ms}"
    return None


class ThumbnailBuffer:
    """The last `capacity` thumbnails, found by id or by (camera, part id or timestamp); thread-safe. Frames kept as
    their encoded bytes take at most `max_encoded_bytes` in all (the oldest thumbnails leave first)."""

    def __init__(
        self, capacity: int = 200, width: int = 160, quality: int = 80, max_encoded_bytes: int = 32 << 20
    ) -> None:
        self.capacity = capacity
        self.width = width
        self.quality = quality
        self.max_encoded_bytes = max_encoded_bytes
        self._encoded_bytes = 0
        self._items: OrderedDict[int, Thumbnail] = OrderedDict()
        self._index: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.added = 0
        self.failures = 0

    def add(
        self,
        camera: str,
        part_id: str | None,
        image: np.ndarray,
        verdict: str,
        label: str,
        scores: dict[str, float] | None = None,
        ts_ms: int | None = None,
        encoded: bytes | None = None,
    ) -> int | None:
        """Keep a decoded frame as a thumbnail (rendered when first shown); returns its id, or None. Never raises.

        With `encoded`, the bytes the frame was decoded from (JPEG or PNG), those are kept and shrunk only if the
        thumbnail is ever shown; otherwise the pixels are shrunk now."""
        if self.capacity <= 0:
            return None
        try:
            frame: np.ndarray | bytes
            if encoded is not None and len(encoded) <= self.max_encoded_bytes // 4:
                frame = encoded
                width, height = thumbnail_size(image.shape, self.width)
            else:
                frame = shrink(image, self.width)
                width, height = int(frame.shape[1]), int(frame.shape[0])
        except Exception as exc:  # on the worker's hot path: a thumbnail problem must never cost a result
            self.failures += 1
            if self.failures == 1 or self.failures % 1000 == 0:
                log.warning("thumbnail failed (%d so far): %s", self.failures, exc)
            return None
        key = _key(camera, part_id, ts_ms)
        with self._lock:
            thumb_id = next(self._ids)
            thumb = Thumbnail(thumb_id, camera, part_id, ts_ms, verdict, label, frame, width, height, self.quality)
            self._items[thumb_id] = thumb
            if isinstance(frame, bytes):
                self._encoded_bytes += len(frame)
            if key is not None:
                self._index[key] = thumb_id
            while len(self._items) > self.capacity or self._encoded_bytes > self.max_encoded_bytes:
                old_id, old = self._items.popitem(last=False)
                if isinstance(old.frame, bytes):
                    self._encoded_bytes -= len(old.frame)
                old_key = _key(old.camera, old.part_id, old.ts_ms)
                if old_key is not None and self._index.get(old_key) == old_id:
                    del self._index[old_key]
            self.added += 1
        return thumb_id

    def get(self, thumb_id: int) -> Thumbnail | None:
        """A thumbnail by id, if still held."""
        with self._lock:
            return self._items.get(thumb_id)

    def jpeg(self, thumb_id: int) -> bytes | None:
        """JPEG bytes by id, if still held (rendered now if nobody asked before)."""
        thumb = self.get(thumb_id)
        return (thumb.jpeg or None) if thumb is not None else None

    def find(self, camera: str, part_id: str | None, ts_ms: int | None) -> Thumbnail | None:
        """The newest thumbnail of a camera's part (by part id, else by timestamp)."""
        key = _key(camera, part_id, ts_ms)
        with self._lock:
            thumb_id = self._index.get(key) if key is not None else None
            return self._items.get(thumb_id) if thumb_id is not None else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
