"""``KeyRanges`` against a plain set of the keys added: ``meets`` answers as the set would, ranges stay
sorted and apart, and past ``MAX_RANGES`` they merge into one that still covers every key."""

from __future__ import annotations

import random

from webapp.engine.keyranges import MAX_RANGES, KeyRanges


def _covered(kr: KeyRanges) -> set[int]:
    return {k for lo, hi in zip(kr.los, kr.his) for k in range(lo, hi + 1)}


def test_ranges_answer_as_the_set_of_their_keys():
    rng = random.Random(19)
    for _ in range(2000):
        kr, keys = KeyRanges(), set()
        for _ in range(rng.randint(1, 30)):
            qa = rng.randint(-5, 220)
            qb = qa + rng.randint(0, 10)
            assert kr.meets(qa, qb) == any(qa <= k <= qb for k in keys)
            a = rng.randint(0, 200)
            b = a + rng.randint(0, 10)
            kr.add(a, b)
            keys |= set(range(a, b + 1))
            assert all(lo <= hi for lo, hi in zip(kr.los, kr.his))
            assert all(kr.his[i] + 1 < kr.los[i + 1] for i in range(len(kr.los) - 1))  # apart, not touching
            assert _covered(kr) == keys


def test_a_table_span_and_the_merge_past_the_limit():
    assert not KeyRanges().meets(-10**18, 10**18)  # an empty table
    kr = KeyRanges(5, 9)
    assert kr.meets(9, 12) and not kr.meets(10, 12)
    for i in range(MAX_RANGES):  # with [5, 9], one range more than MAX_RANGES at the last
        kr.add(100 + 3 * i, 100 + 3 * i)
    assert (kr.los, kr.his) == ([5], [100 + 3 * (MAX_RANGES - 1)])  # one cover of everything
    assert kr.meets(50, 50)  # a gap now counts as covered: a delete then looks, which is only slower
