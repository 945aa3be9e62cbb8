"""Every confidence interval and test of the library, each saying what it is taken over.

```none
wilson_interval        binomial proportion k / n (examples: decoded samples, or decisive runs)
normal_interval        mean of N examples, mean ± z_0.975 s / sqrt(N)
t_interval             mean of n seeds, mean ± t_{0.975, n-1} s / sqrt(n)
bootstrap_resamples    a statistic recomputed on items drawn with replacement (SP: the z columns)
percentile_interval    the central mass of bootstrap resamples
sign_flip_test         paired differences over n seeds, H0 "symmetric about 0"; exact for small n
sign_test              signs of paired differences over n seeds, H0 "each sign 1/2"; exact binomial
holm                   Holm's step-down adjustment of m p-values (family-wise error over m tests)
trend_test             ordered groups of seeds (e.g. layers), Jonckheere-Terpstra, H0 "no order"
format_p               how every p-value and floor is printed
```

Every test returns its p-value with the smallest p-value it can return for its n (`PValue`): an
exact one-sided sign-flip test over n seeds cannot go below 1 / 2^n, so with 3 seeds p = 0.125 is
the strongest evidence it can give. All intervals are 95% unless asked otherwise; numpy only.
"""
import itertools
import math
from typing import Callable, NamedTuple, Tuple

import numpy as np

Z975 = 1.959964  # The standard normal's 97.5% quantile.
# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (then Z975).
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060,
        2.056, 2.052, 2.048, 2.045, 2.042)


class PValue(NamedTuple):
  """A test's p-value and the smallest p-value that test can return for its n (its floor)."""
  p_value: float
  floor: float


def wilson_interval(successes, trials, z: float = Z975) -> np.ndarray:
  """Wilson score interval of the binomial proportion successes / trials.

  The proportion is over independent trials: decoded samples a classifier reads (LP), or
  decisive runs of a competition (win rate). Arrays broadcast.

  Args:
    successes, trials: numbers or arrays of counts; trials of 0 give (nan, nan).
    z: the normal quantile (default: 95%).

  Returns:
    float64 [..., 2]: (low, high), clipped to [0, 1].
  """
  successes = np.asarray(successes, np.float64)
  trials = np.asarray(trials, np.float64)
  with np.errstate(invalid="ignore", divide="ignore"):
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denominator
    half = z * np.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denominator
  return np.stack([np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)], axis=-1)


def normal_interval(values) -> Tuple[float, Tuple[float, float]]:
  """Mean of per-example values [N] with its 95% normal interval, mean ± Z975 s / sqrt(N).

  For many examples (a test set's per-example ELBO); the interval is nan for N < 2.

  Returns:
    (mean, (low, high)).
  """
  values = np.asarray(values, np.float64)
  mean = values.mean()
  half = Z975 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
  return mean, (mean - half, mean + half)


def t_interval(values, quantiles=T975) -> Tuple[float, Tuple[float, float]]:
  """Mean of per-seed values [n] with its 95% Student-t interval, mean ± t s / sqrt(n).

  For few independent runs (seeds); t = quantiles[n - 2] (n - 1 degrees of freedom), Z975 beyond
  the table. The interval is nan for n < 2.

  Returns:
    (mean, (low, high)).
  """
  values = np.asarray(values, np.float64)
  mean = float(values.mean())
  n = len(values)
  if n < 2:
    return mean, (float("nan"), float("nan"))
  t = quantiles[n - 2] if n - 1 <= len(quantiles) else Z975
  half = t * values.std(ddof=1) / math.sqrt(n)
  return mean, (mean - half, mean + half)


def mean_over_runs(values) -> dict:
  """{"value", "interval"} of per-run values [n] (seeds, initialisations): the mean of the finite
  ones with its 95% t interval; value None when none is finite, interval [None, None] below two."""
  finite = [float(v) for v in values if v is not None and np.isfinite(v)]
  if not finite:
    return {"value": None, "interval": [None, None]}
  mean, (low, high) = t_interval(finite)
  return {"value": mean, "interval": [low, high] if len(finite) > 1 else [None, None]}


def welch_interval(a, b, quantiles=T975) -> Tuple[float, Tuple[float, float]]:
  """Difference of means mean(a) - mean(b) of two groups of seeds with its 95% Welch t interval.

  Half-width t * sqrt(s_a^2 / n_a + s_b^2 / n_b), t at the Welch-Satterthwaite degrees of freedom
  rounded down (conservative; at least 1). The interval is nan when either group has < 2 values.

  Returns:
    (difference, (low, high)).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  difference = float(a.mean() - b.mean())
  if len(a) < 2 or len(b) < 2:
    return difference, (float("nan"), float("nan"))
  va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
  if va + vb == 0:
    return difference, (difference, difference)
  df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
  df = max(1, int(math.floor(df + 1e-9)))  # 3.0 computed as 2.9999... is 3
  t = quantiles[df - 1] if df <= len(quantiles) else Z975
  half = t * math.sqrt(va + vb)
  return difference, (difference - half, difference + half)


def bootstrap_resamples(statistic: Callable[[np.ndarray], np.ndarray], num_items: int,
                        num_resamples: int, seed: int, chunk: int) -> np.ndarray:
  """A statistic recomputed on `num_resamples` resamples of `num_items` items, with replacement.

  The items are whatever the caller indexes: SP resamples the M shared z (the columns of its
  label x z grid), so its interval covers the choice of z, not the choice of model.

  Args:
    statistic: indices int [R, num_items] -> float [R, ...], the statistic of each resample.
    num_items: n, the number of items resampled.
    num_resamples: R in total.
    seed: seeds numpy's default_rng; resamples are drawn `chunk` at a time, in order.
    chunk: resamples per call of `statistic` (bounds its memory).

  Returns:
    float [num_resamples, ...].
  """
  rng = np.random.default_rng(seed)
  samples = []
  for start in range(0, num_resamples, chunk):
    size = min(chunk, num_resamples - start)
    samples.append(statistic(rng.integers(0, num_items, size=(size, num_items))))
  return np.concatenate(samples)


def percentile_interval(samples, confidence: float = 0.95, axis: int = 0) -> np.ndarray:
  """Central `confidence` mass of resamples along `axis` (nan samples ignored) -> [..., 2]."""
  alpha = 100.0 * (1.0 - confidence) / 2.0
  return np.moveaxis(np.nanpercentile(samples, [alpha, 100.0 - alpha], axis=axis), 0, -1)


def sign_flip_test(differences, alternative: str = "greater", max_exact: int = 16,
                   num_random: int = 65536, seed: int = 0) -> PValue:
  """Permutation test of paired differences d [n] (one per seed) under H0 "d is symmetric about 0".

  Under H0 each of the 2^n sign patterns of d is equally likely; the statistic is mean(d). For
  alternative 'greater' the p-value is the fraction of patterns whose mean is >= the observed
  mean; 'two-sided' compares |mean|. The observed pattern is counted, so the floor is 1 / 2^n
  ('greater') or 2 / 2^n ('two-sided', the mirrored pattern ties). Exact for n <= max_exact;
  otherwise estimated from `num_random` seeded random patterns (the first one the observed), with
  floor 1 / num_random.

  Returns:
    PValue(p_value, floor).
  """
  d = np.asarray(differences, np.float64)
  n = len(d)
  if n <= max_exact:
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))  # [2^n, n]
    floor = (1.0 if alternative == "greater" else 2.0) / len(signs)
  else:
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(num_random, n))
    signs[0] = 1.0
    floor = 1.0 / num_random
  means = signs @ d / n
  observed = d.mean()
  tolerance = 1e-12 * max(1.0, float(np.abs(d).max()))
  if alternative == "greater":
    hits = means >= observed - tolerance
  elif alternative == "two-sided":
    hits = np.abs(means) >= abs(observed) - tolerance
  else:
    raise ValueError(f"alternative={alternative!r} is not 'greater' or 'two-sided'.")
  return PValue(float(hits.mean()), min(floor, 1.0))


def format_p(p) -> str:
  """A p-value (or floor) as text, 3 significant digits: '0.375', '0.0625', '1.91e-06', 'n/a'.

  Fixed decimals would print the 20-seed two-sided floor 2 / 2^20 as 0.000, hiding the number a
  reader needs to weigh the test.
  """
  return "n/a" if p is None else f"{p:.3g}"


def sign_test(differences, alternative: str = "two-sided") -> PValue:
  """Exact sign test of paired differences d [n] (one per seed): H0 "d > 0 and d < 0 equally likely".

  Zeros are dropped (n' = number of non-zero d, k = number of d > 0); under H0 k ~ Binomial(n', 1/2).
  'greater': p = P(K >= k); 'less': p = P(K <= k); 'two-sided': p = min(1, 2 min(P(K >= k),
  P(K <= k))). The floor is the p-value of the most extreme outcome: 1 / 2^n' one-sided, 2 / 2^n'
  two-sided (1 when n' = 0: no evidence either way).

  Returns:
    PValue(p_value, floor).
  """
  d = np.asarray(differences, np.float64)
  d = d[np.isfinite(d) & (d != 0)]
  n, k = len(d), int((d > 0).sum())
  pmf = np.array([math.comb(n, i) for i in range(n + 1)], np.float64) / 2.0 ** n
  upper, lower = float(pmf[k:].sum()), float(pmf[:k + 1].sum())
  if alternative == "greater":
    return PValue(upper, 1.0 / 2 ** n)
  if alternative == "less":
    return PValue(lower, 1.0 / 2 ** n)
  if alternative == "two-sided":
    return PValue(min(1.0, 2.0 * min(upper, lower)), min(1.0, 2.0 / 2 ** n))
  raise ValueError(f"alternative={alternative!r} is not 'greater', 'less' or 'two-sided'.")


def holm(p_values):
  """Holm's step-down adjusted p-values of m tests (family-wise error rate at any level).

  The p-values sorted ascending, p_(1) <= ... <= p_(m), are adjusted to
  max_{j <= i} min(1, (m - j + 1) p_(j)) and returned in the input's order; a test is rejected at
  level alpha when its adjusted p-value is <= alpha. None entries (untested) stay None and do not
  count in m.

  Returns:
    list of adjusted p-values (floats, or None).
  """
  indexed = [(p, i) for i, p in enumerate(p_values) if p is not None]
  m = len(indexed)
  adjusted = [None] * len(p_values)
  running = 0.0
  for rank, (p, i) in enumerate(sorted(indexed)):
    running = max(running, min(1.0, (m - rank) * p))
    adjusted[i] = running
  return adjusted


def jonckheere_statistic(groups) -> float:
  """J = sum over ordered pairs of groups g < h of #(x_g < x_h) + #(x_g = x_h) / 2."""
  total = 0.0
  for g in range(len(groups)):
    for h in range(g + 1, len(groups)):
      a = np.asarray(groups[g], np.float64)[:, None]
      b = np.asarray(groups[h], np.float64)[None, :]
      total += float((a < b).sum()) + 0.5 * float((a == b).sum())
  return total


def trend_test(groups, alternative: str = "increasing", num_random: int = 20000,
               seed: int = 0) -> PValue:
  """Jonckheere-Terpstra test of an ordered alternative over groups of independent runs.

  groups: a list of k groups in their order (e.g. the split layer l-0, l-1, l-2, l-3), each the
  per-seed values of that group; the unit is the seed. H0: every value is exchangeable across
  groups (no effect of the order); 'increasing' tests for values growing along the order,
  'decreasing' for values falling. The p-value is a permutation p-value over `num_random` seeded
  random reassignments of the pooled values to groups of the same sizes, counted as
  (1 + #{J* >= J}) / (1 + num_random), so its floor is 1 / (1 + num_random).

  Returns:
    PValue(p_value, floor).
  """
  if alternative not in ("increasing", "decreasing"):
    raise ValueError(f"alternative={alternative!r} is not 'increasing' or 'decreasing'.")
  groups = [np.asarray(g, np.float64) for g in groups]
  if alternative == "decreasing":
    groups = [-g for g in groups]
  sizes = np.cumsum([len(g) for g in groups])[:-1]
  pooled = np.concatenate(groups)
  observed = jonckheere_statistic(groups)
  rng = np.random.default_rng(seed)
  hits = 0
  for _ in range(num_random):
    hits += jonckheere_statistic(np.split(rng.permutation(pooled), sizes)) >= observed - 1e-9
  return PValue((1.0 + hits) / (1.0 + num_random), 1.0 / (1.0 + num_random))
