"""FFT lengths pocketfft transforms fast: 7-smooth sizes (a prime length falls back to Bluestein, 10-30x slower)."""

from __future__ import annotations

import math

import numpy as np


def _smooth_numbers(limit: int) -> np.ndarray:
    """All 2^a 3^b 5^c 7^d <= limit, sorted."""
    values = [1]
    for prime in (2, 3, 5, 7):
        values = [v * prime**k for v in values for k in range(int(math.log(limit, prime)) + 1) if v * prime**k <= limit]
    return np.array(sorted(set(values)), dtype=np.int64)


_SMOOTH = _smooth_numbers(1 << 22)


def smooth_floor(n: int) -> int:
    """Largest 7-smooth size <= n: a window trimmed to it loses < 4% of its samples."""
    return int(_SMOOTH[np.searchsorted(_SMOOTH, n, side="right") - 1])


def smooth_ceil(n: int) -> int:
    """Smallest 7-smooth size >= n: zero-padding to it costs < 4% more length."""
    return int(_SMOOTH[np.searchsorted(_SMOOTH, n, side="left")])
