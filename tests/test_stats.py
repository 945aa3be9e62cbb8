"""Tests for tfdis.metrics.stats against values computed by hand."""
import math

import numpy as np
import pytest

from tfdis.metrics import stats


def test_wilson_interval_hand_computed():
  # k / n = 4 / 6, z = 1.959964: centre (p + z²/2n) / (1 + z²/n) = 0.6016, half width 0.3016.
  np.testing.assert_allclose(stats.wilson_interval(4, 6), [0.3000, 0.9032], atol=1e-4)
  # k = n: the lower end is n / (n + z²) = 10 / 13.8415, the upper end 1.
  np.testing.assert_allclose(stats.wilson_interval(10, 10), [10 / (10 + 1.959964 ** 2), 1.0],
                             atol=1e-9)
  np.testing.assert_allclose(stats.wilson_interval(0, 10), [0.0, 1 - 10 / (10 + 1.959964 ** 2)],
                             atol=1e-9)
  assert np.all(np.isnan(stats.wilson_interval(0, 0)))
  # Arrays broadcast to [..., 2].
  assert stats.wilson_interval([1, 2, 3], 6).shape == (3, 2)


def test_normal_interval_over_examples():
  mean, (low, high) = stats.normal_interval([1.0, 2.0, 3.0])  # sd 1
  assert mean == 2.0 and high - mean == pytest.approx(1.959964 / math.sqrt(3))
  assert mean - low == pytest.approx(high - mean)
  assert np.isnan(stats.normal_interval([4.0])[1][0])


def test_t_interval_over_seeds():
  mean, (low, high) = stats.t_interval([0.7] * 4)
  assert (mean, low, high) == pytest.approx((0.7, 0.7, 0.7))
  # mean 2, sample sd 1, n = 3: half width t_{0.975, 2} / sqrt(3) = 4.303 / 1.7321.
  mean, (low, high) = stats.t_interval([1.0, 2.0, 3.0])
  assert mean == 2.0 and high - mean == pytest.approx(4.303 / np.sqrt(3))
  assert np.isnan(stats.t_interval([1.0])[1][0])
  # Beyond the table (more than 31 seeds) the normal quantile is used.
  values = np.arange(40.0)
  _, (_, high) = stats.t_interval(values)
  assert high - values.mean() == pytest.approx(1.959964 * values.std(ddof=1) / np.sqrt(40))


def test_sign_flip_p_values_and_floors():
  # All five differences positive: only the observed pattern reaches its mean, p = 1 / 2^5.
  assert stats.sign_flip_test([1.0, 2.0, 3.0, 4.0, 5.0]) == (1 / 32, 1 / 32)
  # Two-sided: the mirrored pattern ties, p = 2 / 2^5, which is also the floor.
  assert stats.sign_flip_test([1.0, 2.0, 3.0, 4.0, 5.0], "two-sided") == (2 / 32, 2 / 32)
  assert stats.sign_flip_test([-1.0, -2.0, -3.0, -4.0, -5.0]) == (1.0, 1 / 32)
  # Sums of (±1, ±2, ±3): 6, 0, 2, -4, 4, -2, 0, -6; five are >= the observed 0.
  assert stats.sign_flip_test([1.0, 2.0, -3.0]) == (5 / 8, 1 / 8)
  # Three seeds can never give p below 1 / 8, however large the differences.
  assert stats.sign_flip_test([100.0, 200.0, 300.0]).p_value == 1 / 8
  # All-zero differences: every pattern ties, p = 1.
  assert stats.sign_flip_test([0.0, 0.0, 0.0]).p_value == 1.0
  with pytest.raises(ValueError, match="alternative"):
    stats.sign_flip_test([1.0, 2.0], "less")


def test_p_values_print_with_three_significant_digits_down_to_the_20_seed_floor():
  floor = stats.sign_test([1.0] * 20).floor  # two-sided, 2 / 2^20
  assert stats.format_p(floor) == "1.91e-06"  # fixed decimals would print 0.000
  assert [stats.format_p(p) for p in (12 / 32, 2 / 32, 1 / 256, 1.0, None)] == [
      "0.375", "0.0625", "0.00391", "1", "n/a"]


def test_sign_flip_beyond_the_exact_limit_is_seeded_and_near_its_floor():
  first = stats.sign_flip_test(np.arange(1.0, 19.0), max_exact=16, num_random=4096, seed=3)
  again = stats.sign_flip_test(np.arange(1.0, 19.0), max_exact=16, num_random=4096, seed=3)
  assert first == again
  assert first.floor == 1 / 4096
  assert first.floor <= first.p_value < 1e-2  # the exact value is 2^-18


def test_bootstrap_resamples_items_with_a_seeded_generator():
  values = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
  means = stats.bootstrap_resamples(lambda idx: values[idx].mean(axis=1), num_items=5,
                                    num_resamples=6, seed=2, chunk=6)
  expected = values[np.random.default_rng(2).integers(0, 5, size=(6, 5))].mean(axis=1)
  np.testing.assert_array_equal(means, expected)
  chunked = stats.bootstrap_resamples(lambda idx: values[idx].mean(axis=1), 5, 7, seed=2,
                                      chunk=3)
  assert chunked.shape == (7,)


def test_percentile_interval_of_known_samples():
  samples = np.arange(101.0)  # percentiles are the values themselves
  np.testing.assert_allclose(stats.percentile_interval(samples), [2.5, 97.5])
  np.testing.assert_allclose(stats.percentile_interval(samples, confidence=0.5), [25.0, 75.0])
  two = np.stack([samples, np.full(101, np.nan)], axis=1)  # [R, K]: a nan column stays nan
  with pytest.warns(RuntimeWarning):
    interval = stats.percentile_interval(two)
  assert interval.shape == (2, 2)
  np.testing.assert_allclose(interval[0], [2.5, 97.5])
  assert np.all(np.isnan(interval[1]))


def test_welch_interval_by_hand():
  a, b = [1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 1.0]
  # var/n: 1/3 and (1/3)/4 = 1/12; df = (5/12)^2 / ((1/3)^2/2 + (1/12)^2/3) = 3 exactly: t 3.182
  difference, (low, high) = stats.welch_interval(a, b)
  assert difference == pytest.approx(1.5)
  half = 3.182 * np.sqrt(1 / 3 + 1 / 12)
  assert (low, high) == pytest.approx((1.5 - half, 1.5 + half))
  assert np.isnan(stats.welch_interval([1.0], b)[1][0])
  assert stats.welch_interval([2.0, 2.0], [1.0, 1.0]) == (1.0, (1.0, 1.0))


def test_holm_against_hand_computed_values():
  # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 4 * 0.01 = 0.04, 3 * 0.02 = 0.06, 2 * 0.03 = 0.06,
  # 1 * 0.5 = 0.5; returned in the input's order.
  adjusted = stats.holm([0.03, 0.5, 0.01, 0.02])
  np.testing.assert_allclose(adjusted, [0.06, 0.5, 0.04, 0.06])
  # Monotone step-down: a later raw p smaller after scaling still takes the running maximum.
  np.testing.assert_allclose(stats.holm([0.01, 0.011]), [0.02, 0.02])
  # Capped at 1, None left out of m.
  assert stats.holm([0.6, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]


def test_jonckheere_statistic_by_hand():
  # Pairs (g < h): [1, 2] vs [3]: 2; [1, 2] vs [2, 5]: 1 + 0.5 + 2 = 3.5; [3] vs [2, 5]: 1.
  assert stats.jonckheere_statistic([[1, 2], [3], [2, 5]]) == 6.5


def test_trend_test_yes_for_a_monotone_series_no_for_a_flat_one():
  rng = np.random.default_rng(3)
  rising = [rng.normal(0.1 * layer, 0.02, size=5) for layer in range(4)]
  p = stats.trend_test(rising, num_random=2000)
  assert p.p_value < 0.01 and p.floor == pytest.approx(1 / 2001)
  assert stats.trend_test(rising, alternative="decreasing", num_random=2000).p_value > 0.99
  flat = [rng.normal(0.0, 0.02, size=5) for _ in range(4)]
  assert stats.trend_test(flat, num_random=2000).p_value > 0.05
