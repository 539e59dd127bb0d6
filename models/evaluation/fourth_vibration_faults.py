"""Per-state signal components of the fourth clean-room vibration evaluation generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAINED_STATES: tuple[str, ...] = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
UNTRAINED_STATES: tuple[str, ...] = ("looseness", "gear_wear", "electrical", "cavitation", "lubrication")
G_MM_S2 = 9806.65  # one g in mm/s², to turn a velocity line (mm/s) into an acceleration line (g)
TWO_PI = 2.0 * np.pi
Part = tuple[np.ndarray, dict[str, float]]

# What params["severity"] means physically, state by state (0 = earliest an analyst would call it, 1 = late).
SEVERITY_SCALE: dict[str, str] = {
    "healthy": "always 0.0",
    "outer_race": "0: a spall ~2% of a ball long, its BPFO line 4-8x the squared-envelope floor of a 0.5 s record"
    " (envelope analysis only); 1: a quarter-ball spall, impacts 20-50x the band rms, double impacts, raised floor",
    "inner_race": "as outer_race, measured at the bottom of the load zone; impacts at BPFI, modulated at 1x",
    "ball": "as outer_race; impacts at 2xBSF, dropping out as the spin axis wanders, modulated at FTF",
    "imbalance": "1x = 2 * 6**severity times the machine's own residual 1x (0: doubled, 1: twelvefold, ISO zone D)",
    "misalignment": "0: 2x velocity about equal to 1x (textbook alarm); 1: 2x about 4x the 1x, with 3x/4x; on an axial"
    " sensor, a 1x five times the residual",
    "looseness": "0: 1x harmonics to ~5x at 20% of 1x; 1: harmonics past 10x, half orders, rattling once per rev",
    "gear_wear": "0: a clean mesh tone about the noise level; 1: mesh tone 3x stronger, 1x/2x sidebands, harmonics",
    "electrical": "0: twice-line-frequency about half the 1x; 1: it is ~3x the 1x, with rotor-bar pass +-2FL sidebands",
    "cavitation": "0: random flow bursts about the background rms; 1: bursts 5x it, erratic vane pass",
    "lubrication": "0: smooth high-frequency carpet 1.5x the resonance-band rms; 1: 6.5x it, no periodicity",
}


@dataclass(frozen=True)
class Rotor:
    """What a fault component needs about one window of one machine (all at the analogue, oversampled rate)."""

    t: np.ndarray  # s
    theta: np.ndarray  # rad, shaft angle including speed ripple
    fr: float  # Hz, true mean shaft frequency
    fs: float  # Hz, analogue simulation rate
    fmax: float  # Hz, DAQ passband edge
    balls: int
    ball_mm: float
    pitch_mm: float
    angle_deg: float
    res_hz: float  # bearing/housing resonance rung by impacts
    res_zeta: float
    res2_hz: float  # a second structural mode the impacts also reach
    res2_zeta: float
    band_g: float  # background rms in the resonance band, referred to the bearing housing
    noise_g: float  # broadband machine background rms up to fmax
    h: tuple[complex, complex, complex]  # the machine's own 1x/2x/3x lines at this speed (g, complex)
    line_hz: float
    axial: bool  # sensor measures the axial direction
    vanes: int
    teeth: int
    bars: int


def kinematic_orders(balls: int, ball_mm: float, pitch_mm: float, angle_deg: float) -> dict[str, float]:
    """Standard rolling-element defect frequencies as multiples of shaft speed (no slip)."""
    r = ball_mm / pitch_mm * np.cos(np.radians(angle_deg))
    return {
        "ftf": 0.5 * (1 - r),
        "bpfo": 0.5 * balls * (1 - r),
        "bpfi": 0.5 * balls * (1 + r),
        "bsf": pitch_mm / (2 * ball_mm) * (1 - r * r),
    }


def resonance_gain(f: np.ndarray, hz: float, zeta: float) -> np.ndarray:
    """Magnitude of a single-degree-of-freedom resonance, scaled to 1 at its peak."""
    r = f / hz
    return 2 * zeta / np.sqrt((1 - r * r) ** 2 + (2 * zeta * r) ** 2)


def shaped_noise(rng: np.random.Generator, r: Rotor, gain: np.ndarray, rms: float) -> np.ndarray:
    """Gaussian noise with the given spectral magnitude (on rfftfreq of the window), scaled to rms."""
    spec = gain * (rng.standard_normal(gain.size) + 1j * rng.standard_normal(gain.size))
    x = np.fft.irfft(spec, r.t.size)
    return x * (rms / max(float(x.std()), 1e-15))


def imbalance_severity(factor: float) -> float:
    """Severity of an imbalance whose 1x is `factor` times the machine's residual 1x."""
    return float(np.clip(np.log(factor / 2.0) / np.log(6.0), 0.0, 1.0))


def _freqs(r: Rotor) -> np.ndarray:
    return np.fft.rfftfreq(r.t.size, 1.0 / r.fs)


def _ring(r: Rotor, times: np.ndarray, amps: np.ndarray, hz: float, zeta: float) -> np.ndarray:
    """Sum of damped ring-downs of one resonance, each started by an impact at an exact (sub-sample) time."""
    tau = 1.0 / (zeta * TWO_PI * hz)
    length = int(min(8 * tau, 0.05) * r.fs) + 1
    idx = np.ceil(times * r.fs).astype(np.int64)[:, None] + np.arange(length)[None, :]
    dt = idx / r.fs - times[:, None]
    w = amps[:, None] * np.exp(-dt / tau) * np.sin(TWO_PI * hz * np.sqrt(1 - zeta * zeta) * dt)
    ok = (idx >= 0) & (idx < r.t.size)
    return np.bincount(idx[ok], weights=w[ok], minlength=r.t.size)[: r.t.size]


def _angle_at(r: Rotor, times: np.ndarray) -> np.ndarray:
    """Shaft angle at arbitrary times, extrapolated at the mean speed outside the window."""
    inside = np.interp(times, r.t, r.theta)
    before, after = times < r.t[0], times > r.t[-1]
    inside[before] = r.theta[0] - TWO_PI * r.fr * (r.t[0] - times[before])
    inside[after] = r.theta[-1] + TWO_PI * r.fr * (times[after] - r.t[-1])
    return inside


def _events(r: Rotor, order: float, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Times at which `order` events per shaft turn happen, following the real shaft angle, with random jitter."""
    per = 1.0 / (order * r.fr)
    cyc = order * r.theta / TWO_PI
    k = np.arange(np.floor(cyc[0]) - 1, np.ceil(cyc[-1]) + 1)
    times = np.interp(k, cyc, r.t)
    times[k < cyc[0]] = r.t[0] - (cyc[0] - k[k < cyc[0]]) * per
    times[k > cyc[-1]] = r.t[-1] + (k[k > cyc[-1]] - cyc[-1]) * per
    return times + rng.normal(0.0, jitter * per, times.size)


def _load_zone(angle: np.ndarray, eps: float, floor: float) -> np.ndarray:
    """Stribeck load distribution round the bearing (1 at the load line), never below a preload floor."""
    q = np.clip(1 - (1 - np.cos(angle)) / (2 * eps), 0.0, 1.0) ** 1.5
    return floor + (1 - floor) * q


def _line(r: Rotor, amp: complex, order: float) -> np.ndarray:
    """A shaft-locked sinusoid with complex amplitude `amp` (g) at `order` x shaft speed."""
    return np.real(amp * np.exp(1j * order * r.theta))


def _bearing(state: str, r: Rotor, sev: float, fixed: np.random.Generator, rng: np.random.Generator) -> Part:
    """Rolling-element defect impacts ringing the housing resonances, timed by the real shaft and cage angles."""
    o = kinematic_orders(r.balls, r.ball_mm, r.pitch_mm, r.angle_deg)
    slip = rng.uniform(0.005, 0.02)  # rolling elements lag their kinematic speed by 0.5-2 %, varying with load
    cage = o["ftf"] * (1 - slip)
    eps, floor, psi0 = fixed.uniform(0.3, 0.5), fixed.uniform(0.05, 0.25), fixed.uniform(0, TWO_PI)
    # severity 0 is defined by what an analyst sees: a BPFO/BPFI/2xBSF line 4-8x the envelope-spectrum floor of a
    # 0.5 s record (squared-envelope line ~ A² rate tau against floor ~ band rms² / sqrt(T B)); load-zone modulation
    # and ball dropouts spread the line, so those faults need stronger impacts for the same line
    tau, width = 1.0 / (r.res_zeta * TWO_PI * r.res_hz), 0.4 * r.res_hz
    rate = r.fr * {"outer_race": r.balls * cage, "inner_race": r.balls * (1 - cage)}.get(state, 2 * o["bsf"])
    early = {"outer_race": 1.6, "inner_race": 2.8}.get(state, 3.9) * r.band_g
    early *= np.sqrt(fixed.uniform(4.0, 8.0) * 2.0 / (rate * tau) / np.sqrt(0.5 * width / 3.0))
    late = max(r.band_g * fixed.uniform(20.0, 50.0), 3.0 * early)  # late: impacts plain in the time waveform
    peak = early * (late / early) ** sev
    jitter, second, entry = fixed.uniform(0.003, 0.01), fixed.uniform(0.15, 0.5), fixed.uniform(0.2, 0.4)
    spall_mm = r.ball_mm * 0.02 * 12.5**sev  # spall length along the track grows to a quarter of a ball
    if state == "outer_race":
        order = r.balls * cage
        times = _events(r, order, rng, jitter)
        # a stationary spall sits where the load is; only the impact strength scatters a little
        amps = _load_zone(np.array([fixed.normal(0, 0.5)]), eps, floor) * rng.lognormal(0, 0.12, times.size)
        speed = np.pi * (r.pitch_mm + r.ball_mm) * cage * r.fr
    elif state == "inner_race":
        order = r.balls * (1 - cage)
        times = _events(r, order, rng, jitter)
        # the spall turns with the shaft through the load zone: amplitude modulated at 1x
        amps = _load_zone(_angle_at(r, times) + psi0, eps, floor) * rng.lognormal(0, 0.2, times.size)
        speed = np.pi * (r.pitch_mm - r.ball_mm) * (1 - cage) * r.fr
    else:
        order = 2 * o["bsf"] * (1 - slip)
        times = _events(r, order, rng, jitter)
        # the faulty ball orbits with the cage (FTF modulation), strikes outer then inner race, and its spin axis
        # wanders so that some turns miss the spall altogether
        amps = _load_zone(cage * _angle_at(r, times) + psi0, eps, floor) * rng.lognormal(0, 0.25, times.size)
        amps[1::2] *= fixed.uniform(0.4, 0.8)
        amps *= rng.random(times.size) < fixed.uniform(0.75, 0.95)
        speed = np.pi * r.ball_mm * o["bsf"] * (1 - slip) * r.fr
    amps = amps * peak
    sig = _ring(r, times, amps, r.res_hz, r.res_zeta) + _ring(r, times, second * amps, r.res2_hz, r.res2_zeta)
    # the ball drops into the spall before it strikes the far edge: an entry event a spall-width earlier
    sig += _ring(r, times - spall_mm / speed, entry * amps, r.res_hz, r.res_zeta)
    # a worn track rolls roughly: the resonance band's random floor rises late in life, and clearance lifts 1x
    f = _freqs(r)
    sig += shaped_noise(rng, r, resonance_gain(f, r.res_hz, 2 * r.res_zeta), 1.5 * sev**2 * r.band_g)
    sig += _line(r, 0.4 * sev**2 * abs(r.h[0]) * np.exp(1j * psi0), 1.0)
    return sig, {"fault_hz": float(order * r.fr), "slip": float(slip), "spall_mm": float(spall_mm)}


def _imbalance(r: Rotor, factor: float, fixed: np.random.Generator) -> Part:
    """A heavier 1x: `factor` times the machine's own residual 1x."""
    # the added unbalance mass adds vectorially, so the 1x phase moves as well as its size
    target = factor * abs(r.h[0]) * np.exp(1j * (np.angle(r.h[0]) + fixed.uniform(-1.2, 1.2)))
    return _line(r, target - r.h[0], 1.0), {"imbalance_factor": float(factor)}


def _misalignment(r: Rotor, sev: float, fixed: np.random.Generator) -> Part:
    """Coupling misalignment: a strong 2x (and 3x/4x), and a strong 1x on an axial sensor."""
    h1, h2, h3 = r.h
    ratio = fixed.uniform(0.9, 1.2) * 4.0**sev  # 2x velocity over the (misaligned) 1x velocity a radial sensor sees
    lift1 = (2.0 + 3.0 * sev) * fixed.uniform(0.8, 1.2) if r.axial else fixed.uniform(1.1, 1.6)
    # an axial sensor sees the bending 1x of angular misalignment; the 2x then scales with the radial 1x
    a2 = 2 * ratio * abs(h1) * (0.7 if r.axial else lift1)  # acceleration doubles the 2x relative to velocity
    phase = fixed.uniform(0, TWO_PI, 4)
    sig = _line(r, (lift1 - 1) * h1, 1.0) + _line(r, a2 * np.exp(1j * phase[0]) - h2, 2.0)
    sig += _line(r, 1.5 * a2 * fixed.uniform(0.2, 0.4) * (1 + sev) * np.exp(1j * phase[1]) - h3, 3.0)
    sig += _line(r, 2.0 * a2 * 0.2 * sev * np.exp(1j * phase[2]), 4.0)
    return sig, {"ratio_2x": float(ratio)}


def _looseness(r: Rotor, sev: float, fixed: np.random.Generator, rng: np.random.Generator) -> Part:
    """Mechanical looseness: a long 1x harmonic series, half orders and a rattle once per turn."""
    v1 = abs(r.h[0])
    level, decay = (0.2 + 0.6 * sev) * fixed.uniform(0.7, 1.3), 3.0 + 8.0 * sev
    sig = _line(r, (0.2 + sev) * r.h[0], 1.0)
    for k in range(2, 13):  # a truncated, clattering response: many 1x harmonics of comparable velocity
        amp = k * v1 * level * np.exp(-(k - 2) / decay) * fixed.uniform(0.5, 1.5)
        sig += _line(r, amp * np.exp(1j * fixed.uniform(0, TWO_PI)), float(k))
    for half in (0.5, 1.5, 2.5, 3.5):  # loose parts respond every other turn
        sig += _line(r, half * v1 * 0.6 * sev * fixed.uniform(0.3, 1.0) * np.exp(1j * fixed.uniform(0, TWO_PI)), half)
    times = _events(r, 1.0, rng, 0.02)
    amps = r.band_g * (1 + 6 * sev) * rng.lognormal(0, 0.5, times.size)
    return sig + _ring(r, times, amps, r.res2_hz, r.res2_zeta), {}


def _gear(r: Rotor, sev: float, fixed: np.random.Generator) -> Part:
    """A worn or eccentric gear on the shaft: mesh tone, its harmonics and shaft-rate sidebands."""
    teeth = min(r.teeth, int(0.7 * r.fmax / r.fr))
    base = r.noise_g * fixed.uniform(0.6, 1.5) * (1 + 2 * sev)
    sig = np.zeros_like(r.t)
    for h, rel in enumerate((1.0, 0.3 + 0.5 * sev, 0.1 + 0.4 * sev), start=1):
        if h * teeth * r.fr > r.fmax:
            break
        for side, srel in ((0, 1.0), (1, 0.1 + 0.5 * sev), (-1, 0.1 + 0.5 * sev), (2, 0.3 * sev), (-2, 0.3 * sev)):
            amp = base * rel * srel * fixed.uniform(0.7, 1.3) * np.exp(1j * fixed.uniform(0, TWO_PI))
            sig += _line(r, amp, float(h * teeth + side))
    return sig, {"fault_hz": float(teeth * r.fr)}


def _electrical(r: Rotor, sev: float, fixed: np.random.Generator) -> Part:
    """Air-gap eccentricity / rotor bars: strong 2x line frequency and rotor-bar pass with 2FL sidebands."""
    # magnetic pull at twice line frequency follows the supply, not the shaft
    a2fl = max(abs(r.h[0]), 0.5 * r.noise_g) * (0.5 + 2.5 * sev) * fixed.uniform(0.8, 1.2)
    sig = a2fl * np.cos(TWO_PI * 2 * r.line_hz * r.t + fixed.uniform(0, TWO_PI))
    sig += 0.2 * a2fl * np.cos(TWO_PI * 4 * r.line_hz * r.t + fixed.uniform(0, TWO_PI))
    order = float(r.bars)  # rotor-bar pass, folded down by octaves until its sidebands fit in the passband
    while (order * r.fr + 2 * r.line_hz > r.fmax) and order > 2:
        order /= 2.0
    for side, rel in ((0.0, 1.0), (2.0, 0.6), (-2.0, 0.6)):
        ph = order * r.theta + side * TWO_PI * r.line_hz * r.t + fixed.uniform(0, TWO_PI)
        sig += r.noise_g * (0.2 + 0.8 * sev) * rel * np.cos(ph)
    return sig, {"fault_hz": float(2 * r.line_hz)}


def _cavitation(r: Rotor, sev: float, fixed: np.random.Generator, rng: np.random.Generator) -> Part:
    """Pump cavitation: random broadband bursts and an unsteady vane-pass tone."""
    f = _freqs(r)
    gain = np.exp(-0.5 * (np.log(np.maximum(f, 1.0) / fixed.uniform(1500, 0.8 * r.fmax)) / 0.6) ** 2)
    # bubbles collapse at random instants, not at any shaft order: Poisson bursts, each a short decaying roar
    hits = np.zeros_like(r.t)
    idx = rng.integers(0, r.t.size, rng.poisson(fixed.uniform(150, 600) * r.t[-1]))
    np.add.at(hits, idx, rng.lognormal(0, 0.5, idx.size))
    kernel = np.exp(-r.t / fixed.uniform(1e-3, 4e-3))
    bursts = np.maximum(np.fft.irfft(np.fft.rfft(hits) * np.fft.rfft(kernel), r.t.size), 0.0)
    sig = shaped_noise(rng, r, gain, 1.0) * np.sqrt(bursts / max(float(bursts.mean()), 1e-12) + 0.5)
    sig *= r.noise_g * (1 + 4 * sev) / max(float(sig.std()), 1e-15)
    vanes = r.vanes or 6
    wobble = 1 + 0.5 * sev * shaped_noise(rng, r, (f < 5.0).astype(float), 1.0)
    sig += wobble * _line(r, 0.5 * r.noise_g * (1 + 2 * sev) * np.exp(1j * fixed.uniform(0, TWO_PI)), float(vanes))
    return sig, {}


def _lubrication(r: Rotor, sev: float, fixed: np.random.Generator, rng: np.random.Generator) -> Part:
    """Lubricant starvation: a smooth, aperiodic high-frequency floor that lifts the resonance band."""
    f = _freqs(r)
    corner = fixed.uniform(1000, 0.35 * r.fmax)
    gain = (1 / np.sqrt(1 + (corner / np.maximum(f, 1.0)) ** 4)) * (1 + resonance_gain(f, r.res_hz, 3 * r.res_zeta))
    return shaped_noise(rng, r, gain, r.band_g * (1.5 + 5 * sev)), {}


def synthesize(
    state: str, r: Rotor, sev: float, factor: float, fixed: np.random.Generator, rng: np.random.Generator
) -> Part:
    """Additive signal of `state` at severity `sev`; `fixed` repeats per machine and state, `rng` is per window."""
    if state == "healthy":
        return np.zeros_like(r.t), {}
    if state in ("outer_race", "inner_race", "ball"):
        return _bearing(state, r, sev, fixed, rng)
    if state == "imbalance":
        return _imbalance(r, factor, fixed)
    if state == "misalignment":
        return _misalignment(r, sev, fixed)
    if state == "looseness":
        return _looseness(r, sev, fixed, rng)
    if state == "gear_wear":
        return _gear(r, sev, fixed)
    if state == "electrical":
        return _electrical(r, sev, fixed)
    if state == "cavitation":
        return _cavitation(r, sev, fixed, rng)
    if state == "lubrication":
        return _lubrication(r, sev, fixed, rng)
    raise ValueError(f"unknown state {state!r}")
