"""Tests for tfdis.transforms on inputs with known answers."""
import numpy as np
import pytest
import tensorflow as tf

from tfdis.model import transforms

G, D, B = 3, 5, 7  # Distinct sizes so a swapped axis fails.


def test_random_rotations_are_distinct_proper_rotations():
  t = transforms.random_rotations(G, D, seed=0).numpy().astype(np.float64)
  assert t.shape == (G, D, D)
  for g in range(G):
    np.testing.assert_allclose(t[g] @ t[g].T, np.eye(D), atol=1e-5)
    assert np.linalg.det(t[g]) == pytest.approx(1.0, abs=1e-5)
  for i in range(G):
    for j in range(i + 1, G):
      assert np.abs(t[i] - t[j]).max() > 0.1


def test_random_rotations_seeded():
  a = transforms.random_rotations(G, D, seed=3).numpy()
  b = transforms.random_rotations(G, D, seed=3).numpy()
  c = transforms.random_rotations(G, D, seed=4).numpy()
  np.testing.assert_array_equal(a, b)
  assert np.abs(a - c).max() > 0.1


def test_random_rotations_det_one_for_many_seeds_and_dims():
  # Half of raw QR samples have det -1; the column flip must fix every one of them.
  for dim in (2, 3, 4):
    t = transforms.random_rotations(20, dim, seed=dim).numpy().astype(np.float64)
    np.testing.assert_allclose(np.linalg.det(t), np.ones(20), atol=1e-5)


def test_random_rotations_are_haar_in_two_dims():
  # A Haar rotation in SO(2) has a uniform angle: mean cos and sin are 0, E[cos^2] = 1/2.
  t = transforms.random_rotations(4000, 2, seed=0).numpy().astype(np.float64)
  angle = np.arctan2(t[:, 1, 0], t[:, 0, 0])
  assert abs(np.mean(np.cos(angle))) < 0.05
  assert abs(np.mean(np.sin(angle))) < 0.05
  assert np.mean(np.cos(angle) ** 2) == pytest.approx(0.5, abs=0.03)


def test_random_rotations_reject_dim_one():
  with pytest.raises(ValueError, match="dim >= 2"):
    transforms.random_rotations(G, 1, seed=0)


def test_reflections_match_paper():
  t = transforms.reflections(10, D).numpy()
  for i in range(10):
    sign = -1.0 if i < 5 else 1.0
    np.testing.assert_array_equal(t[i], sign * np.eye(D))


def test_identity_and_same_rotation():
  np.testing.assert_array_equal(transforms.identity(G, D).numpy(), np.tile(np.eye(D), (G, 1, 1)))
  t = transforms.same_rotation(G, D, seed=1).numpy()
  for g in range(1, G):
    np.testing.assert_array_equal(t[g], t[0])
  np.testing.assert_allclose(t[0] @ t[0].T, np.eye(D), atol=1e-5)
  assert np.abs(t[0] - np.eye(D)).max() > 0.1


def test_apply_matches_per_example_loop():
  t = transforms.random_rotations(G, D, seed=0)
  rng = np.random.default_rng(0)
  labels = rng.integers(0, G, size=B).astype(np.int32)
  z = rng.standard_normal((B, D)).astype(np.float32)
  expected = np.stack([t.numpy()[labels[b]] @ z[b] for b in range(B)])
  got = transforms.apply(t, labels, z)
  assert got.shape == (B, D)
  np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
  jitted = tf.function(transforms.apply, jit_compile=True)(t, labels, z)
  np.testing.assert_allclose(jitted.numpy(), expected, atol=1e-5)
  # Rotations preserve norms.
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(z, axis=1), rtol=1e-5)


def test_by_name():
  np.testing.assert_array_equal(
      transforms.by_name("random_rotations", G, D, seed=2).numpy(),
      transforms.random_rotations(G, D, seed=2).numpy())
  np.testing.assert_array_equal(
      transforms.by_name("reflections", G, D).numpy(), transforms.reflections(G, D).numpy())
  np.testing.assert_array_equal(  # the binaries' short names
      transforms.by_name("rotation", G, D, seed=2).numpy(),
      transforms.random_rotations(G, D, seed=2).numpy())
  with pytest.raises(ValueError, match="identity"):
    transforms.by_name("shear", G, D)


# --- Fractional powers T^a. ---


def _rotations64(num, dim, seed):
  return transforms.random_rotations(num, dim, seed).numpy().astype(np.float64)


def _reorthogonalise(t):
  """The nearest orthogonal matrices (polar factor), float64, so float64 tolerances apply."""
  u, _, vt = np.linalg.svd(t)
  return u @ vt


@pytest.mark.parametrize("dim", [2, 3, 5, 6])
def test_fractional_powers_compose_to_t(dim):
  t = _reorthogonalise(_rotations64(G, dim, seed=dim))
  for a in (0.0, 0.25, 0.5, 0.7, 1.0):
    ta = transforms.fractional_power(t, a).numpy()
    rest = transforms.fractional_power(t, 1.0 - a).numpy()
    assert ta.shape == (G, dim, dim) and ta.dtype == np.float64
    np.testing.assert_allclose(ta @ rest, t, atol=1e-10)          # T^a T^(1-a) = T
    np.testing.assert_allclose(ta @ np.swapaxes(ta, 1, 2), np.broadcast_to(np.eye(dim), ta.shape),
                               atol=1e-10)                         # T^a is orthogonal
    np.testing.assert_allclose(np.linalg.det(ta), np.ones(G), atol=1e-10)
  np.testing.assert_allclose(transforms.fractional_power(t, 0.0).numpy(),
                             np.broadcast_to(np.eye(dim), t.shape), atol=1e-12)
  np.testing.assert_allclose(transforms.fractional_power(t, 1.0).numpy(), t, atol=1e-10)
  half = transforms.fractional_power(t, 0.5).numpy()
  np.testing.assert_allclose(half @ half, t, atol=1e-10)          # a square root


def test_fractional_power_of_a_plane_rotation_is_the_fraction_of_its_angle():
  theta = 2.5
  t = np.array([[np.cos(theta), -np.sin(theta), 0.0], [np.sin(theta), np.cos(theta), 0.0],
                [0.0, 0.0, 1.0]])
  got = transforms.fractional_power(t, 0.4).numpy()
  expected = np.array([[np.cos(1.0), -np.sin(1.0), 0.0], [np.sin(1.0), np.cos(1.0), 0.0],
                       [0.0, 0.0, 1.0]])
  np.testing.assert_allclose(got, expected, atol=1e-12)


def test_distance_from_identity_grows_with_the_fraction():
  t = transforms.random_rotations(G, 6, seed=2)
  fractions = np.linspace(0.0, 1.0, 11)
  distances = np.stack([transforms.distance_from_identity(transforms.fractional_power(t, a))
                        for a in fractions])  # [11, G]
  assert distances.shape == (11, G)
  np.testing.assert_allclose(distances[0], 0.0, atol=1e-6)
  assert np.all(np.diff(distances, axis=0) > 1e-3)
  np.testing.assert_allclose(distances[-1], transforms.distance_from_identity(t), rtol=1e-5)


def test_fractional_power_of_a_half_turn_pairs_the_minus_one_axes():
  # -I in 4 dims is a rotation (det +1) whose eigenvalues are all -1.
  t = -np.eye(4)
  half = transforms.fractional_power(t, 0.5).numpy()
  np.testing.assert_allclose(half @ half, t, atol=1e-12)
  np.testing.assert_allclose(half @ half.T, np.eye(4), atol=1e-12)
  # Two planes turned by π / 2: ‖T^a - I‖_F² = 2 x 8 sin²(π / 4) = 8.
  assert transforms.distance_from_identity(half) == pytest.approx(np.sqrt(8.0), rel=1e-9)


def test_fractional_power_refuses_reflections_and_non_orthogonal_matrices():
  with pytest.raises(ValueError, match=r"T\[0\] is a reflection \(det -1\)"):
    transforms.fractional_power(transforms.reflections(10, 3), 0.5)
  with pytest.raises(ValueError, match="not orthogonal"):
    transforms.fractional_power(2.0 * np.eye(3), 0.5)
