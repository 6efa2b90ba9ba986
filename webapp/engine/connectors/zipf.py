"""Zipf-distributed whole numbers in [1, n] with exponent s, by rejection-inversion.

The same method as the Rust ``rand_distr::Zipf`` Feldera's datagen uses (Hörmann and Derflinger,
"Rejection-inversion to generate variates from monotone discrete distributions", 1996): constant
time per sample whatever ``n`` is, so a strategy over BIGINT's whole range costs no more than one
over ten values.
"""

from __future__ import annotations

import math
from functools import lru_cache


@lru_cache(maxsize=256)
def _params(n: int, s: float) -> tuple[float, float]:
    nf = float(n)
    if s != 1.0:
        q = 1.0 / (1.0 - s)
        t = (nf ** (1.0 - s) - s) * q
    else:
        q = 0.0
        t = 1.0 + math.log(nf)
    return t, q


def zipf_sample(rng, n: int, s: float) -> int:
    """One draw from Zipf(n, s) using ``rng`` (a ``random.Random``); ``n`` >= 1, ``s`` >= 0."""
    if n <= 1:
        return 1
    t, q = _params(n, s)
    while True:
        pt = rng.random() * t
        if pt <= 1.0:
            inv_b = pt
        elif s != 1.0:
            inv_b = (pt * (1.0 - s) + s) ** q
        else:
            inv_b = math.exp(pt - 1.0)
        x = math.floor(inv_b + 1.0)
        ratio = x ** -s
        if x > 1.0:
            ratio *= inv_b ** s
        if rng.random() < ratio:
            return int(min(x, n))


__all__ = ["zipf_sample"]
