"""What one competition run is measured on (App. B), beyond its verdict.

For a run with decoder μ_p and trained generator μ'_p(y, z) = μ_p(y, T_y z), all on the same
M shared z (seeded by --judge_seed) and the same bootstrap resamples of them:

```none
SP(μ_p), SP(μ'_p)       with per-measurement SP_k and the L x L pair matrices
Δ = SP(μ'_p) - SP(μ_p)  paired bootstrap interval: > 0 leans encoder, < 0 leans decoder
SP(μ_p(y, S_y z))       fresh independent Haar rotations S_y: the style no rotation removes
                        (carried by |z| or other rotation-invariant functions of z): what the
                        losing generator of a rotation competition is left with
cross-half SP, Δ        reflection only: the 25 label pairs (i < 5 <= j) where T_i T_j^-1 = -I;
                        the 20 within-half pairs have T_i T_j^-1 = I and cannot tell who won
latent usage            mean KL per dimension, active units (tfdis.metrics.latent_usage), and the
                        covariance of the decoder's input w = T_y z, z ~ q(z | x, y), over
                        training examples
```
"""
import dataclasses

import numpy as np
import tensorflow as tf

from tfdis import files
from tfdis.metrics import latent_usage
from tfdis.metrics import morphometrics
from tfdis.metrics import style_preservation as sp_lib
from tfdis.model import transforms as transforms_lib

# Seeds the fresh rotations S_y: far from any run's transform_seed (run seeds count from 0).
ROTATION_INVARIANT_SEED = 7_919_000
LATENT_EXAMPLES = 2000  # training examples the latent statistics are taken over


def reflection_groups(num_labels):
  """int [L]: 0 for the labels T_y reflects (y < L / 2), 1 for the others."""
  return (np.arange(num_labels) >= num_labels // 2).astype(np.int64)


def _interval_entry(sp):
  return {"value": files.finite_or_none(sp.value),
          "interval": [files.finite_or_none(v) for v in sp.interval]}


def _sp_entry(sp):
  """The stored form of a StylePreservation: value, interval, per measurement, pair matrix."""
  entry = _interval_entry(sp)
  entry["degenerate"] = sp.degenerate
  entry["per_measurement"] = {
      name: {"value": files.finite_or_none(v), "interval": [files.finite_or_none(x) for x in iv]}
      for name, v, iv in zip(sp.names, sp.per_measurement, sp.per_measurement_interval)}
  entry["pair_matrix"] = [[files.finite_or_none(x) for x in row] for row in sp.pair_matrix]
  return entry


def style_measures(model, config, transform):
  """SP of μ_p and μ'_p, Δ, the rotation-invariant SP and (reflection) the cross-half ones.

  Args:
    model: anything with decode_mean(y, z) (μ_p), generator_mean(y, z) (μ'_p), num_classes and
      latent_dim.
    config: CompetitionConfig (num_z, num_bootstrap, judge_seed).
    transform: 'rotation' or 'reflection' (cross-half scores for the reflection only).

  Returns:
    dict: sp_mu, sp_mu_prime (value, interval, degenerate, per_measurement, pair_matrix), delta,
    sp_rotation_invariant, and cross_half (None unless reflection).
  """
  seed = config.judge_seed
  measure = lambda fn: sp_lib.sample_and_measure(fn, model.num_classes, config.num_z,
                                                 model.latent_dim, seed)
  # One seed for every score: their bootstrap resamples share z columns, so Δ is paired.
  score = lambda m, pairs=None: sp_lib.style_preservation(m, morphometrics.MEASUREMENTS,
                                                          config.num_bootstrap, seed, pairs=pairs)
  difference = lambda a, b: {k: files.finite_or_none(v) if k == "value" else
                             [files.finite_or_none(x) for x in v]
                             for k, v in dataclasses.asdict(sp_lib.difference(a, b)).items()}
  mu, mu_prime = measure(model.decode_mean), measure(model.generator_mean)
  sp_mu, sp_mu_prime = score(mu), score(mu_prime)
  rotations = transforms_lib.random_rotations(model.num_classes, model.latent_dim,
                                              ROTATION_INVARIANT_SEED + seed)
  rotated = measure(lambda y, z: model.decode_mean(y, transforms_lib.apply(rotations, y, z)))
  result = {"sp_mu": _sp_entry(sp_mu), "sp_mu_prime": _sp_entry(sp_mu_prime),
            "delta": difference(sp_mu, sp_mu_prime),
            "sp_rotation_invariant": _interval_entry(score(rotated)),
            "cross_half": None}
  if transform == "reflection":
    pairs = sp_lib.label_pairs(model.num_classes, reflection_groups(model.num_classes))
    cross_mu, cross_mu_prime = score(mu, pairs), score(mu_prime, pairs)
    result["cross_half"] = {"sp_mu": _interval_entry(cross_mu),
                            "sp_mu_prime": _interval_entry(cross_mu_prime),
                            "delta": difference(cross_mu, cross_mu_prime)}
  return result


def latent_statistics(model, images, labels, seed, batch_size=500):
  """Mean KL per dimension, active units and directions, and the covariance of w = T_y z.

  Args:
    model: a ConditionalVAE (encode, decoder_code).
    images: float32 [N, H, W, C]; labels: int [N] (training examples).
    seed: seeds the draw z ~ q(z | x, y), one per example.

  Returns:
    dict: kl_per_dimension [D] (nats), active_units, active_directions (of the posterior means,
    all labels together), active_directions_per_label [K] and posterior_mean_eigenvalues_per_label
    [K, D] (descending; what the count thresholds; None for a label with fewer than 2 examples),
    decoder_input_covariance [D, D], decoder_input_eigenvalues [D] (descending).
  """
  kls, codes, means = [], [], []
  for start in range(0, len(images), batch_size):
    x = tf.constant(images[start:start + batch_size])
    y = tf.constant(labels[start:start + batch_size], tf.int32)
    q = model.encode(x, y)
    mean, scale = q.mean(), q.stddev()
    kls.append(latent_usage.kl_per_dimension(mean.numpy(), scale.numpy()))
    means.append(mean.numpy())
    noise = tf.random.stateless_normal(tf.shape(mean), seed=[seed, start])
    codes.append(model.decoder_code(y, mean + scale * noise).numpy())
  mean_kl = np.concatenate(kls).mean(axis=0)
  cov = latent_usage.covariance(np.concatenate(codes))
  means, labels = np.concatenate(means), np.asarray(labels)
  finite = lambda a: [files.finite_or_none(v) for v in a]
  spectra = [latent_usage.spectrum(means[labels == y]) if np.sum(labels == y) >= 2 else None
             for y in range(model.num_classes)]
  above = latent_usage.ACTIVE_DIRECTION_VARIANCE
  return {"kl_per_dimension": finite(mean_kl),
          "active_units": latent_usage.active_units(mean_kl),
          "active_directions": latent_usage.active_directions(means),
          "active_directions_per_label": [None if ev is None else int(np.sum(ev > above))
                                          for ev in spectra],
          "posterior_mean_eigenvalues_per_label": [None if ev is None else finite(ev)
                                                   for ev in spectra],
          "decoder_input_covariance": [finite(row) for row in cov],
          "decoder_input_eigenvalues": finite(np.sort(np.linalg.eigvalsh(cov))[::-1])}
