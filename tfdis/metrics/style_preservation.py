"""Style preservation (SP): does a z give the same style under every label?

Shu et al., Section 1.2 "Style preservation" and Figures 1-6: a generator is
style-preserving when mu_p(i, z) and mu_p(j, z) share a style for all labels
i != j; label-dependent transforms z -> T_y z (`tfdis.model.transforms`) destroy
it without changing the likelihood (Proposition 1). The paper judges this by eye
from label x z grids; SP measures it with Morpho-MNIST morphometrics m_k
(`tfdis.metrics.morphometrics`):

```none
z_m ~ N(0, I), m = 1..M, shared by all labels;  x_{l,m} = mu_p(l, z_m)
rho_k(i, j) = Spearman rank correlation over m of  m_k(x_{i,m})  and  m_k(x_{j,m})
SP_k = mean_{i != j} rho_k(i, j)          per measurement k
SP   = mean_k SP_k                        pair matrix P(i, j) = mean_k rho_k(i, j)
Δ    = SP(b) - SP(a)                      two generators on the same z (`difference`)
```

The mean may be restricted to chosen label pairs (`label_pairs`): the reflection of App. B
leaves the pairs within each half of the labels untouched, so only cross-half pairs tell
whether a generator is the reflected one.

SP is 1 for a decoder whose style depends on z alone, about 0 for one whose
style is a label-dependent rotation of z, and negative where T_i = -T_j
reverses a style axis. The 95% interval is a percentile bootstrap over z
(resampling the M columns, seeded; `tfdis.metrics.stats`). A (label,
measurement) that is constant across z -- a decoder that ignores z -- has no rank
correlation: SP is then NaN with `degenerate = True` and a warning naming the
entries, never a perfect score.

SP on correctly labelled samples (`style_preservation_on_correct`) keeps only the z columns whose
image under every label the digit classifier reads as that label: a wrong-class image has no style
of its label, and a decoder that draws no digit at all should not score on noise. It reports how
many columns remain and is undefined below MIN_CORRECT_COLUMNS of them.

The null on the same model (`null_corrected`): ΔSP = SP(mu_p(y, z)) - mean_k SP(mu_p(y, S^k_y z))
over n fresh independent Haar rotations S^k_y, one per label and draw. An interval of ΔSP
resamples both the z columns and the n draws.

`sample_style_grid` is the sampling, `measure_grid` the morphometrics and
`style_preservation` the pure maths (numpy; Spearman with average ranks for ties
is implemented here, scipy is not a dependency).

A generator is called style-preserving when its whole SP interval lies above
SP_PRESERVING, and not style-preserving when its whole interval lies below
SP_NOT_PRESERVING; an interval in between (partial style preservation, as in the
paper's Fig. 4) is neither. The competition's verdicts judge intervals so; the
reproduction report's claims compare SP itself with the same two numbers.
"""
import dataclasses
import functools
import warnings
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfdis.metrics import morphometrics
from tfdis.metrics import stats

SP_PRESERVING = 0.5      # an SP interval wholly above: style-preserving
SP_NOT_PRESERVING = 0.2  # an SP interval wholly below: not style-preserving


def is_preserving(interval, threshold: float = SP_PRESERVING) -> bool:
  """True when the SP interval (low, high) lies wholly above `threshold` (nan: False)."""
  return bool(np.isfinite(interval[0]) and interval[0] > threshold)


def is_not_preserving(interval, threshold: float = SP_NOT_PRESERVING) -> bool:
  """True when the SP interval (low, high) lies wholly below `threshold` (nan: False)."""
  return bool(np.isfinite(interval[1]) and interval[1] < threshold)


@dataclasses.dataclass
class StylePreservation:
  """SP with its parts.

  Attributes:
    value: SP (nan when degenerate).
    interval: (low, high) 95% percentile bootstrap interval over z.
    per_measurement: float [K], SP_k.
    per_measurement_interval: float [K, 2].
    pair_matrix: float [L, L], mean over measurements of rho_k(i, j); diagonal 1
      (nan for a degenerate label).
    rho: float [K, L, L], rho_k(i, j).
    names: the K measurement names.
    degenerate: True when some (label, measurement) is constant or non-finite across z.
    degenerate_entries: [(label, measurement name)] of those.
    num_z: M.
    resamples: float [R], SP of each bootstrap resample (empty without a bootstrap); two results
      computed with one seed on grids of one shape share their resampled z columns, so
      `difference` of them is paired.
  """
  value: float
  interval: Tuple[float, float]
  per_measurement: np.ndarray
  per_measurement_interval: np.ndarray
  pair_matrix: np.ndarray
  rho: np.ndarray
  names: Tuple[str, ...]
  degenerate: bool
  degenerate_entries: List[Tuple[int, str]]
  num_z: int
  resamples: np.ndarray


def rank_average(x, axis: int = -1) -> np.ndarray:
  """Ranks 1..n along `axis`, ties given their average rank (scipy's "average")."""
  x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
  n = x.shape[-1]
  order = np.argsort(x, axis=-1, kind="stable")
  ordered = np.take_along_axis(x, order, axis=-1)
  position = np.broadcast_to(np.arange(n), x.shape)
  differs = ordered[..., 1:] != ordered[..., :-1]  # [..., n - 1]
  first = np.concatenate([np.ones(x.shape[:-1] + (1,), bool), differs], axis=-1)
  last = np.concatenate([differs, np.ones(x.shape[:-1] + (1,), bool)], axis=-1)
  group_start = np.maximum.accumulate(np.where(first, position, 0), axis=-1)
  group_end = np.flip(np.minimum.accumulate(
      np.flip(np.where(last, position, n - 1), axis=-1), axis=-1), axis=-1)
  ranks = np.empty_like(ordered)
  np.put_along_axis(ranks, order, 0.5 * (group_start + group_end) + 1.0, axis=-1)
  return np.moveaxis(ranks, -1, axis)


def _normalised_ranks(x: np.ndarray, axis: int) -> np.ndarray:
  """Ranks along `axis`, centred and scaled to unit norm; nan where constant."""
  ranks = rank_average(x, axis)
  centred = ranks - ranks.mean(axis=axis, keepdims=True)
  norm = np.sqrt((centred ** 2).sum(axis=axis, keepdims=True))
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(norm > 0, centred / norm, np.nan)


def spearman(x, y) -> float:
  """Spearman rank correlation of two float [n] vectors (average ranks for ties).

  nan if either is constant.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.shape != y.shape or x.ndim != 1:
    raise ValueError(f"spearman needs two vectors of one length, got {x.shape} and {y.shape}.")
  return float(np.sum(_normalised_ranks(x, 0) * _normalised_ranks(y, 0)))


def pairwise_spearman(measurements) -> np.ndarray:
  """rho[k, i, j] = Spearman over m of measurements[i, m, k] and measurements[j, m, k].

  Args:
    measurements: float [L, M, K].

  Returns:
    float [K, L, L]; nan for pairs involving a constant (label, measurement).
  """
  normalised = _normalised_ranks(np.asarray(measurements, np.float64), axis=1)  # [L, M, K]
  return np.einsum("imk,jmk->kij", normalised, normalised)


def label_pairs(num_labels: int, groups: Optional[Sequence[int]] = None) -> np.ndarray:
  """bool [L, L]: the label pairs (i, j) an SP averages over.

  Every i != j by default; with `groups` (one group id per label) only pairs from different
  groups -- e.g. the 25 cross-half pairs (50 ordered) of the reflection T_i = -I for i < 5, whose
  20 within-half pairs have T_i T_j^-1 = I.
  """
  mask = ~np.eye(num_labels, dtype=bool)
  if groups is not None:
    groups = np.asarray(groups)
    if groups.shape != (num_labels,):
      raise ValueError(f"groups must give one group per label ({num_labels}), got {groups.shape}.")
    mask &= groups[:, None] != groups[None, :]
  if not mask.any():
    raise ValueError("No label pair is selected: give at least two groups.")
  return mask


def _pair_mean(rho: np.ndarray, pairs: Optional[np.ndarray] = None) -> np.ndarray:
  """Mean over the selected pairs (default i != j) of [..., L, L] -> [...]; nan if any is nan."""
  if pairs is None:
    pairs = label_pairs(rho.shape[-1])
  return rho[..., pairs].mean(axis=-1)


def degenerate_entries(measurements, names: Sequence[str],
                       rtol: float = 1e-6) -> List[Tuple[int, str]]:
  """(label, name) whose measurements float [L, M, K] are non-finite or constant over M.

  Constant means max - min <= rtol (1 + max |value|).
  """
  measurements = np.asarray(measurements, np.float64)
  finite = np.all(np.isfinite(measurements), axis=1)  # [L, K]
  with np.errstate(invalid="ignore"):
    spread = np.ptp(measurements, axis=1)
    scale = 1.0 + np.max(np.abs(measurements), axis=1)
    constant = ~(spread > rtol * scale)
  bad = ~finite | constant
  return [(int(label), names[k]) for label, k in zip(*np.nonzero(bad))]


def _checked(measurements, names, rtol):
  """(measurements float64 [L, M, K], names, cleaned copy with degenerate entries nan, bad)."""
  measurements = np.asarray(measurements, np.float64)
  if measurements.ndim != 3:
    raise ValueError(f"measurements must be [L, M, K], got shape {measurements.shape}.")
  num_labels, num_z, num_measurements = measurements.shape
  if num_labels < 2 or num_z < 3:
    raise ValueError(f"style_preservation needs L >= 2 labels and M >= 3 z-samples, "
                     f"got L={num_labels}, M={num_z}.")
  names = tuple(names) if names is not None else tuple(f"m{k}" for k in range(num_measurements))
  if len(names) != num_measurements:
    raise ValueError(f"Got {len(names)} names for K={num_measurements} measurements.")
  bad = degenerate_entries(measurements, names, rtol)
  cleaned = measurements.copy()
  for label, name in bad:
    cleaned[label, :, names.index(name)] = np.nan  # Every rho that involves it becomes nan.
  if bad:
    warnings.warn(
        "Style preservation is undefined where the decoder output does not vary with z: "
        f"(label, measurement) {bad} are constant or non-finite across z; SP is reported as "
        "NaN with degenerate=True.", RuntimeWarning, stacklevel=3)
  return names, cleaned, bad


def _ranked(x, axis):
  """Normalised ranks along `axis`, nan for a column with any nan."""
  normalised = _normalised_ranks(x, axis)
  return np.where(np.isnan(x).any(axis=axis, keepdims=True), np.nan, normalised)


def _bootstrap_sp(cleaned, num_bootstrap, seed, pairs):
  """SP_k of `num_bootstrap` resamples of the M columns of cleaned [L, M, K] -> [R, K].

  The resamples depend on (seed, L, M, K) only, so two grids of one shape resampled with one seed
  share their columns resample by resample (what `difference` relies on).
  """
  num_labels, num_z, num_measurements = cleaned.shape

  def resampled_sp(columns):  # int [R, M] -> SP_k of each resample, float [R, K]
    n = _ranked(cleaned[:, columns, :], 2)  # [L, R, M, K]
    return _pair_mean(np.einsum("irmk,jrmk->rkij", n, n), pairs)

  chunk = max(1, 200_000 // (num_labels * num_z * num_measurements))
  return stats.bootstrap_resamples(resampled_sp, num_z, num_bootstrap, seed, chunk)


def style_preservation(measurements, names: Optional[Sequence[str]] = None,
                       num_bootstrap: int = 1000, seed: int = 0,
                       confidence: float = 0.95, rtol: float = 1e-6,
                       pairs: Optional[np.ndarray] = None) -> StylePreservation:
  """SP of measurements of decoder means: the pure maths.

  Args:
    measurements: float [L, M, K], measurement k of mu_p(l, z_m); L >= 2, M >= 3.
    names: K measurement names (default "m0", "m1", ...).
    num_bootstrap: resamples of the M columns for the interval (0: no interval).
    seed: seeds the bootstrap.
    confidence: interval mass (percentile bootstrap).
    rtol: relative spread under which a (label, measurement) counts as constant.
    pairs: bool [L, L], the label pairs averaged (`label_pairs`; default every i != j). The pair
      matrix and rho always cover every pair.

  Returns:
    StylePreservation. Degenerate inputs give nan value, intervals and the
    affected per-measurement entries, with a warning.
  """
  names, cleaned, bad = _checked(measurements, names, rtol)
  num_labels, num_z, num_measurements = cleaned.shape
  normalised = _ranked(cleaned, 1)  # [L, M, K]
  rho = np.einsum("imk,jmk->kij", normalised, normalised)  # [K, L, L]
  per_measurement = _pair_mean(rho, pairs)  # [K]
  value = float(per_measurement.mean())

  interval = (float("nan"), float("nan"))
  per_measurement_interval = np.full((num_measurements, 2), np.nan)
  resamples = np.zeros((0,))
  if num_bootstrap > 0:
    samples = _bootstrap_sp(cleaned, num_bootstrap, seed, pairs)
    resamples = samples.mean(axis=1)
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)  # All-nan columns when degenerate.
      per_measurement_interval = stats.percentile_interval(samples, confidence)
      if not bad:
        interval = tuple(float(v) for v in stats.percentile_interval(resamples, confidence))
  return StylePreservation(
      value=value, interval=interval, per_measurement=per_measurement,
      per_measurement_interval=per_measurement_interval, pair_matrix=rho.mean(axis=0),
      rho=rho, names=names, degenerate=bool(bad), degenerate_entries=bad, num_z=num_z,
      resamples=resamples)


MIN_CORRECT_COLUMNS = 10  # fewer z columns read correctly under every label: SP on them undefined


@dataclasses.dataclass
class CorrectColumnsSP:
  """SP over the z columns whose images are all read as their intended labels.

  Attributes:
    sp: the StylePreservation of the kept columns (None when undefined).
    num_columns: columns kept (every label's image of the column read as that label).
    num_z: columns measured, M.
    columns: int [num_columns], the indices of the kept columns.
    undefined_reason: why SP on the kept columns is undefined ("" when it is defined).
  """
  sp: Optional[StylePreservation]
  num_columns: int
  num_z: int
  columns: np.ndarray
  undefined_reason: str


def correct_columns(correct) -> np.ndarray:
  """int [M'] indices of the columns of correct bool [L, M] that are correct under every label."""
  correct = np.asarray(correct, bool)
  if correct.ndim != 2:
    raise ValueError(f"correct must be [L, M] (label x z column), got shape {correct.shape}.")
  return np.nonzero(correct.all(axis=0))[0]


def style_preservation_on_correct(measurements, correct, names: Optional[Sequence[str]] = None,
                                  num_bootstrap: int = 1000, seed: int = 0,
                                  confidence: float = 0.95, rtol: float = 1e-6,
                                  min_columns: int = MIN_CORRECT_COLUMNS) -> CorrectColumnsSP:
  """SP of the z columns whose every image the classifier reads as its intended label.

  A wrong-class image has no style of the label it was asked for, yet raw SP correlates it with the
  others: this SP drops its whole column (the shared z), so every pair is compared on one set of z.

  Args:
    measurements: float [L, M, K], measurement k of mu_p(l, z_m).
    correct: bool [L, M], classifier(mu_p(l, z_m)) == l.
    names, num_bootstrap, seed, confidence, rtol: as `style_preservation` (the bootstrap resamples
      the kept columns).
    min_columns: fewer kept columns than this (or than 3) leave SP undefined.

  Returns:
    CorrectColumnsSP; with every column correct its sp equals `style_preservation` of all of them.
  """
  measurements = np.asarray(measurements, np.float64)
  correct = np.asarray(correct, bool)
  if correct.shape != measurements.shape[:2]:
    raise ValueError(f"correct must be [L, M] = {measurements.shape[:2]} like the measurements' "
                     f"first two axes, got {correct.shape}.")
  columns = correct_columns(correct)
  num_z = measurements.shape[1]
  needed = max(3, int(min_columns))
  if len(columns) < needed:
    return CorrectColumnsSP(None, len(columns), num_z, columns,
                            f"only {len(columns)} of {num_z} z columns are read as their intended "
                            f"label under every label (SP on correct samples needs {needed})")
  sp = style_preservation(measurements[:, columns], names, num_bootstrap, seed, confidence, rtol)
  return CorrectColumnsSP(sp, len(columns), num_z, columns, "")


@dataclasses.dataclass
class SPDifference:
  """SP(b) - SP(a) of two generators measured on the same z, with its paired interval.

  Attributes:
    value: the difference (nan when either grid is degenerate).
    interval: (low, high) percentile bootstrap interval; each resample draws one set of z columns
      and recomputes both SPs on it, so the interval covers the choice of z once, not twice.
  """
  value: float
  interval: Tuple[float, float]


def difference(sp_a: StylePreservation, sp_b: StylePreservation,
               confidence: float = 0.95) -> SPDifference:
  """SP(b) - SP(a) of two results on the same z, its interval from their shared resamples.

  Both must come from `style_preservation` with one seed and number of resamples on grids of one
  shape (then resample r of each used the same z columns).
  """
  if sp_a.num_z != sp_b.num_z or sp_a.resamples.shape != sp_b.resamples.shape:
    raise ValueError(f"difference needs two SPs on the same z with the same resamples, got "
                     f"{sp_a.num_z} and {sp_b.num_z} z, {len(sp_a.resamples)} and "
                     f"{len(sp_b.resamples)} resamples.")
  interval = (float("nan"), float("nan"))
  if len(sp_a.resamples) and not (sp_a.degenerate or sp_b.degenerate):
    interval = tuple(float(v) for v in stats.percentile_interval(
        sp_b.resamples - sp_a.resamples, confidence))
  return SPDifference(value=sp_b.value - sp_a.value, interval=interval)


@dataclasses.dataclass
class NullCorrectedSP:
  """ΔSP = SP(mu_p(y, z)) - mean over n fresh label-dependent rotations S_y of SP(mu_p(y, S_y z)).

  SP(mu_p(y, S_y z)) is the SP the same generator keeps when every label reads its own rotation
  of z: style carried by what no rotation changes (|z|), or by the images' shared look whatever z
  (an untrained decoder's grey noise). ΔSP is the part of SP owed to aligning the labels' z.

  Attributes:
    value: ΔSP (nan when degenerate).
    interval: (low, high) percentile bootstrap interval; each resample redraws the z columns
      (shared by every grid) and the n rotations (with replacement): `resampled` says so.
    sp: SP(mu_p(y, z)).
    null: mean over the n rotations of SP(mu_p(y, S_y z)).
    null_interval: (low, high), the same resamples.
    null_per_draw: float [n], SP of each rotation draw.
    num_draws: n.
    resampled: what the intervals resample.
  """
  value: float
  interval: Tuple[float, float]
  sp: float
  null: float
  null_interval: Tuple[float, float]
  null_per_draw: np.ndarray
  num_draws: int
  resampled: str = "z columns and rotation draws"


def null_corrected(measurements, null_measurements, names: Optional[Sequence[str]] = None,
                   num_bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95,
                   rtol: float = 1e-6) -> NullCorrectedSP:
  """ΔSP of a grid against the same generator under n fresh rotations: the pure maths.

  Args:
    measurements: float [L, M, K] of mu_p(l, z_m).
    null_measurements: float [n, L, M, K], draw k of mu_p(l, S^k_l z_m) on the same z_m.
    names, num_bootstrap, seed, confidence, rtol: as `style_preservation`; the z columns of
      resample r are those of every grid's own interval (one seed, one shape), and the rotation
      draws of resample r are redrawn from seed + 1 (`stats.resample_draws`).

  Returns:
    NullCorrectedSP (nan with a warning when a grid is degenerate).
  """
  measurements = np.asarray(measurements, np.float64)
  null_measurements = np.asarray(null_measurements, np.float64)
  if null_measurements.ndim != 4 or null_measurements.shape[1:] != measurements.shape:
    raise ValueError(f"null_measurements must be [n, L, M, K] with [L, M, K] = "
                     f"{measurements.shape}, got {null_measurements.shape}.")
  score = lambda m: style_preservation(m, names, num_bootstrap, seed, confidence, rtol)
  model = score(measurements)
  nulls = [score(m) for m in null_measurements]
  null_per_draw = np.array([n.value for n in nulls])
  interval = null_interval = (float("nan"), float("nan"))
  if num_bootstrap > 0 and not (model.degenerate or any(n.degenerate for n in nulls)):
    null_resamples = stats.resample_draws(np.stack([n.resamples for n in nulls]), seed + 1)
    interval = tuple(float(v) for v in stats.percentile_interval(
        model.resamples - null_resamples, confidence))
    null_interval = tuple(float(v) for v in stats.percentile_interval(null_resamples, confidence))
  null = float(null_per_draw.mean())
  return NullCorrectedSP(value=model.value - null, interval=interval, sp=model.value, null=null,
                         null_interval=null_interval, null_per_draw=null_per_draw,
                         num_draws=len(nulls))


def paired_difference(measurements_a, measurements_b, names: Optional[Sequence[str]] = None,
                      num_bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95,
                      rtol: float = 1e-6, pairs: Optional[np.ndarray] = None) -> SPDifference:
  """SP(b) - SP(a) with a paired bootstrap over the z columns the two grids share.

  Args:
    measurements_a, measurements_b: float [L, M, K] of two generators on the same z (column m of
      both is z_m), e.g. μ_p and μ'_p of one competition run.
    names, num_bootstrap, seed, confidence, rtol, pairs: as `style_preservation`; with the same
      seed the resamples are those of each one's own interval.

  Returns:
    SPDifference (nan with a warning when either grid is degenerate).
  """
  a = np.asarray(measurements_a, np.float64)
  b = np.asarray(measurements_b, np.float64)
  if a.shape != b.shape:
    raise ValueError(f"paired_difference needs two grids of one shape (the same labels, z and "
                     f"measurements), got {a.shape} and {b.shape}.")
  score = lambda m: style_preservation(m, names, num_bootstrap, seed, confidence, rtol, pairs)
  return difference(score(a), score(b), confidence)


def sample_style_grid(decode_mean: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
                      num_labels: int, num_z: int, latent_dim: int, seed: int) -> tf.Tensor:
  """Decodes M shared z ~ N(0, I) under every label.

  Args:
    decode_mean: (labels int32 [B], z float32 [B, D]) -> images float32 [B, H, W, C].
    num_labels, num_z, latent_dim: L, M, D.
    seed: seeds the z draw (the same seed gives the same z for any decoder).

  Returns:
    float32 [L, M, H, W, C]; images[l, m] = mu_p(l, z_m).
  """
  z = tf.random.stateless_normal([num_z, latent_dim], seed=[seed, 0])  # [M, D]
  return tf.stack([decode_mean(tf.fill([num_z], tf.constant(label, tf.int32)), z)
                   for label in range(num_labels)])


@functools.lru_cache(maxsize=None)
def _compiled_measure(names: Tuple[str, ...], jit_compile: bool, scale: int):
  return tf.function(functools.partial(morphometrics.measure_stack, names=names, scale=scale),
                     jit_compile=jit_compile, autograph=False)


def measure_grid(images, names: Sequence[str] = morphometrics.MEASUREMENTS,
                 batch_size: int = 256, jit_compile: bool = True, scale: int = 4) -> np.ndarray:
  """Morphometrics of a grid float [L, M, H, W, C] -> float [L, M, K], column k = names[k].

  Measures `batch_size` images at a time (the last batch padded), XLA-compiled
  unless jit_compile is False.
  """
  images = np.asarray(images, np.float32)
  num_labels, num_z = images.shape[:2]
  flat = images.reshape((num_labels * num_z,) + images.shape[2:])
  measure = _compiled_measure(tuple(names), jit_compile, scale)
  batch_size = min(batch_size, len(flat))
  out = []
  for start in range(0, len(flat), batch_size):
    batch = flat[start:start + batch_size]
    padded = np.concatenate([batch, np.repeat(batch[-1:], batch_size - len(batch), axis=0)])
    out.append(measure(padded).numpy()[:len(batch)])
  return np.concatenate(out).reshape(num_labels, num_z, len(names))


def sample_and_measure(decode_mean, num_labels: int, num_z: int, latent_dim: int, seed: int = 0,
                       names: Sequence[str] = morphometrics.MEASUREMENTS) -> np.ndarray:
  """Morphometrics float [L, M, K] of decode_mean's label x z grid on the z seeded by `seed`."""
  return measure_grid(sample_style_grid(decode_mean, num_labels, num_z, latent_dim, seed), names)


def compute_style_preservation(decode_mean, num_labels: int, num_z: int, latent_dim: int,
                               seed: int = 0,
                               names: Sequence[str] = morphometrics.MEASUREMENTS,
                               num_bootstrap: int = 1000) -> StylePreservation:
  """Samples the label x z grid, measures it and returns its SP (bootstrap seeded by `seed`)."""
  measurements = sample_and_measure(decode_mean, num_labels, num_z, latent_dim, seed, names)
  return style_preservation(measurements, names, num_bootstrap, seed)
