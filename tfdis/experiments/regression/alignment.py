"""Why the disentangled target is fitted faster (paper Sec. 3, Fig. 3): a tangent-kernel prediction.

The paper leaves open *why* SGD fits the disentangled map faster. This module states a mechanism
before it is measured, and measures it so that it can fail.

```none
student       f(θ) [N, O]: the fresh network's outputs on N training inputs (encoder: μ_q(x, y),
              O = D; decoder: the logits of p(x | y, code), O = H W C), at its initial weights θ0
J             ∂ vec f / ∂ θ  [N O, P],   K = J Jᵀ  [N O, N O]   the tangent kernel at initialisation
Y             -∂ loss / ∂ f at θ0, [N, O]: the direction gradient descent moves the outputs in
              (encoder: the residual target - f(θ0), target z or T_y^a z; decoder: x - σ(logits),
              with the code z or T_y^a z as input, so K differs between the decoder's targets)
alignment     A(Y) = ‖Jᵀ Y‖² / (‖J Jᵀ‖_F ‖Y‖²)  in [0, 1]   (Yᵀ K Y ≤ λ_max ‖Y‖² ≤ ‖K‖_F ‖Y‖²)
```

In the linearised (kernel) picture, gradient flow on ½ ‖f - target‖² starts losing loss at the
rate ‖Jᵀ Y‖² = Yᵀ K Y, i.e. a relative rate 2 A(Y) ‖K‖_F: a target whose residual lies along
the kernel's large eigendirections is fitted first. ‖Jᵀ Y‖² is one vector-Jacobian product;
‖K‖_F² = tr(K²) = E_v ‖K v‖² over Rademacher probes v (Hutchinson), each ‖K v‖ = ‖J (Jᵀ v)‖ one
vector-Jacobian and one Jacobian-vector product (by double reverse mode): no Jacobian is formed.

Prediction (stated before any measurement; each part can fail):

1. Shared teacher (flags/regress.cfg): A is larger for the disentangled target z than for the
   entangled T_y z, for both networks. z was made by a network of the student's own architecture
   that shares its weights across labels, so its residual varies with x in the same way for every
   label, along the directions in which the kernel of a shared network is large; T_y z turns that
   variation differently for each label, spreading it onto directions where K is small.
2. The difference A(z) - A(T_y^a z) shrinks as a -> 0 (flags/regress_angle_*.cfg) and is 0 at
   a = 0, where both targets are z.
3. Split teacher (flags/regress_split_teacher.cfg): the difference vanishes; codes made by ten
   separate encoders are no more aligned across labels than their rotations are.
4. A orders the measured early descent rates, r = (ln L(0) - ln L(s_r)) / s_r on the training
   curve (s_r = --descent_steps): a positive rank correlation over targets and seeds, its
   interval above 0.

Functions: `TangentKernel` (products with J, Jᵀ and K; `frobenius_norm` by Hutchinson),
`alignment`, `measure_alignment` (A of both targets of both problems for one seed, at that seed's
initial weights), `descent_rate`, `rank_correlation` (Spearman over (target, seed) points with a
bootstrap interval that resamples seeds: `tfdis.metrics.stats`), `summarise_alignment` (the
`alignment` key of regression.json) and `pooled_rank_correlation` (over several runs' keys).
"""
import numpy as np
import tensorflow as tf

from tfdis.experiments.regression.config import PROBLEMS
from tfdis.experiments.regression.config import TARGETS
from tfdis.metrics import stats
from tfdis.model import vae as model_lib


def _dense(gradients, variables):
  """Gradients as dense tensors, zeros where a variable does not reach the output."""
  return [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
          for g, v in zip(gradients, variables)]


class TangentKernel:
  """The tangent kernel K = J Jᵀ of `outputs_fn` at the current value of `variables`.

  Args:
    outputs_fn: () -> float [N, ...], the network's outputs, a function of `variables`.
    variables: the tf.Variables θ differentiated (J = ∂ vec outputs / ∂ θ).
    jit_compile: XLA-compile the products.
  """

  def __init__(self, outputs_fn, variables, jit_compile=False):
    self.outputs_fn, self.variables = outputs_fn, list(variables)
    self.output_shape = tuple(outputs_fn().shape)
    self.transpose_product = tf.function(self._transpose_product, jit_compile=jit_compile,
                                         autograph=False)
    self.kernel_product = tf.function(self._kernel_product, jit_compile=jit_compile,
                                      autograph=False)
    self._squared_norm = tf.function(lambda v: tf.reduce_sum(tf.square(self._kernel_product(v))),
                                     jit_compile=jit_compile, autograph=False)

  def _transpose_product(self, vector):
    """Jᵀ v: list of tensors shaped like the variables, for v [N, ...] shaped like the outputs."""
    with tf.GradientTape() as tape:
      outputs = self.outputs_fn()
    return _dense(tape.gradient(outputs, self.variables, output_gradients=vector), self.variables)

  def _kernel_product(self, vector):
    """K v = J (Jᵀ v): [N, ...] shaped like the outputs.

    J u is the gradient in w of <Jᵀ w, u> (linear in w): two nested reverse passes, which work on
    Keras variables where forward-mode accumulators do not.
    """
    tangents = [tf.stop_gradient(t) for t in self._transpose_product(vector)]
    dummy = tf.zeros(self.output_shape, vector.dtype)
    with tf.GradientTape() as outer:
      outer.watch(dummy)
      transposed = self._transpose_product(dummy)
      inner = tf.add_n([tf.reduce_sum(g * t) for g, t in zip(transposed, tangents)])
    return outer.gradient(inner, dummy)

  def transpose_norm_squared(self, vector):
    """‖Jᵀ v‖² = vᵀ K v, float."""
    vector = tf.convert_to_tensor(vector, tf.float32)
    return float(sum(tf.reduce_sum(tf.square(g)) for g in self.transpose_product(vector)))

  def frobenius_norm(self, num_probes, seed):
    """Hutchinson's estimate of ‖K‖_F = (E_v ‖K v‖²)^½ over `num_probes` Rademacher probes v.

    Returns:
      (estimate, relative standard error of the estimate of ‖K‖_F², from the probes' spread).
    """
    probes = np.random.default_rng(seed).choice((-1.0, 1.0), size=(num_probes,) + self.output_shape)
    squares = np.array([float(self._squared_norm(tf.constant(probe, tf.float32)))
                        for probe in probes])  # ‖K v‖² of each probe
    mean = squares.mean()
    error = squares.std(ddof=1) / np.sqrt(num_probes) / mean if num_probes > 1 else float("nan")
    return float(np.sqrt(mean)), float(error)


def alignment(kernel, direction, frobenius):
  """A(Y) = ‖Jᵀ Y‖² / (‖K‖_F ‖Y‖²) for Y = `direction` [N, ...] and ‖K‖_F = `frobenius`."""
  direction = np.asarray(direction, np.float64)
  return kernel.transpose_norm_squared(direction) / (frobenius * float(np.sum(direction ** 2)))


def _problem_parts(model, problem, images, labels, code_or_target):
  """(outputs_fn, variables, loss of outputs) of one problem of a fresh ConditionalVAE."""
  if problem == "encoder":
    target = tf.constant(code_or_target, tf.float32)
    layers = model.encoder_layers
    outputs_fn = lambda: model.encode(images, labels).mean()                 # [N, D]
    loss = lambda outputs: tf.reduce_mean(tf.square(outputs - target))
  else:
    code = tf.constant(code_or_target, tf.float32)
    layers = model.decoder_layers
    outputs_fn = lambda: model.decoder_logits(labels, code)                  # [N, ...]
    log_scale = model.decoder_log_scale if model.likelihood == "gaussian" else None
    loss = lambda outputs: -tf.reduce_mean(model_lib.decoder_distribution(
        outputs, model.likelihood, log_scale).log_prob(images))
  variables = [v for layer in layers for v in layer.trainable_variables]
  return outputs_fn, variables, loss


def descent_direction(outputs, loss):
  """Y = -∂ loss / ∂ outputs at `outputs` [N, ...] (scaled by N: A does not see the scale)."""
  outputs = tf.convert_to_tensor(outputs)
  with tf.GradientTape() as tape:
    tape.watch(outputs)
    value = loss(outputs)
  return -tape.gradient(value, outputs).numpy() * outputs.shape[0]


def measure_alignment(model, data, num_examples, num_probes, seed):
  """A of both targets of both problems at `model`'s (initial) weights.

  Args:
    model: a ConditionalVAE at initialisation (`training.build_models(kwargs, seed)`'s, whose
      weights both targets' networks start from).
    data: RegressionData holding this seed's targets; its first `num_examples` are the inputs.
    num_examples: N.
    num_probes: Rademacher probes of the Hutchinson estimate.
    seed: seed of the probes (the same probes for both targets: common random numbers).

  Returns:
    {problem: {target: {'alignment', 'frobenius', 'frobenius_relative_error',
    'transpose_norm_squared', 'direction_norm_squared'}}}. The encoder's kernel is the same for
    both targets (same inputs), so it is estimated once.
  """
  part = data.slice(0, num_examples)
  images, labels = tf.constant(part.images), tf.constant(part.labels)
  out = {}
  for problem in PROBLEMS:
    out[problem] = {}
    shared_kernel = None
    for target in TARGETS:
      value = part.target(target)
      if problem == "encoder":
        outputs_fn, variables, loss = _problem_parts(model, problem, images, labels, value)
        if shared_kernel is None:
          shared_kernel = TangentKernel(outputs_fn, variables)
          frobenius = shared_kernel.frobenius_norm(num_probes, seed)
        kernel = shared_kernel
      else:
        outputs_fn, variables, loss = _problem_parts(model, problem, images, labels, value)
        kernel = TangentKernel(outputs_fn, variables)
        frobenius = kernel.frobenius_norm(num_probes, seed)
      direction = descent_direction(outputs_fn(), loss)
      numerator = kernel.transpose_norm_squared(direction)
      out[problem][target] = {
          "alignment": numerator / (frobenius[0] * float(np.sum(direction.astype(np.float64) ** 2))),
          "frobenius": frobenius[0], "frobenius_relative_error": frobenius[1],
          "transpose_norm_squared": numerator,
          "direction_norm_squared": float(np.sum(direction.astype(np.float64) ** 2))}
  return out


def descent_rate(steps, losses, descent_steps):
  """Early descent rate (ln L(0) - ln L(s)) / s, s the last evaluated step in (0, descent_steps].

  nan when no step is evaluated there.
  """
  steps, losses = np.asarray(steps), np.asarray(losses, np.float64)
  inside = np.flatnonzero((steps > 0) & (steps <= descent_steps))
  if not len(inside):
    return float("nan")
  last = inside[-1]
  return float((np.log(losses[0]) - np.log(losses[last])) / steps[last])


def rank_correlation(alignments, rates, seeds, num_resamples=2000, seed=0):
  """Spearman's rank correlation of A with descent rates over points, with a seed bootstrap.

  Args:
    alignments, rates: float [M], one per point (a target of a seed of a run; pool any runs).
    seeds: [M], the training seed of each point. Points of one seed share initial weights and
      batches, so they are resampled together: the interval resamples seeds (clusters), not
      points.
    num_resamples, seed: of the bootstrap.

  Returns:
    {'value', 'interval' (95% percentile interval over resampled seeds), 'resamples': 'seeds',
    'num_points', 'num_seeds'}.
  """
  value, interval = stats.cluster_bootstrap(stats.spearman, (alignments, rates), seeds,
                                            num_resamples, seed)
  return {"value": value, "interval": list(interval), "resamples": "seeds",
          "num_points": len(np.asarray(alignments)), "num_seeds": len(set(np.asarray(seeds)))}


def _seed_summary(values, alternative):
  """Mean, 95% t interval over seeds, per-seed values, and the sign-flip test of `values`."""
  values = np.asarray(values, np.float64)
  mean, interval = stats.t_interval(values)
  test = (stats.sign_flip_test(values, alternative) if np.all(np.isfinite(values))
          else stats.PValue(float("nan"), float("nan")))
  return {"mean": mean, "interval": list(interval), "per_seed": values.tolist(),
          "p_value": test.p_value, "p_value_floor": test.floor, "p_value_alternative": alternative}


def summarise_alignment(measured, curves, steps, seeds, descent_steps, num_resamples=2000):
  """The alignment key of regression.json: A and early descent rates of every target and seed.

  Args:
    measured: {seed: `measure_alignment`'s output}.
    curves: {(problem, target, 'train'): {seed: float [E]}} (the training curves).
    steps: int [E] evaluated steps.
    seeds: the seeds, in the order of the per-seed lists.
    descent_steps: the horizon of `descent_rate`.
    num_resamples: of the rank correlation's seed bootstrap.

  Returns:
    {problem: {target: {alignment, frobenius, descent_rate: per-seed lists}, 'difference':
    A(disentangled) - A(entangled) over seeds with its one-sided sign-flip test ("disentangled
    better aligned"), 'rate_difference' likewise for descent rates, 'agreement': seeds whose
    two differences have the same sign, 'rank_correlation' (`rank_correlation` over the
    2 x seeds points), 'seeds'}}.
  """
  out = {}
  for problem in PROBLEMS:
    entry = {"seeds": list(seeds)}
    for target in TARGETS:
      entry[target] = {
          "alignment": [measured[s][problem][target]["alignment"] for s in seeds],
          "frobenius": [measured[s][problem][target]["frobenius"] for s in seeds],
          "descent_rate": [descent_rate(steps, curves[(problem, target, "train")][s],
                                        descent_steps) for s in seeds]}
    a = {t: np.asarray(entry[t]["alignment"]) for t in TARGETS}
    r = {t: np.asarray(entry[t]["descent_rate"]) for t in TARGETS}
    entry["difference"] = _seed_summary(a["disentangled"] - a["entangled"], "greater")
    entry["rate_difference"] = _seed_summary(r["disentangled"] - r["entangled"], "greater")
    entry["agreement"] = int(np.sum(np.sign(a["disentangled"] - a["entangled"]) ==
                                    np.sign(r["disentangled"] - r["entangled"])))
    entry["rank_correlation"] = pooled_rank_correlation([{problem: entry}], problem,
                                                        num_resamples)
    out[problem] = entry
  return out


def pooled_rank_correlation(alignments, problem, num_resamples=2000, seed=0):
  """`rank_correlation` of A with descent rates pooled over runs (e.g. the angle sweep).

  Args:
    alignments: the 'alignment' entries of several regression.json files (`summarise_alignment`).
      Points of the same training seed share initial weights and batches in every run, so they
      form one cluster of the bootstrap.
    problem: encoder or decoder.
  """
  a, r, s = [], [], []
  for entry in alignments:
    for target in TARGETS:
      a += entry[problem][target]["alignment"]
      r += entry[problem][target]["descent_rate"]
      s += entry[problem]["seeds"]
  a, r, s = np.asarray(a, np.float64), np.asarray(r, np.float64), np.asarray(s)
  keep = np.isfinite(a) & np.isfinite(r)
  return rank_correlation(a[keep], r[keep], s[keep], num_resamples, seed)
