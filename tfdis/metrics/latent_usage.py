"""Which latent units a conditional VAE uses, and what its decoder is shown (numpy).

For q(z | x, y) = N(μ, diag σ²) and the prior N(0, I), the KL of Eq. 1 splits over dimensions:

```none
KL_d(x, y) = (μ_d² + σ_d² - 1) / 2 - ln σ_d
active unit: mean over examples of KL_d above ACTIVE_UNIT_NATS (0.01 nats)
```

A unit whose KL stays near 0 carries no information about x, so a model with 16 latent
dimensions that uses 4 is, for style preservation, a 4-dimensional model. In a competition model
(App. B) the decoder reads w = T_y z rather than z; `covariance` of samples of w over examples is
the posterior the decoder actually sees, and its eigenvalues say how many directions carry it.

The KL count is per coordinate of z, so it is not rotation-invariant: a label-dependent rotation
of a k-dimensional code spreads it over every coordinate. `active_directions` counts directions
instead, the eigenvalues of the covariance of the posterior means over examples above
ACTIVE_DIRECTION_VARIANCE (the activity criterion of Burda et al., 2016, Cov_x(E_q[z_u]) > 0.01,
on eigen-directions rather than units); taken within one label it is the dimension of that label's
code whatever its orientation.
"""
import numpy as np

ACTIVE_UNIT_NATS = 0.01  # mean KL per dimension above which a unit counts as active
ACTIVE_DIRECTION_VARIANCE = 0.01  # variance of the posterior means above which a direction counts


def kl_per_dimension(mean, scale) -> np.ndarray:
  """KL(N(mean, scale²) || N(0, 1)) per example and dimension: float [N, D] from [N, D] each."""
  mean, scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
  if mean.shape != scale.shape:
    raise ValueError(f"mean and scale must have one shape, got {mean.shape} and {scale.shape}.")
  if np.any(scale <= 0):
    raise ValueError("scale must be positive (a standard deviation).")
  return 0.5 * (mean ** 2 + scale ** 2 - 1.0) - np.log(scale)


def active_units(mean_kl, threshold: float = ACTIVE_UNIT_NATS) -> int:
  """The number of dimensions whose mean KL [D] (nats) exceeds `threshold`."""
  return int(np.sum(np.asarray(mean_kl) > threshold))


def spectrum(samples) -> np.ndarray:
  """The eigenvalues [D] of the sample covariance of samples [N, D], largest first."""
  return np.sort(np.linalg.eigvalsh(covariance(samples)))[::-1]


def active_directions(means, threshold: float = ACTIVE_DIRECTION_VARIANCE) -> int:
  """The number of directions the posterior means [N, D] vary along: eigenvalues of their
  covariance above `threshold` (rotation-invariant, unlike `active_units`)."""
  return int(np.sum(spectrum(means) > threshold))


def covariance(samples) -> np.ndarray:
  """The sample covariance [D, D] of samples [N, D] (rows are examples; N - 1 in the denominator)."""
  samples = np.asarray(samples, np.float64)
  if samples.ndim != 2 or len(samples) < 2:
    raise ValueError(f"covariance needs samples [N >= 2, D], got shape {samples.shape}.")
  return np.cov(samples, rowvar=False).reshape(samples.shape[1], samples.shape[1])
