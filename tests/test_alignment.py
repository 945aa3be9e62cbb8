"""The tangent-kernel alignment of the regression targets against closed forms and full Jacobians."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdis.experiments import regression
from tfdis.experiments.regression import alignment as alignment_lib
from tfdis.model import transforms as transforms_lib
from tfdis.model import vae as model_lib

# Hutchinson with m Rademacher probes: the estimate of tr(K²) has relative standard deviation at
# most (2 / m)^½ (its variance is 2 (‖K²‖_F² - Σ (K²)_ii²) ≤ 2 tr(K²)²), so that of ‖K‖_F is at
# most (1 / (2 m))^½: 4.1% for m = 300. Tolerance 12%: three of those.
PROBES, TOLERANCE = 300, 0.12
# Sizes that all differ: N = 7 inputs, P = 4 input features, O = 3 outputs.
N, P, O = 7, 4, 3


def _linear():
  rng = np.random.default_rng(0)
  x = tf.constant(rng.standard_normal((N, P)), tf.float32)
  w = tf.Variable(rng.standard_normal((P, O)), dtype=tf.float32)
  return x.numpy().astype(np.float64), w, alignment_lib.TangentKernel(lambda: x @ w, [w])


def test_linear_model_matches_the_closed_form():
  # f = X W: J = X ⊗ I_O, so K = (X Xᵀ) ⊗ I_O, ‖K‖_F = ‖X Xᵀ‖_F √O, ‖Jᵀ Y‖² = ‖Xᵀ Y‖_F².
  x, _, kernel = _linear()
  y = np.random.default_rng(1).standard_normal((N, O))
  gram = x @ x.T
  assert kernel.output_shape == (N, O)
  np.testing.assert_allclose(kernel.kernel_product(tf.constant(y, tf.float32)).numpy(), gram @ y,
                             rtol=1e-4, atol=1e-4)
  assert kernel.transpose_norm_squared(y) == pytest.approx(np.sum((x.T @ y) ** 2), rel=1e-5)
  exact_frobenius = np.linalg.norm(gram) * np.sqrt(O)
  frobenius, error = kernel.frobenius_norm(PROBES, seed=0)
  assert frobenius == pytest.approx(exact_frobenius, rel=TOLERANCE)
  assert 0 < error < 0.2
  closed_form = np.sum((x.T @ y) ** 2) / (exact_frobenius * np.sum(y ** 2))
  assert alignment_lib.alignment(kernel, y, exact_frobenius) == pytest.approx(closed_form, rel=1e-5)
  assert alignment_lib.alignment(kernel, y, frobenius) == pytest.approx(closed_form,
                                                                         rel=TOLERANCE)


def test_alignment_is_one_zero_and_between_on_known_directions():
  x, _, kernel = _linear()
  exact_frobenius = np.linalg.norm(x @ x.T) * np.sqrt(O)
  # Y in the null space of Xᵀ (N > P): the kernel cannot move the outputs along it.
  null = np.linalg.svd(x)[0][:, P:]  # [N, N - P], orthogonal to X's columns
  y_null = np.tile(null[:, :1], (1, O))
  assert alignment_lib.alignment(kernel, y_null, exact_frobenius) == pytest.approx(0.0, abs=1e-6)
  # Y along K's top eigenvector: A = λ_max / ‖K‖_F, the largest A can be.
  values, vectors = np.linalg.eigh(x @ x.T)
  y_top = np.zeros((N, O))
  y_top[:, 0] = vectors[:, -1]
  top = alignment_lib.alignment(kernel, y_top, exact_frobenius)
  assert top == pytest.approx(values[-1] / exact_frobenius, rel=1e-5)
  y_random = np.random.default_rng(2).standard_normal((N, O))
  assert 0 < alignment_lib.alignment(kernel, y_random, exact_frobenius) < top <= 1


TINY = dict(image_shape=(6, 5, 1), num_classes=10, latent_dim=3, architecture="mlp",
            hidden_units=7)


@pytest.fixture(scope="module")
def tiny_data():
  keras.utils.set_random_seed(5)
  teacher = model_lib.ConditionalVAE(**TINY).build_all()
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(40, 6, 5, 1)).astype(np.float32)
  labels = np.arange(40, dtype=np.int32) % 10
  return regression.build_dataset(teacher, images, labels,
                                  transforms_lib.by_name("rotation", 10, 3, seed=2), seed=0)


@pytest.mark.parametrize("problem", ["encoder", "decoder"])
def test_hutchinson_matches_the_full_jacobian_of_a_small_network(tiny_data, problem):
  model = regression.build_models(TINY, seed=3)["disentangled"]
  part = tiny_data.slice(0, 6)
  images, labels = tf.constant(part.images), tf.constant(part.labels)
  outputs_fn, variables, _ = alignment_lib._problem_parts(  # pylint: disable=protected-access
      model, problem, images, labels, part.tz)
  with tf.GradientTape(persistent=True) as tape:
    flat = tf.reshape(outputs_fn(), [-1])
  jacobian = np.concatenate([tf.reshape(j, [flat.shape[0], -1]).numpy()
                             for j in tape.jacobian(flat, variables)], axis=1)  # [N O, params]
  assert jacobian.shape[1] == sum(int(np.prod(v.shape)) for v in variables)
  gram = jacobian.astype(np.float64) @ jacobian.T.astype(np.float64)  # K [N O, N O]
  kernel = alignment_lib.TangentKernel(outputs_fn, variables)
  probe = np.random.default_rng(4).standard_normal(kernel.output_shape)
  np.testing.assert_allclose(kernel.kernel_product(tf.constant(probe, tf.float32)).numpy().ravel(),
                             gram @ probe.ravel(), rtol=1e-3, atol=1e-4)
  frobenius, _ = kernel.frobenius_norm(PROBES, seed=0)
  assert frobenius == pytest.approx(np.linalg.norm(gram), rel=TOLERANCE)
  y = probe.ravel()
  assert kernel.transpose_norm_squared(probe) == pytest.approx(y @ gram @ y, rel=1e-4)


def test_measure_alignment_of_both_targets(tiny_data):
  model = regression.build_models(TINY, seed=3)["disentangled"]
  got = alignment_lib.measure_alignment(model, tiny_data, num_examples=12, num_probes=20, seed=0)
  assert set(got) == {"encoder", "decoder"}
  for problem in ("encoder", "decoder"):
    for target in ("disentangled", "entangled"):
      assert 0 < got[problem][target]["alignment"] <= 1
  # The encoder's kernel does not depend on the target; the decoder's reads the code.
  assert got["encoder"]["disentangled"]["frobenius"] == got["encoder"]["entangled"]["frobenius"]
  assert got["decoder"]["disentangled"]["frobenius"] != got["decoder"]["entangled"]["frobenius"]
  assert got["encoder"]["disentangled"]["alignment"] != got["encoder"]["entangled"]["alignment"]
  # Identical targets (T_y = I) have identical alignments.
  same = regression.retarget(tiny_data, transforms_lib.by_name("identity", 10, 3))
  equal = alignment_lib.measure_alignment(model, same, num_examples=12, num_probes=20, seed=0)
  for problem in ("encoder", "decoder"):
    assert equal[problem]["disentangled"] == equal[problem]["entangled"]


def test_descent_rate_and_rank_correlation():
  steps = np.array([0, 1, 5, 10, 20])
  losses = np.exp(-0.3 * steps) * 4.0
  assert alignment_lib.descent_rate(steps, losses, 10) == pytest.approx(0.3)
  assert alignment_lib.descent_rate(steps, losses, 7) == pytest.approx(0.3)  # step 5
  assert np.isnan(alignment_lib.descent_rate([0, 100], [1.0, 0.5], 10))
  seeds = np.repeat([0, 1, 2, 3], 2)
  a = np.array([0.2, 0.1, 0.25, 0.12, 0.3, 0.15, 0.22, 0.11])
  result = alignment_lib.rank_correlation(a, 2 * a + 1, seeds, num_resamples=200)
  assert result == {"value": 1.0, "interval": [1.0, 1.0], "resamples": "seeds", "num_points": 8,
                    "num_seeds": 4}
  assert alignment_lib.rank_correlation(a, -a, seeds, num_resamples=200)["value"] == -1.0
