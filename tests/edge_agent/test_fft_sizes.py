"""Given window lengths, when rounded to FFT sizes, then the sizes are 7-smooth and as close as promised."""

from __future__ import annotations

import pytest

from edge_agent.fft_sizes import smooth_ceil, smooth_floor


def _largest_prime_factor(n: int) -> int:
    factor, largest = 2, 1
    while factor * factor <= n:
        while n % factor == 0:
            largest, n = factor, n // factor
        factor += 1
    return max(largest, n) if n > 1 else largest


@pytest.mark.parametrize("n", [6502, 3251, 12800, 104000, 99991, 17, 1])
def test_given_a_length_when_rounded_then_both_neighbours_are_7_smooth_and_within_4_percent(n: int) -> None:
    up, down = smooth_ceil(n), smooth_floor(n)

    assert down <= n <= up
    assert _largest_prime_factor(up) <= 7 and _largest_prime_factor(down) <= 7
    assert up <= n * 1.04 + 1 and down >= n * 0.96 - 1


def test_given_a_smooth_length_when_rounded_then_it_is_kept() -> None:
    assert smooth_ceil(12800) == smooth_floor(12800) == 12800
