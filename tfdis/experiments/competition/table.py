"""The win-rate table of a competition sweep (App. B): counts, rates, the typical runs, figures.

Per condition, over its seeds: encoder wins, decoder wins and inconclusive runs (re-judged with
the thresholds of this call, so changing them needs no retraining), the encoder's win rate
encoder wins / (encoder wins + decoder wins) with its Wilson 95% interval over the decisive runs
(`tfdis.metrics.stats`), the median SPs, and the typical run whose label x z grids of μ_p (top)
and μ'_p (bottom) are drawn in the layout of Figs. 5, 6.
"""
import collections
import os

import numpy as np

from tfdis import grids
from tfdis import workdir as files
from tfdis.errors import UsageError
from tfdis.experiments.competition import conditions
from tfdis.experiments.competition import judging
from tfdis.metrics import stats


def _sp_value(run, key):
  value = run[key]["value"]
  return float("nan") if value is None else value


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


def aggregate(config, workdir):
  """Reads every result of the sweep and writes winrate.json, winrate.md and winrate.png."""
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
    counts = collections.Counter(r["verdict"] for r in runs)
    decisive = counts["encoder"] + counts["decoder"]
    interval = stats.wilson_interval(counts["encoder"], decisive)
    typical = typical_run(runs)
    median = lambda key: files.finite_or_none(np.nanmedian([_sp_value(r, key) for r in runs]))
    table["conditions"][condition] = {
        "runs": len(runs), "encoder_wins": counts["encoder"], "decoder_wins": counts["decoder"],
        "inconclusive": counts["inconclusive"],
        "encoder_win_rate": (files.finite_or_none(counts["encoder"] / decisive) if decisive
                             else None),
        "encoder_win_rate_interval": [files.finite_or_none(v) for v in interval],
        "median_sp_mu": median("sp_mu"), "median_sp_mu_prime": median("sp_mu_prime"),
        "typical_seed": typical["seed"],
        "per_seed": {str(r["seed"]): {"verdict": r["verdict"],
                                      "sp_mu": r["sp_mu"]["interval"],
                                      "sp_mu_prime": r["sp_mu_prime"]["interval"]}
                     for r in runs}}
    columns.append(run_grids(workdir, condition, typical["seed"]))
  if missing:
    raise UsageError(f"{len(missing)} (condition, seed) results are missing from {workdir}, "
                     f"e.g. {missing[0]}; run the remaining shards (or drop --aggregate) first.")
  files.write_json(os.path.join(workdir, "winrate.json"), table)
  files.write_text(os.path.join(workdir, "winrate.md"), markdown_table(table))
  figure = columns[0]
  for column in columns[1:]:
    figure = grids.side_by_side(figure, column, gap=8)
  grids.save_png(figure, os.path.join(workdir, "winrate.png"))
  return table


def win_rate_text(condition, none="n/a"):
  """'0.25 [0.05, 0.70]': a condition's encoder win rate and Wilson interval (`none` if undecided)."""
  if condition["encoder_win_rate"] is None:
    return none
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  low, high = condition["encoder_win_rate_interval"]
  return f"{condition['encoder_win_rate']:.2f} [{fmt(low)}, {fmt(high)}]"


def markdown_table(table):
  """winrate.md: one row per condition."""
  seeds = table["seeds"]
  lines = [f"Encoder vs decoder, {table['transform']} (App. B); seeds {seeds[0]}-{seeds[-1]}; "
           f"rule: preserving = SP interval above {table['rule']['tau_hi']}, not = below "
           f"{table['rule']['tau_lo']}; LP >= {table['rule']['min_label_preservation']}.",
           "",
           "| condition | runs | encoder wins | decoder wins | inconclusive | encoder win rate "
           "[95% Wilson] | median SP μ_p | median SP μ'_p | typical seed |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  for name, c in table["conditions"].items():
    rate = win_rate_text(c)
    lines.append(f"| {name} | {c['runs']} | {c['encoder_wins']} | {c['decoder_wins']} | "
                 f"{c['inconclusive']} | {rate} | {fmt(c['median_sp_mu'])} | "
                 f"{fmt(c['median_sp_mu_prime'])} | {c['typical_seed']} |")
  lines += ["", "winrate.png: per condition (left to right as above), the typical run's label x z "
            "grid of μ_p (top) and μ'_p (bottom), as in Figs. 5, 6.", ""]
  return "\n".join(lines)
