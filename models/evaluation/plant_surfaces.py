"""Second clean-room surface-inspection evaluator: plant camera frames of machined metal, written from DESIGN.md §10."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from models.evaluation import plant_surface_defects as pd

CLASSES: tuple[str, ...] = ("ok", "scratch", "pit", "crack", "stain")
SIZES: tuple[int, ...] = (128, 192, 256, 384, 512, 768, 1024)
FINISHES: tuple[str, ...] = (
    "brushed", "ground", "honed", "shot_peened", "sand_blasted", "face_milled", "turned", "polished",
)  # fmt: skip
ASPECTS: tuple[float, ...] = (1.0, 1.0, 1.0, 0.75, 0.5625, 0.8, 1.25, 4 / 3)  # height / width, fixture dependent
TEXTURE_LIMIT = 16.0  # grey levels; soft cap so no texture line or dimple reaches scratch or pit contrast
LOW_FREQ_LIMIT = 3.0  # waviness and mottle each stay far below a stain's 12 levels at a stain's size
F32 = np.float32


@dataclass(frozen=True)
class PlantImage:
    """One encoded camera frame, its class and every choice that made it."""

    label: str
    encoded: bytes
    width: int
    height: int
    params: dict[str, Any]


def _f(x: float) -> float:
    return round(float(x), 5)


def _norm(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / max(float(a.std()), 1e-6)


def _coords(w: int, h: int, n: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x (row vector) and y (column vector), centred; on an n-point coarse grid when n > 0."""
    nx, ny = (n, max(4, round(n * h / w))) if n else (w, h)
    return np.linspace(-w / 2, w / 2, nx, dtype=F32)[None, :], np.linspace(-h / 2, h / 2, ny, dtype=F32)[:, None]


def _up(field: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.resize(field.astype(F32), (w, h), interpolation=cv2.INTER_CUBIC)


def _streaks(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, length: float, across: float) -> np.ndarray:
    """Fine streaks running along v: noise drawn in the finish's own (u, v) frame, coarse along v, then remapped."""
    k = max(1.0, length / 3.0)  # rows k px apart along a streak: a long streak costs a handful of samples
    u0, v0 = math.floor(float(u.min())) - 1, float(v.min()) - k
    nu, nv = int(float(u.max()) - u0) + 3, int((float(v.max()) - v0) / k) + 3
    t: np.ndarray = rng.standard_normal((nv, nu), dtype=F32) * np.exp(rng.normal(0, 0.4, nu)).astype(F32)
    t = cv2.GaussianBlur(t, (0, 0), sigmaX=max(0.3, across), sigmaY=0.8)
    mx, my = (u - u0).astype(F32), ((v - v0) / k).astype(F32)
    return _norm(cv2.remap(t, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))


def _cusps(rng: np.random.Generator, u: np.ndarray, pitch: float) -> tuple[np.ndarray, int]:
    """Periodic feed marks along u; a multi-insert cutter leaves every tooth's mark a little different."""
    teeth = int(rng.integers(1, 7))
    amp = rng.uniform(0.6, 1.0, teeth).astype(F32)
    phase = u / F32(pitch) + F32(rng.uniform(0, teeth))
    frac = phase - np.floor(phase)
    return _norm(amp[np.floor(phase).astype(np.int64) % teeth] * ((2 * frac - 1) ** 2 - F32(1 / 3))), teeth


def _finish(rng: np.random.Generator, w: int, h: int, finish: str, angle: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Surface texture in grey levels (zero mean) for one finish, and its parameters."""
    s, diag = w / 256, math.hypot(w, h)
    x, y = _coords(w, h)
    c, sn = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u, v = x * F32(c) + y * F32(sn), y * F32(c) - x * F32(sn)  # u across the lay, v along it
    p: dict[str, Any] = {}
    t: np.ndarray
    std = float(rng.uniform(3.0, 7.0))
    if finish in ("brushed", "ground"):
        long_ = finish == "brushed"
        p["streak_len_px"] = float(rng.uniform(*((0.15, 0.8) if long_ else (0.03, 0.12)))) * diag
        p["streak_width_px"] = float(rng.uniform(*((0.4, 0.9) if long_ else (0.3, 0.7)))) * s
        t = _streaks(rng, u, v, p["streak_len_px"], p["streak_width_px"])
        grain = rng.standard_normal((h, w), dtype=F32)
        t = t + F32(0.3) * grain if not long_ else t + F32(0.35) * _streaks(rng, u, v, 0.05 * diag, 0.4 * s)
    elif finish == "honed":
        p["cross_angle_deg"] = float(rng.uniform(20, 35))
        p["plateau"] = float(rng.uniform(0.3, 1.0))
        t = np.zeros((h, w), F32)
        for sign in (1, -1):
            a = math.radians(sign * p["cross_angle_deg"])
            ua, va = u * F32(math.cos(a)) + v * F32(math.sin(a)), v * F32(math.cos(a)) - u * F32(math.sin(a))
            t = t + _streaks(rng, ua, va, float(rng.uniform(0.1, 0.4)) * diag, 0.5 * s)
        t = np.minimum(t, F32(p["plateau"]))  # plateau honing knocks off the peaks, leaving the valleys
    elif finish in ("shot_peened", "sand_blasted"):
        peen = finish == "shot_peened"
        p["grain_px"] = float(rng.uniform(*((0.9, 2.0) if peen else (0.5, 1.0)))) * s
        t = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=F32), (0, 0), p["grain_px"])
        t = -np.abs(_norm(t)) if peen else _norm(t) + F32(0.5) * _up(rng.standard_normal((h // 3, w // 3)), w, h)
        std = float(rng.uniform(4.0, 8.0)) if peen else float(rng.uniform(5.0, 9.0))
    elif finish in ("face_milled", "turned"):
        diag_ = F32(diag)
        if finish == "face_milled":
            # cutter of radius R fed along u: a mark is where the trailing edge of the circle passed
            p["cutter_radius_px"] = radius = float(rng.uniform(0.8, 2.5)) * diag
            off = float(rng.uniform(-1, 1)) * max(0.0, 0.8 * radius - diag / 2)
            ua = u - np.sqrt(np.maximum(F32(radius**2) - (v + F32(off)) ** 2, 0))
            p["pitch_px"] = float(rng.uniform(0.015, 0.05)) * w
        else:
            # turned faces are concentric feed grooves around a spindle axis far outside the frame
            p["axis_distance_px"] = dist = float(rng.uniform(1.5, 5.0)) * diag
            ua = np.sqrt((u + F32(dist)) ** 2 + v**2) - diag_
            p["pitch_px"] = float(rng.uniform(0.006, 0.02)) * w
        cusp, p["teeth"] = _cusps(rng, ua, p["pitch_px"])
        t = cusp + F32(0.5) * _streaks(rng, ua, v, 0.1 * diag, 0.5 * s)
    else:  # polished: faint haze plus orange peel, a low-amplitude mid-frequency waviness of the lay
        p["peel_cell_px"] = float(rng.uniform(0.02, 0.05)) * w
        cells = max(3, round(w / p["peel_cell_px"]))
        peel = _up(rng.standard_normal((max(3, round(cells * h / w)), cells)), w, h)
        std = float(rng.uniform(1.0, 2.5))
        t = _norm(peel) * F32(rng.uniform(1.2, 2.0)) + F32(0.6) * _streaks(rng, u, v, 0.3 * diag, 0.5 * s)
    t = _norm(t) * F32(std)
    p["texture_std"] = std
    return TEXTURE_LIMIT * np.tanh(t / F32(TEXTURE_LIMIT)), p


def _low_freq(rng: np.random.Generator, w: int, h: int, angle: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Waviness along the lay and broad mottle, rendered on a coarse grid."""
    x, y = _coords(w, h, 32)
    u = x * F32(math.cos(math.radians(angle))) + y * F32(math.sin(math.radians(angle)))
    p = {"waviness": float(rng.uniform(0, LOW_FREQ_LIMIT)), "waviness_period_frac": float(rng.uniform(0.4, 1.5))}
    wav = p["waviness"] * np.sin(2 * math.pi * u / (p["waviness_period_frac"] * max(w, h)) + rng.uniform(0, 6.3))
    cells = int(rng.integers(4, 10))
    mottle = _up(rng.standard_normal((max(3, round(cells * h / w)), cells)), x.shape[1], y.shape[0])
    p["mottle"] = float(rng.uniform(0, LOW_FREQ_LIMIT))
    mottle *= F32(p["mottle"] / max(float(np.abs(mottle).max()), 1e-6))
    return _up(wav + mottle, w, h), p


def _lighting(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Multiplicative illumination within +-25%: a gradient plus a ring, dome, reflection band or nothing."""
    x, y = _coords(w, h, 32)
    half = math.hypot(w, h) / 2
    p: dict[str, Any] = {"gradient": str(rng.choice(["linear", "spot"])), "gradient_strength": rng.uniform(0, 0.25)}
    a = rng.uniform(0, 2 * math.pi)
    if p["gradient"] == "linear":
        g = x * F32(math.cos(a)) + y * F32(math.sin(a))
    else:  # a lamp off to one side: inverse-square-ish falloff
        d = rng.uniform(0.8, 2.5) * half
        g = 1 / (1 + ((x - F32(d * math.cos(a))) ** 2 + (y - F32(d * math.sin(a))) ** 2) / F32(d * d))
    g = g - g.mean()
    m = 1 + p["gradient_strength"] * g / max(float(np.abs(g).max()), 1e-6)
    p["extra"] = extra = str(rng.choice(["none", "ring", "dome", "reflection"], p=[0.3, 0.25, 0.25, 0.2]))
    r = np.sqrt(x**2 + y**2) / F32(half)
    if extra == "ring":  # a broad annulus, never a compact bright or dark patch of stain size
        p["ring_radius"], p["ring_amp"] = rng.uniform(0.3, 0.8), rng.uniform(0.02, 0.08)
        m = m * (1 + p["ring_amp"] * np.exp(-(((r - p["ring_radius"]) / rng.uniform(0.4, 0.7)) ** 2)))
    elif extra == "dome":
        p["vignette"] = rng.uniform(0.03, 0.15)
        m = m * (1 - p["vignette"] * r**2)
    elif extra == "reflection":  # a broad specular band from a window or lamp, always spanning the frame
        p["band_amp"], b = rng.uniform(0.03, 0.08), rng.uniform(0, math.pi)
        dist = (x * F32(math.cos(b)) + y * F32(math.sin(b)) - F32(rng.uniform(-0.5, 0.5) * half)) / F32(half)
        m = m * (1 + p["band_amp"] * np.exp(-((dist / rng.uniform(0.35, 0.6)) ** 2)))
    m = np.clip(m / m.mean(), 0.75, 1.25)
    return _up(m, w, h), {k: (_f(v) if isinstance(v, float) else v) for k, v in p.items()}


def _camera(rng: np.random.Generator, s: float) -> dict[str, Any]:
    """Optics, sensor and encoder settings of one camera."""
    p: dict[str, Any] = {"colour": bool(rng.random() < 0.4), "blur": str(rng.choice(["none", "gauss", "defocus"]))}
    p["bayer"] = p["colour"] and bool(rng.random() < 0.5)
    gains = rng.uniform(0.92, 1.08, 3)
    p["bgr_gains"] = [_f(g) for g in gains / float(gains @ [0.114, 0.587, 0.299])]  # grey level is preserved
    blur = rng.uniform(0.2, 0.7) * s if p["blur"] == "gauss" else rng.uniform(0.5, 1.2) * s
    p["blur_px"] = _f(blur) if p["blur"] != "none" else 0.0
    p["noise_max"] = sig = _f(rng.uniform(0.8, 6.0))
    read = sig * float(rng.uniform(0.2, 0.8))
    p["noise_read"], p["noise_shot_gain"] = _f(read), _f((sig**2 - read**2) / 255)
    jpeg = rng.random() < 0.8
    p["encoding"], p["quality"] = ("jpeg", int(rng.integers(70, 96))) if jpeg else ("png", int(rng.integers(1, 4)))
    return p


def _shoot(img: np.ndarray, cam: dict[str, Any], rng: np.random.Generator) -> bytes:
    """Blur, colour filter, sensor noise, quantisation and encoding of a scene radiance in grey levels."""
    if cam["blur"] == "gauss":
        img = cv2.GaussianBlur(img, (0, 0), cam["blur_px"])
    elif cam["blur"] == "defocus":
        r = cam["blur_px"]
        n = math.ceil(r) * 2 + 1
        disk = np.zeros((n * 4, n * 4), np.uint8)
        cv2.circle(disk, (n * 2, n * 2), round(r * 4), 255, -1, cv2.LINE_AA)
        k = cv2.resize(disk, (n, n), interpolation=cv2.INTER_AREA).astype(F32)
        img = cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)
    if cam["colour"]:
        img = img[:, :, None] * np.asarray(cam["bgr_gains"], F32)
        if cam["bayer"]:  # RGGB raw: each photosite sees one channel, the camera demosaics
            raw = np.empty(img.shape[:2], F32)
            raw[0::2, 0::2], raw[0::2, 1::2] = img[0::2, 0::2, 2], img[0::2, 1::2, 1]
            raw[1::2, 0::2], raw[1::2, 1::2] = img[1::2, 0::2, 1], img[1::2, 1::2, 0]
            img = raw
    sigma = np.sqrt(F32(cam["noise_read"] ** 2) + F32(cam["noise_shot_gain"]) * np.clip(img, 0, 255))
    out = np.clip(np.rint(img + sigma * rng.standard_normal(img.shape, dtype=F32)), 0, 255).astype(np.uint8)
    if cam["bayer"]:
        out = cv2.cvtColor(out, cv2.COLOR_BayerBG2BGR)  # OpenCV's "BG" code is the RGGB layout
    if cam["encoding"] == "jpeg":
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, cam["quality"]])
    else:
        ok, buf = cv2.imencode(".png", out, [cv2.IMWRITE_PNG_COMPRESSION, cam["quality"]])
    assert ok
    return buf.tobytes()


def render(scene_seed: int, label: str, width: int) -> PlantImage:
    """One frame; the same scene_seed gives the same part, light and camera for every label, only the defect differs."""
    if label not in CLASSES:
        raise ValueError(f"unknown class {label!r}")
    bg_ss, cam_ss, noise_ss = np.random.SeedSequence(scene_seed).spawn(3)
    rng = np.random.default_rng(bg_ss)
    w = int(width)
    h = max(128, 2 * round(w * float(rng.choice(ASPECTS)) / 2))
    finish = str(rng.choice(FINISHES))
    nominal = float(rng.choice([0.0, 90.0, 0.0, 90.0, float(rng.uniform(0, 180))]))
    rotation = float(rng.uniform(-4, 4))  # the fixture never seats the part perfectly square
    tex, fp = _finish(rng, w, h, finish, nominal + rotation)
    low, lowp = _low_freq(rng, w, h, nominal + rotation)
    light, lp = _lighting(rng, w, h)
    target = float(rng.uniform(86, 174))
    img = (F32(target) + tex + low) * light
    img *= F32(target / float(img.mean()))
    params: dict[str, Any] = {"scene_seed": int(scene_seed), "finish": finish, "exposure_mean": _f(target)}
    params |= {"lay_deg": _f(nominal), "part_rotation_deg": _f(rotation)}
    params |= {f"finish_{k}": (_f(v) if isinstance(v, float) else v) for k, v in fp.items()}
    params |= {k: _f(v) for k, v in lowp.items()} | {f"light_{k}": v for k, v in lp.items()}
    if label != "ok":
        drng = np.random.default_rng(np.random.SeedSequence([int(scene_seed), CLASSES.index(label)]))
        delta, x0, y0, dp = pd.DRAW[label](drng, w, h)
        dh, dw = delta.shape
        img[y0 : y0 + dh, x0 : x0 + dw] += delta
        dp["bbox"] = [x0, y0, x0 + dw, y0 + dh]
        params["defect"] = {k: (_f(v) if isinstance(v, float) else v) for k, v in dp.items()}
    cam = _camera(np.random.default_rng(cam_ss), w / pd.REFERENCE_WIDTH)
    encoded = _shoot(img, cam, np.random.default_rng(noise_ss))
    return PlantImage(label, encoded, w, h, params | {f"camera_{k}": v for k, v in cam.items()})


def scene_seed(seed: int, label: str, index: int) -> int:
    """The scene seed of the index-th image of a class in images(seed, ...)."""
    return int(np.random.SeedSequence([int(seed), CLASSES.index(label), int(index)]).generate_state(1, np.uint64)[0])


def images(seed: int, n_per_class: int, sizes: Sequence[int] = SIZES) -> list[PlantImage]:
    """n_per_class images of every class, cycling widths through `sizes`; deterministic per seed."""
    return [
        render(scene_seed(seed, label, i), label, sizes[i % len(sizes)])
        for i in range(n_per_class)
        for label in CLASSES
    ]
