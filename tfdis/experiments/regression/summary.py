"""Summaries of the regression curves of paper Sec. 3 (Fig. 3) and the files that show them.

Per curve (held-out and training): the final loss, the steps to come `fraction` of the way to
it, the normalised area under the curve and under its early part (defined in the package docstring, `tfdis.experiments.regression`); over seeds:
means with 95% t intervals and sign-flip p-values of the paired differences (`summarise`). Then
curves.csv (`write_csv`) and regression.png in the layout of Fig. 3 (`plot_curves`).
"""
import os

import numpy as np

from tfdis import files
from tfdis.experiments.regression.config import PROBLEMS
from tfdis.experiments.regression.config import TARGETS
from tfdis.metrics import stats


def steps_to_fraction(steps, losses, fraction=0.9, final_window=3):
  """First evaluated step at which a curve has come `fraction` of the way to its final loss.

  Args:
    steps: int [E], increasing, steps[0] the initial evaluation.
    losses: float [E], the loss at those steps.
    fraction: f in (0, 1).
    final_window: k; L_final is the mean of the last k losses.

  Returns:
    min { steps[i] : losses[i] <= L0 - f (L0 - L_final) } as a float; nan if L_final >= L0 (the
    curve did not descend).
  """
  steps, losses = np.asarray(steps), np.asarray(losses, np.float64)
  initial, final = losses[0], losses[-final_window:].mean()
  if not final < initial:
    return float("nan")
  threshold = initial - fraction * (initial - final)
  return float(steps[np.argmax(losses <= threshold)])


def normalised_auc(steps, losses):
  """(1 / S) ∫_0^S L(s) ds / L(0) by the trapezoid rule: the mean loss relative to the start."""
  steps, losses = np.asarray(steps, np.float64), np.asarray(losses, np.float64)
  area = np.sum(np.diff(steps) * (losses[1:] + losses[:-1]) / 2)
  return float(area / (steps[-1] - steps[0]) / losses[0])


def final_loss(losses, final_window=3):
  """Mean of the last `final_window` losses."""
  return float(np.mean(np.asarray(losses, np.float64)[-final_window:]))


def _interval_summary(values):
  """Mean over seeds with its 95% t interval, and the per-seed values."""
  mean, interval = stats.t_interval(values)
  return {"mean": mean, "interval": list(interval), "per_seed": [float(v) for v in values]}


def early_auc(steps, losses, early_until):
  """`normalised_auc` over the evaluated steps in [0, early_until]: the early loss area."""
  steps = np.asarray(steps)
  keep = steps <= early_until
  return normalised_auc(steps[keep], np.asarray(losses, np.float64)[keep])


def _compare(values, name):
  """Both targets' per-seed values, their difference (entangled - disentangled) and its test."""
  difference = values["entangled"] - values["disentangled"]
  entry = {t: _interval_summary(values[t]) for t in TARGETS}
  entry["difference"] = _interval_summary(difference)
  alternative = "two-sided" if name == "final_loss" else "greater"
  test = (stats.sign_flip_test(difference, alternative)
          if np.all(np.isfinite(difference)) else stats.PValue(float("nan"), float("nan")))
  entry["p_value"], entry["p_value_floor"] = test
  entry["p_value_alternative"] = alternative
  if name == "final_loss":
    entry["ratio"] = _interval_summary(values["entangled"] / values["disentangled"])
  return entry


def summarise(steps, curves, seeds, fraction=0.9, final_window=3, early_until=0):
  """Per-problem summary of the curves over seeds (the numbers of regression.json).

  Args:
    steps: int [E] evaluated steps.
    curves: {(problem, target, split): {seed: float [E]}}, split 'heldout' or 'train'.
    seeds: the seeds, in the order the per-seed lists follow.
    fraction, final_window: see `steps_to_fraction`.
    early_until: the early window's last step for 'early_auc' (0: no early_auc).

  Returns:
    {problem: {'final_loss' | 'steps_to_fraction' | 'auc' | 'early_auc': {disentangled,
    entangled, difference (entangled - disentangled), p_value}, plus final_loss.ratio
    (entangled / disentangled), and 'train': the same for the training curves}}: the
    held-out curves' numbers at the top, the training curves' under 'train' (when present).
    'difference' and 'ratio' hold mean, 95% t interval over seeds and per-seed values; p_value is
    the sign-flip test over seeds of the differences, one-sided ("disentangled is faster", or
    lower) for speed and area and two-sided ("they differ") for final_loss, and p_value_floor the
    smallest p-value that test can give with this many seeds.
  """
  metrics = {
      "final_loss": lambda c: final_loss(c, final_window),
      "steps_to_fraction": lambda c: steps_to_fraction(steps, c, fraction, final_window),
      "auc": lambda c: normalised_auc(steps, c),
  }
  if early_until:
    metrics["early_auc"] = lambda c: early_auc(steps, c, early_until)

  def split_summary(problem, split):
    return {name: _compare({t: np.array([fn(curves[(problem, t, split)][s]) for s in seeds])
                            for t in TARGETS}, name)
            for name, fn in metrics.items()}

  summary = {}
  for problem in PROBLEMS:
    if (problem, "disentangled", "heldout") not in curves:
      continue
    summary[problem] = split_summary(problem, "heldout")
    if (problem, "disentangled", "train") in curves:
      summary[problem]["train"] = split_summary(problem, "train")
  return summary


def dose_response(results, metric="steps_to_fraction", split="heldout"):
  """The gap (entangled - disentangled) against the rotation fraction a, with a trend test.

  Args:
    results: regression.json dicts of runs alike but for --rotation_fraction (the angle sweep,
      flags/regress_angle_*.cfg), with the same seeds.
    metric: a metric of `summarise` (steps_to_fraction, auc, early_auc, final_loss).
    split: heldout or train.

  Returns:
    {problem: {'fractions': sorted a, 'distance': mean ‖T_y^a - I‖_F per a, 'gap': per a, the
    mean difference over seeds with its 95% t interval, 'seed_trend': per seed, Spearman's
    correlation of its gap with a (0 where the gap does not vary), their mean, and the one-sided
    sign-flip test over seeds of "the gap grows with a", with its floor}}.
  """
  results = sorted(results, key=lambda r: r["rotation_fraction"])
  fractions = [r["rotation_fraction"] for r in results]
  out = {}
  for problem in PROBLEMS:
    if not all(problem in r and (split == "heldout" or "train" in r[problem]) for r in results):
      continue
    pick = lambda r: r[problem] if split == "heldout" else r[problem]["train"]
    gaps = np.array([pick(r)[metric]["difference"]["per_seed"] for r in results])  # [A, seeds]
    trends = np.nan_to_num([stats.spearman(fractions, gaps[:, k]) for k in range(gaps.shape[1])])
    test = stats.sign_flip_test(trends, "greater")
    out[problem] = {
        "fractions": fractions,
        "distance": [float(np.mean(r["transform_distance"])) for r in results],
        "gap": [_interval_summary(g) for g in gaps],
        "seed_trend": dict(_interval_summary(trends), p_value=test.p_value,
                           p_value_floor=test.floor, p_value_alternative="greater")}
  return out


def choose_learning_rates(folder):
  """Each problem's step size from a sweep: the lowest DISENTANGLED held-out final loss.

  Args:
    folder: holds one binaries.regress workdir per step size, named lr_<value>; a workdir without
      regression.json (diverged, unfinished) has no loss and cannot be chosen.

  Returns:
    {'losses': {lr: {problem: mean disentangled held-out final loss or None}}, 'chosen':
    {problem: lr}}. The entangled target is never read, so it cannot steer the choice.
  """
  losses = {}
  for name in sorted(os.listdir(folder)):
    if name.startswith("lr_"):
      result = files.read_json(os.path.join(folder, name, "regression.json")) or {}
      losses[float(name[3:])] = {
          p: result[p]["final_loss"]["disentangled"]["mean"] if p in result else None
          for p in PROBLEMS}
  chosen = {}
  for problem in PROBLEMS:
    finite = {lr: v[problem] for lr, v in losses.items()
              if v[problem] is not None and np.isfinite(v[problem])}
    chosen[problem] = min(finite, key=finite.get) if finite else None
  return {"losses": losses, "chosen": chosen}


# ---------------------------------------------------------------------------------------------
# Outputs.


def write_csv(path, steps, curves):
  """curves.csv: one row per (problem, target, seed, step, split) with its loss."""
  rows = [[problem, target, seed, int(step), split, repr(float(loss))]
          for (problem, target, split), per_seed in sorted(curves.items())
          for seed, losses in sorted(per_seed.items())
          for step, loss in zip(steps, losses)]
  files.write_csv(path, ["problem", "target", "seed", "step", "split", "loss"], rows)


def plot_curves(path, steps, curves, title="", early_until=0):
  """regression.png in the layout of Fig. 3: loss vs step, one panel per problem.

  Solid lines: held-out loss; dashed: training loss (when recorded). Lines are means over seeds;
  bands span the seeds' minimum to maximum of the held-out loss. With `early_until`, a second row
  shows steps [0, early_until] on a linear axis.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  problems = [p for p in PROBLEMS if (p, "disentangled", "heldout") in curves]
  rows = 2 if early_until else 1
  fig, axes = plt.subplots(rows, len(problems), figsize=(5 * len(problems), 3.8 * rows),
                           squeeze=False)
  ylabels = {"encoder": "MSE of μ_q (per dim)", "decoder": "-ln p(x | y, z) (nats)"}
  steps = np.asarray(steps)
  for row in range(rows):
    keep = steps <= early_until if row else np.ones(len(steps), bool)
    for ax, problem in zip(axes[row], problems):
      for target, colour in zip(TARGETS, ("tab:blue", "tab:red")):
        code = "z" if target == "disentangled" else "T_y z"
        stack = np.stack(list(curves[(problem, target, "heldout")].values()))[:, keep]  # [seeds, E]
        ax.plot(steps[keep], stack.mean(0), color=colour, label=f"{target}: {code}, held-out")
        ax.fill_between(steps[keep], stack.min(0), stack.max(0), color=colour, alpha=0.25,
                        linewidth=0)
        if (problem, target, "train") in curves:
          train = np.stack(list(curves[(problem, target, "train")].values()))[:, keep]
          ax.plot(steps[keep], train.mean(0), color=colour, linestyle="--",
                  label=f"{target}: {code}, training")
      ax.set_yscale("log")
      ax.set_xlabel("training step")
      ax.set_ylabel(ylabels[problem])
      ax.set_title(f"{problem}, steps 0-{early_until}" if row else problem)
      ax.legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  with files.whole_file(path) as tmp:
    fig.savefig(tmp, dpi=120)
  plt.close(fig)
