"""The distinct-endpoint sketch: exact while sparse, within its stated error once dense, union-safe and idempotent."""

from __future__ import annotations

import random
import statistics

import pytest

from kizuna.domain.sketch import RELATIVE_STANDARD_ERROR, SPARSE_MAX, DistinctSketch, union


def test_sparse_sketch_counts_exactly_and_ignores_repeats():
    sketch = DistinctSketch.of(f"endpoint-{i % 300}" for i in range(900))
    assert sketch.is_exact
    assert sketch.estimate() == 300


def test_sketch_turns_dense_past_the_sparse_limit_and_never_grows_beyond_the_dense_size():
    sketch = DistinctSketch.of(f"e{i}" for i in range(SPARSE_MAX + 1))
    assert not sketch.is_exact
    assert len(sketch.to_bytes()) == len(DistinctSketch.of(f"x{i}" for i in range(50_000)).to_bytes()) == 3073


@pytest.mark.parametrize("true_count", [1_000, 20_000, 200_000])
def test_dense_estimates_stay_within_three_standard_errors(true_count):
    errors = []
    for trial in range(5):
        sketch = DistinctSketch.of(f"t{trial}-{i}" for i in range(true_count))
        errors.append(sketch.estimate() / true_count - 1)
    assert abs(statistics.mean(errors)) < 3 * RELATIVE_STANDARD_ERROR
    assert max(abs(e) for e in errors) < 4 * RELATIVE_STANDARD_ERROR


def test_union_of_sparse_sketches_is_exact_even_beyond_the_sparse_limit():
    days = [DistinctSketch.of(f"d{d}-{i}" for i in range(300)) for d in range(5)]
    overlap = DistinctSketch.of(f"d0-{i}" for i in range(100))
    assert union([*days, overlap]).estimate() == 1500
    assert union([*days, overlap]).is_exact


def test_merge_is_commutative_and_idempotent():
    rng = random.Random(5)
    a = DistinctSketch.of(f"a{rng.random()}" for _ in range(2_000))
    b = DistinctSketch.of(f"b{rng.random()}" for _ in range(300))
    ab, ba = DistinctSketch.from_bytes(a.to_bytes()), DistinctSketch.from_bytes(b.to_bytes())
    ab.merge(b)
    ba.merge(a)
    assert ab == ba
    again = DistinctSketch.from_bytes(ab.to_bytes())
    again.merge(b)
    again.merge(a)
    assert again == ab


def test_round_trip_through_bytes_keeps_the_estimate():
    for sketch in (DistinctSketch(), DistinctSketch.of(["one"]), DistinctSketch.of(str(i) for i in range(5_000))):
        assert DistinctSketch.from_bytes(sketch.to_bytes()).estimate() == sketch.estimate()


def test_garbage_bytes_are_refused():
    with pytest.raises(ValueError):
        DistinctSketch.from_bytes(b"\x02short")
