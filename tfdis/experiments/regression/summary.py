"""Summaries of the regression curves of paper Sec. 3 (Fig. 3) and the files that show them.

Per curve: the final loss, the steps to come `fraction` of the way to it, and the normalised area
under the curve (defined in the package docstring, `tfdis.experiments.regression`); over seeds:
means with 95% t intervals and sign-flip p-values of the paired differences (`summarise`). Then
curves.csv (`write_csv`) and regression.png in the layout of Fig. 3 (`plot_curves`).
"""
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


def summarise(steps, curves, seeds, fraction=0.9, final_window=3):
  """Per-problem summary of held-out curves over seeds (the numbers of regression.json).

  Args:
    steps: int [E] evaluated steps.
    curves: {(problem, target, 'heldout'): {seed: float [E]}} (other splits are ignored).
    seeds: the seeds, in the order the per-seed lists follow.
    fraction, final_window: see `steps_to_fraction`.

  Returns:
    {problem: {'final_loss' | 'steps_to_fraction' | 'auc': {disentangled, entangled, difference
    (entangled - disentangled), p_value}, plus final_loss.ratio (entangled / disentangled)}}.
    'difference' and 'ratio' hold mean, 95% t interval over seeds and per-seed values; p_value is
    the sign-flip test over seeds of the differences, one-sided ("disentangled is faster") for
    speed and two-sided ("they differ") for final_loss, and p_value_floor the smallest p-value
    that test can give with this many seeds.
  """
  metrics = {
      "final_loss": lambda c: final_loss(c, final_window),
      "steps_to_fraction": lambda c: steps_to_fraction(steps, c, fraction, final_window),
      "auc": lambda c: normalised_auc(steps, c),
  }
  summary = {}
  for problem in PROBLEMS:
    if (problem, "disentangled", "heldout") not in curves:
      continue
    out = {}
    for name, fn in metrics.items():
      values = {t: np.array([fn(curves[(problem, t, "heldout")][s]) for s in seeds])
                for t in TARGETS}
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
      out[name] = entry
    summary[problem] = out
  return summary


# ---------------------------------------------------------------------------------------------
# Outputs.


def write_csv(path, steps, curves):
  """curves.csv: one row per (problem, target, seed, step, split) with its loss."""
  rows = [[problem, target, seed, int(step), split, repr(float(loss))]
          for (problem, target, split), per_seed in sorted(curves.items())
          for seed, losses in sorted(per_seed.items())
          for step, loss in zip(steps, losses)]
  files.write_csv(path, ["problem", "target", "seed", "step", "split", "loss"], rows)


def plot_curves(path, steps, curves, title=""):
  """regression.png in the layout of Fig. 3: held-out loss vs step, one panel per problem.

  Lines are means over seeds; bands span the seeds' minimum to maximum.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  problems = [p for p in PROBLEMS if (p, "disentangled", "heldout") in curves]
  fig, axes = plt.subplots(1, len(problems), figsize=(5 * len(problems), 3.8), squeeze=False)
  ylabels = {"encoder": "held-out MSE of μ_q (per dim)",
             "decoder": "held-out -ln p(x | y, z) (nats)"}
  for ax, problem in zip(axes[0], problems):
    for target, colour in zip(TARGETS, ("tab:blue", "tab:red")):
      stack = np.stack(list(curves[(problem, target, "heldout")].values()))  # [seeds, E]
      label = "disentangled: z" if target == "disentangled" else "entangled: T_y z"
      ax.plot(steps, stack.mean(0), color=colour, label=label)
      ax.fill_between(steps, stack.min(0), stack.max(0), color=colour, alpha=0.25, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabels[problem])
    ax.set_title(f"{problem}")
    ax.legend()
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  with files.whole_file(path) as tmp:
    fig.savefig(tmp, dpi=120)
  plt.close(fig)

