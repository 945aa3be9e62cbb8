"""The win-rate table of a competition sweep (App. B): verdicts, lean, typical runs, figures.

Per condition, over its n seeds (each seed one independent run, the unit of every interval here):

```none
encoder / decoder / inconclusive   counts (re-judged with the thresholds of this call, so changing
                                   them needs no retraining), each a proportion of n with its
                                   Wilson 95% interval
encoder win rate                   encoder wins / decisive runs (Wilson over decisive runs), and
                                   encoder wins / n (Wilson over all runs)
majority verdict                   the most common verdict ('tie' when two share the top count)
lean                               the side the Δ = SP(μ'_p) - SP(μ_p) of most seeds points to
                                   (Δ > 0: encoder), with the exact two-sided sign test over seeds
                                   (floor 2 / 2^n) and the mean Δ with its t interval over seeds
```

with the median SPs, the paper's verdict (or a pipeline check's required one) and whether the
majority agrees, and the typical run whose label x z grids of μ_p (top) and μ'_p (bottom) are
drawn in the layout of Figs. 5, 6 (pair_matrices.png: its label-pair SP matrices). Runs judged during training (--judge_at_steps) add
trajectory.png: SP(μ_p), SP(μ'_p) and Δ against steps, per seed and their median, per condition.
`threshold_sensitivity` re-judges a condition's final judgements at other (tau_lo, tau_hi) pairs.
"""
import collections
import os
import types

import numpy as np

from tfdis import grids
from tfdis import files
from tfdis.errors import UsageError
from tfdis.experiments.competition import conditions
from tfdis.experiments.competition import judging
from tfdis.metrics import stats
from tfdis.metrics import style_preservation

# The thresholds at which `threshold_sensitivity` re-judges every run, around the library's one
# pair (SP_NOT_PRESERVING, SP_PRESERVING): how much of a verdict rests on where the lines are drawn.
SENSITIVITY_TAU_LO = (0.1, style_preservation.SP_NOT_PRESERVING, 0.3)
SENSITIVITY_TAU_HI = (0.3, 0.4, style_preservation.SP_PRESERVING, 0.6)


def _sp_value(run, key):
  value = run[key]["value"]
  return float("nan") if value is None else value


def _median_directions(run):
  """The median over labels of a run's active directions per label (None if not measured)."""
  per_label = [d for d in ((run.get("latent") or {}).get("active_directions_per_label") or [])
               if d is not None]
  return float(np.median(per_label)) if per_label else None


def typical_run(runs):
  """The run of the most common verdict nearest that verdict's median SPs (lowest seed on ties)."""
  counts = collections.Counter(r["verdict"] for r in runs)
  top = max(judging.VERDICTS, key=lambda v: (counts[v], -judging.VERDICTS.index(v)))
  chosen = [r for r in runs if r["verdict"] == top]
  point = lambda r: np.nan_to_num([_sp_value(r, "sp_mu"), _sp_value(r, "sp_mu_prime")])
  centre = np.median([point(r) for r in chosen], axis=0)
  return min(chosen, key=lambda r: (float(np.abs(point(r) - centre).sum()), r["seed"]))


def run_grids(workdir, condition, seed):
  """One run's tiled label x z grid of μ_p above that of μ'_p: float32 [H, W, C] in [0, 1]."""
  with np.load(conditions.grids_path(workdir, condition, seed)) as g:
    top, bottom = grids.tile(g["mu"] / 255.0), grids.tile(g["mu_prime"] / 255.0)
  return np.concatenate([top, np.ones((6,) + top.shape[1:], np.float32), bottom])


def _proportion(count, total):
  interval = stats.wilson_interval(count, total)
  return {"count": count, "proportion": files.finite_or_none(count / total if total else None),
          "interval": [files.finite_or_none(v) for v in interval]}


def majority_verdict(counts):
  """The most common verdict of a Counter, or 'tie' when two verdicts share the top count."""
  ranked = sorted(judging.VERDICTS, key=lambda v: -counts[v])
  return "tie" if counts[ranked[0]] == counts[ranked[1]] else ranked[0]


def lean(deltas):
  """{side, positive, negative, p_value, p_floor, mean, interval} of per-seed Δ [n].

  side is 'encoder' when more seeds have Δ > 0, 'decoder' when more have Δ < 0, else 'none';
  p is the exact two-sided sign test over seeds (`tfdis.metrics.stats.sign_test`).
  """
  d = np.asarray([x for x in deltas if x is not None], np.float64)
  positive, negative = int((d > 0).sum()), int((d < 0).sum())
  p = stats.sign_test(d)
  mean, interval = stats.t_interval(d) if len(d) else (float("nan"), (float("nan"),) * 2)
  return {"side": "encoder" if positive > negative else "decoder" if negative > positive else "none",
          "positive": positive, "negative": negative, "p_value": p.p_value, "p_floor": p.floor,
          "mean": files.finite_or_none(mean),
          "interval": [files.finite_or_none(v) for v in interval]}


def condition_summary(config, variant, runs):
  """The table row of one condition from its judged runs."""
  counts = collections.Counter(r["verdict"] for r in runs)
  decisive = counts["encoder"] + counts["decoder"]
  interval = stats.wilson_interval(counts["encoder"], decisive)
  typical = typical_run(runs)
  median = lambda key: files.finite_or_none(np.nanmedian([_sp_value(r, key) for r in runs]))
  expected = conditions.expected_verdict(config.transform, variant)
  majority = majority_verdict(counts)
  return {
      "runs": len(runs), "encoder_wins": counts["encoder"], "decoder_wins": counts["decoder"],
      "inconclusive": counts["inconclusive"],
      "proportions": {v: _proportion(counts[v], len(runs)) for v in judging.VERDICTS},
      "encoder_win_rate": (files.finite_or_none(counts["encoder"] / decisive) if decisive
                           else None),
      "encoder_win_rate_interval": [files.finite_or_none(v) for v in interval],
      "encoder_win_rate_all_runs": _proportion(counts["encoder"], len(runs)),
      "majority_verdict": majority,
      "lean": lean([r["delta"]["value"] for r in runs]),
      "expected_verdict": expected,
      "expected_from": ("paper" if (config.transform, variant) in conditions.PAPER_VERDICTS
                        else "pipeline check" if expected else None),
      "agrees": None if expected is None else majority == expected,
      "median_sp_mu": median("sp_mu"), "median_sp_mu_prime": median("sp_mu_prime"),
      "median_delta": median("delta"),
      "median_sp_rotation_invariant": median("sp_rotation_invariant"),
      "median_active_units": files.finite_or_none(np.median(
          [r["latent"]["active_units"] for r in runs if r.get("latent")] or [np.nan])),
      "median_active_directions_per_label": files.finite_or_none(np.median(
          [d for d in map(_median_directions, runs) if d is not None] or [np.nan])),
      "median_sp_per_measurement": {
          key: {name: files.finite_or_none(np.nanmedian(
              [np.nan if r[key]["per_measurement"][name]["value"] is None
               else r[key]["per_measurement"][name]["value"] for r in runs]))
                for name in runs[0][key]["per_measurement"]}
          for key in ("sp_mu", "sp_mu_prime")},
      "typical_seed": typical["seed"],
      "typical_pair_matrices": {key: typical[key]["pair_matrix"]
                                for key in ("sp_mu", "sp_mu_prime")},
      "per_seed": {str(r["seed"]): {"verdict": r["verdict"],
                                    "sp_mu": r["sp_mu"]["interval"],
                                    "sp_mu_prime": r["sp_mu_prime"]["interval"],
                                    "delta": r["delta"]["interval"]}
                   for r in runs},
      "trajectory": {str(r["seed"]): r.get("trajectory", []) for r in runs}}


def threshold_sensitivity(condition, min_label_preservation, tau_lo=SENSITIVITY_TAU_LO,
                          tau_hi=SENSITIVITY_TAU_HI):
  """A condition's verdict counts with its runs re-judged at every (tau_lo, tau_hi) pair.

  Each run is judged on its final judgement, the last point of its trajectory (the SP intervals
  of μ_p and μ'_p and LP of μ_p at the end of training), with the LP gate held at
  `min_label_preservation`; no run is trained or measured again.

  Args:
    condition: a row of the table (`condition_summary`), with its runs' trajectories.
    min_label_preservation: the LP gate (the table's rule).
    tau_lo, tau_hi: the thresholds to cross; pairs with tau_lo > tau_hi are left out.

  Returns:
    dict: pairs, [{tau_lo, tau_hi, encoder, decoder, inconclusive, majority}] in the order of
    tau_lo then tau_hi; lowest_lp, the smallest final LP of any run (None without the gate).
  """
  finals = [points[-1] for points in condition["trajectory"].values() if points]
  if len(finals) != condition["runs"]:
    raise UsageError(f"{condition['runs'] - len(finals)} of the condition's {condition['runs']} "
                     "runs have no final judgement in the table's trajectories (a table written "
                     "before results kept them); aggregate the sweep again with this code.")
  pairs = []
  for lo in tau_lo:
    for hi in tau_hi:
      if lo > hi:
        continue
      rule = types.SimpleNamespace(tau_lo=lo, tau_hi=hi,
                                   min_label_preservation=min_label_preservation)
      counts = collections.Counter(judging.run_verdict(point, rule) for point in finals)
      pairs.append({"tau_lo": lo, "tau_hi": hi, **{v: counts[v] for v in judging.VERDICTS},
                    "majority": majority_verdict(counts)})
  lps = [point["lp"]["value"] for point in finals if point.get("lp")]
  return {"pairs": pairs, "lowest_lp": files.finite_or_none(min(lps)) if lps else None}


def plot_trajectories(table, path):
  """trajectory.png: per condition, SP(μ_p), SP(μ'_p) and Δ against steps (seeds thin, median)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  names = list(table["conditions"])
  fig, axes = plt.subplots(1, len(names), squeeze=False, sharey=True,
                           figsize=(4.2 * len(names), 3.6))
  for ax, name in zip(axes[0], names):
    series = table["conditions"][name]["trajectory"].values()
    for key, colour, label in (("sp_mu", "tab:blue", "SP μ_p"),
                               ("sp_mu_prime", "tab:orange", "SP μ'_p"),
                               ("delta", "tab:green", "Δ = SP μ'_p - SP μ_p")):
      by_step = collections.defaultdict(list)
      for points in series:
        xs = [p["steps"] for p in points if p[key]["value"] is not None]
        ys = [p[key]["value"] for p in points if p[key]["value"] is not None]
        ax.plot(xs, ys, color=colour, alpha=0.25, linewidth=0.8)
        for x, y in zip(xs, ys):
          by_step[x].append(y)
      steps = sorted(by_step)
      ax.plot(steps, [np.median(by_step[x]) for x in steps], color=colour, marker="o",
              markersize=3, label=label)
    ax.axhline(table["rule"]["tau_hi"], color="grey", linestyle=":", linewidth=0.8)
    ax.axhline(table["rule"]["tau_lo"], color="grey", linestyle=":", linewidth=0.8)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("training steps")
  axes[0][0].set_ylabel("SP / Δ (median of seeds, bold)")
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  with files.whole_file(path) as tmp:
    fig.savefig(tmp, dpi=100, metadata={"Software": None})
  plt.close(fig)


def plot_pair_matrices(table, path):
  """pair_matrices.png: per condition, the typical run's label-pair SP matrices of μ_p, μ'_p."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  names = list(table["conditions"])
  fig, axes = plt.subplots(2, len(names), squeeze=False, figsize=(3.2 * len(names), 6.2))
  for column, name in enumerate(names):
    c = table["conditions"][name]
    for row, (key, label) in enumerate((("sp_mu", "μ_p"), ("sp_mu_prime", "μ'_p"))):
      matrix = np.array([[np.nan if v is None else v for v in r]
                         for r in c["typical_pair_matrices"][key]])
      ax = axes[row][column]
      image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
      ax.set_title(f"{name} seed {c['typical_seed']}\n{label}: rank correlation of labels i, j",
                   fontsize=7)
      ax.set_xticks(range(len(matrix)))
      ax.set_yticks(range(len(matrix)))
      ax.tick_params(labelsize=6)
  fig.colorbar(image, ax=axes, shrink=0.6)
  with files.whole_file(path) as tmp:
    fig.savefig(tmp, dpi=100, metadata={"Software": None})
  plt.close(fig)


def aggregate(config, workdir):
  """Reads every result of the sweep; writes winrate.json, winrate.md, winrate.png (+ trajectory)."""
  table = {"transform": config.transform, "rule": {"tau_lo": config.tau_lo,
                                                   "tau_hi": config.tau_hi,
                                                   "min_label_preservation":
                                                       config.min_label_preservation},
           "seeds": config.seed_list(), "sweep": config.defining(), "conditions": {}}
  missing, columns = [], []
  for variant in config.variants():
    condition = conditions.condition_name(config.transform, variant)
    runs = []
    for seed in config.seed_list():
      path = conditions.result_path(workdir, condition, seed)
      if not os.path.exists(path):
        missing.append((condition, seed))
        continue
      run = files.read_json(path)
      run["verdict"] = judging.run_verdict(run, config)  # the thresholds of this call
      runs.append(run)
    if not runs:
      continue
    table["conditions"][condition] = condition_summary(config, variant, runs)
    columns.append(run_grids(workdir, condition, table["conditions"][condition]["typical_seed"]))
  if missing:
    raise UsageError(f"{len(missing)} (condition, seed) results are missing from {workdir}, "
                     f"e.g. {missing[0]}; run the remaining shards (or drop --aggregate) first.")
  files.write_json(os.path.join(workdir, "winrate.json"), table)
  files.write_text(os.path.join(workdir, "winrate.md"), markdown_table(table))
  figure = columns[0]
  for column in columns[1:]:
    figure = grids.side_by_side(figure, column, gap=8)
  grids.save_png(figure, os.path.join(workdir, "winrate.png"))
  plot_pair_matrices(table, os.path.join(workdir, "pair_matrices.png"))
  if any(len(points) > 1 for c in table["conditions"].values()
         for points in c["trajectory"].values()):
    plot_trajectories(table, os.path.join(workdir, "trajectory.png"))
  return table


def win_rate_text(condition, none="n/a"):
  """'0.25 [0.05, 0.70]': a condition's encoder win rate and Wilson interval (`none` if undecided)."""
  if condition["encoder_win_rate"] is None:
    return none
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  low, high = condition["encoder_win_rate_interval"]
  return f"{condition['encoder_win_rate']:.2f} [{fmt(low)}, {fmt(high)}]"


def verdict_text(condition):
  """'encoder 0.10 [0.03, 0.30], decoder ..., inconclusive ...': the three proportions."""
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  return ", ".join(f"{v} {fmt(p['proportion'])} [{fmt(p['interval'][0])}, {fmt(p['interval'][1])}]"
                   for v, p in condition["proportions"].items())


def lean_text(condition):
  """The lean over seeds, e.g.

  'encoder 4/5, sign test p 0.375 (floor 0.0625); mean Δ 0.21 [0.05, 0.37]'.
  """
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  le = condition["lean"]
  n = le["positive"] + le["negative"]
  count = max(le["positive"], le["negative"])
  return (f"{le['side']} {count}/{n}, sign test p {stats.format_p(le['p_value'])} (floor "
          f"{stats.format_p(le['p_floor'])}); mean Δ {fmt(le['mean'])} [{fmt(le['interval'][0])}, "
          f"{fmt(le['interval'][1])}]")


def markdown_table(table):
  """winrate.md: one row per condition, then the lean and the agreement with the paper."""
  seeds = table["seeds"]
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  lines = [f"Encoder vs decoder, {table['transform']} (App. B); seeds {seeds[0]}-{seeds[-1]}; "
           f"rule: preserving = SP interval above {table['rule']['tau_hi']}, not = below "
           f"{table['rule']['tau_lo']}; LP >= {table['rule']['min_label_preservation']}. "
           "Verdict proportions, win rates and the mean Δ have 95% intervals over seeds (one run "
           "each); Δ = SP(μ'_p) - SP(μ_p).",
           "",
           "| condition | runs | encoder wins | decoder wins | inconclusive | encoder win rate "
           "[95% Wilson] | median SP μ_p | median SP μ'_p | median Δ | typical seed |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for name, c in table["conditions"].items():
    lines.append(f"| {name} | {c['runs']} | {c['encoder_wins']} | {c['decoder_wins']} | "
                 f"{c['inconclusive']} | {win_rate_text(c)} | {fmt(c['median_sp_mu'])} | "
                 f"{fmt(c['median_sp_mu_prime'])} | {fmt(c['median_delta'])} | "
                 f"{c['typical_seed']} |")
  lines += ["", "| condition | verdicts [95% Wilson over runs; encoder = win rate over all runs] | "
            "lean of Δ over seeds | "
            "expected | majority | agrees |", "| --- | --- | --- | --- | --- | --- |"]
  for name, c in table["conditions"].items():
    expected = (f"{c['expected_verdict']} ({c['expected_from']})" if c["expected_verdict"]
                else "n/a")
    agrees = "n/a" if c["agrees"] is None else "yes" if c["agrees"] else "no"
    lines.append(f"| {name} | {verdict_text(c)} | {lean_text(c)} | {expected} | "
                 f"{c['majority_verdict']} | {agrees} |")
  first = next(iter(table["conditions"].values()))
  names = list(first["median_sp_per_measurement"]["sp_mu"])
  lines += ["", "Median SP per measurement, μ_p / μ'_p:", "",
            "| condition | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
  for name, c in table["conditions"].items():
    per = c["median_sp_per_measurement"]
    lines.append(f"| {name} | " + " | ".join(
        f"{fmt(per['sp_mu'][m])} / {fmt(per['sp_mu_prime'][m])}" for m in names) + " |")
  lines += ["", "winrate.png: per condition (left to right as above), the typical run's label x z "
            "grid of μ_p (top) and μ'_p (bottom), as in Figs. 5, 6. pair_matrices.png: its "
            "label-pair SP matrices.", ""]
  return "\n".join(lines)
