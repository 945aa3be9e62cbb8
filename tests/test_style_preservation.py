"""Tests for tfdis.metrics.style_preservation: Spearman by hand, SP of good and bad decoders."""
import numpy as np
import pytest
import tensorflow as tf

from tests.test_morphometrics import draw_parallelogram
from tfdis.metrics import morphometrics
from tfdis.metrics import style_preservation as sp
from tfdis.model import transforms

L, M, D = 5, 48, 16  # Labels, z-samples, latent size.


def test_rank_average_ties():
  np.testing.assert_array_equal(sp.rank_average([3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0])
  np.testing.assert_array_equal(sp.rank_average([[2.0, 2.0, 2.0], [9.0, 7.0, 8.0]], axis=1),
                                [[2.0, 2.0, 2.0], [3.0, 1.0, 2.0]])


def test_spearman_hand_computed():
  # Ranks of y are [1, 2, 3.5, 5, 3.5]: rho = 8 / sqrt(10 * 9.5).
  assert sp.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / np.sqrt(95), abs=1e-12)
  assert sp.spearman([1, 2, 3, 4], [10, 100, 1000, 10000]) == pytest.approx(1.0)
  assert sp.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
  assert np.isnan(sp.spearman([1, 2, 3], [5, 5, 5]))


def test_style_preservation_known_pairs():
  base = np.random.default_rng(0).standard_normal((7, 2))  # [M, K]
  measurements = np.stack([base, np.exp(base), -base])  # [L=3, M, K]
  result = sp.style_preservation(measurements, names=("a", "b"), num_bootstrap=0)
  # rho(0, 1) = 1 (monotone), rho(0, 2) = rho(1, 2) = -1: off-diagonal mean (2 - 4) / 6.
  assert result.value == pytest.approx(-1.0 / 3.0)
  np.testing.assert_allclose(result.per_measurement, [-1.0 / 3.0] * 2)
  np.testing.assert_allclose(result.pair_matrix, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
  assert result.rho.shape == (2, 3, 3) and not result.degenerate


def test_bootstrap_is_seeded_and_brackets_value():
  rng = np.random.default_rng(1)
  base = rng.standard_normal((40, 3))
  measurements = np.stack([base + 0.5 * rng.standard_normal((40, 3)) for _ in range(3)])
  a = sp.style_preservation(measurements, num_bootstrap=200, seed=5)
  b = sp.style_preservation(measurements, num_bootstrap=200, seed=5)
  assert a.interval == b.interval
  assert a.interval[0] < a.value < a.interval[1]
  assert a.interval[1] - a.interval[0] < 0.5
  assert a.per_measurement_interval.shape == (3, 2)


def test_thresholds_judge_whole_intervals():
  assert sp.SP_NOT_PRESERVING < sp.SP_PRESERVING
  assert sp.is_preserving((0.6, 0.9)) and not sp.is_preserving((0.4, 0.9))
  assert sp.is_not_preserving((-0.3, 0.1)) and not sp.is_not_preserving((-0.3, 0.3))
  nan = float("nan")
  assert not sp.is_preserving((nan, nan)) and not sp.is_not_preserving((nan, nan))
  assert sp.is_preserving((0.3, 0.4), threshold=0.25)


def _bar_decoder(label_transform=None):
  """A synthetic decoder: slant, stroke width and height are fixed functions of z[:3]."""

  def decode_mean(labels, z):
    labels = np.asarray(labels)
    if label_transform is not None:
      z = transforms.apply(label_transform, labels, z)
    z = np.asarray(z, np.float64)
    slant = 0.5 * np.tanh(z[:, 0])
    width = 2.5 + 1.2 * np.tanh(z[:, 1])
    height = 14.0 + 4.0 * np.tanh(z[:, 2]) + 0.5 * labels  # The label shifts size and place only.
    return tf.constant(draw_parallelogram(height, width, slant, centre=(12.0 + labels, 14.0)))

  return decode_mean


def _sp_of(decode_mean):
  grid = sp.sample_style_grid(decode_mean, L, M, D, seed=0)
  assert grid.shape == (L, M, 28, 28, 1)
  names = morphometrics.MEASUREMENTS
  return sp.style_preservation(sp.measure_grid(grid, names), names, num_bootstrap=100, seed=0)


def test_style_preserving_decoder_scores_high():
  result = _sp_of(_bar_decoder())
  assert result.value > 0.8
  assert result.interval[0] > 0.7
  assert not result.degenerate


def test_label_rotated_decoder_scores_near_zero_and_shared_rotation_does_not():
  rotated = _sp_of(_bar_decoder(transforms.random_rotations(L, D, seed=0)))
  assert abs(rotated.value) < 0.15
  shared = _sp_of(_bar_decoder(transforms.same_rotation(L, D, seed=0)))
  assert shared.value > 0.8


def test_decoder_ignoring_z_is_degenerate_not_perfect():
  ignores_z = lambda labels, z: _bar_decoder()(labels, tf.zeros_like(z))
  with pytest.warns(RuntimeWarning, match="constant"):
    result = _sp_of(ignores_z)
  assert result.degenerate and np.isnan(result.value)
  assert (0, "slant") in result.degenerate_entries
  assert len(result.degenerate_entries) == L * 5


def test_bad_shapes():
  with pytest.raises(ValueError, match="L >= 2"):
    sp.style_preservation(np.zeros((1, 5, 2)))
  with pytest.raises(ValueError, match=r"\[L, M, K\]"):
    sp.style_preservation(np.zeros((3, 5)))


def test_reflected_decoder_reverses_half_the_pairs():
  # Labels 0, 1 get -I and 2, 3, 4 get +I: 4 of 10 pairs keep the order, 6 reverse it.
  reflected = _sp_of(_bar_decoder(transforms.reflections(L, D)))
  assert reflected.value == pytest.approx((4 - 6) / 10, abs=0.05)


def test_sp_on_correct_samples_equals_raw_sp_when_every_sample_is_correct():
  rng = np.random.default_rng(2)
  base = rng.standard_normal((30, 3))  # [M, K]
  measurements = np.stack([base + 0.5 * rng.standard_normal((30, 3)) for _ in range(4)])
  raw = sp.style_preservation(measurements, num_bootstrap=50, seed=3)
  on_correct = sp.style_preservation_on_correct(measurements, np.ones((4, 30), bool),
                                                num_bootstrap=50, seed=3)
  assert on_correct.num_columns == on_correct.num_z == 30 and not on_correct.undefined_reason
  assert on_correct.sp.value == raw.value and on_correct.sp.interval == raw.interval


def test_sp_on_correct_samples_drops_the_columns_with_a_wrong_sample():
  rng = np.random.default_rng(4)
  base = rng.standard_normal((40, 2))  # [M, K]: 20 columns share their style, 20 do not
  measurements = np.stack([base.copy() for _ in range(3)])  # [L=3, M, K]
  measurements[:, 20:] = rng.standard_normal((3, 20, 2))
  correct = np.ones((3, 40), bool)
  correct[1, 20:30] = False  # one wrong label each in columns 20..39
  correct[2, 30:] = False
  result = sp.style_preservation_on_correct(measurements, correct, num_bootstrap=0)
  np.testing.assert_array_equal(result.columns, np.arange(20))
  assert result.num_columns == 20 and result.sp.value == pytest.approx(1.0)
  assert sp.style_preservation(measurements, num_bootstrap=0).value < 0.7
  # The same with all but 9 columns wrong: undefined, and the reason says how many remain.
  correct[0, 9:] = False
  few = sp.style_preservation_on_correct(measurements, correct, num_bootstrap=0)
  assert few.sp is None and few.num_columns == 9
  assert "only 9 of 40 z columns" in few.undefined_reason
  with pytest.raises(ValueError, match=r"correct must be \[L, M\]"):
    sp.style_preservation_on_correct(measurements, correct[:, :5])
