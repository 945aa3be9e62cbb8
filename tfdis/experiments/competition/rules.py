"""Who wins a condition of the competition (App. B, Figs. 5, 6) over its seeds: the two rules.

Both rules are fixed here, in code, before any condition is judged by them. The unit of every
test and interval below is the seed (one trained model, one draw of T_y).

```none
primary endpoint  per condition, the exact two-sided sign test of Δ = SP(μ'_p) - SP(μ_p) over its
                  seeds (`stats.sign_test`), Holm-adjusted over the conditions judged together
                  (the eight of App. B); verdict = the side Δ leans to ("encoder" when Δ > 0 in
                  more seeds) when its Holm-adjusted p <= LEVEL, else "no lean".
secondary rule    the run-level rule of `judging.verdict` with thresholds per side, fitted on the
                  positive controls' FIT_SEEDS only:
                    encoder side (from the fully split decoder, where the encoder must win):
                      w = the FIT_QUANTILE quantile of the winners' SP(μ'_p) lower ends,
                      l = the 1 - FIT_QUANTILE quantile of the losers' SP(μ_p) upper ends,
                      tau_lo = tau_hi = (w + l) / 2, the threshold with the widest margin to both;
                    decoder side (from the fully split encoder, where the decoder must win):
                      the same with μ_p the winner and μ'_p the loser;
                  encoder wins = lower(SP(μ'_p)) > tau_hi(enc) and upper(SP(μ_p)) < tau_lo(enc)
                  decoder wins = lower(SP(μ_p)) > tau_hi(dec) and upper(SP(μ'_p)) < tau_lo(dec)
                  (and LP(μ_p) >= the LP gate; otherwise inconclusive).
                  Valid for a transform when, on the HELD_OUT_SEEDS, it calls the fully split
                  decoder an encoder win and the fully split encoder a decoder win in at least
                  REQUIRED_PASSES of them each. An invalid rule gives no win rate: the condition
                  is judged by the primary endpoint alone.
```

The win rate of a condition under a valid rule is encoder wins / decisive seeds with its Wilson
interval over those seeds (`stats.wilson_interval`).
"""
import numpy as np

from tfdis.metrics import stats

LEVEL = 0.05                      # family-wise level of the primary endpoint (Holm)
FIT_SEEDS = tuple(range(10))      # control seeds the thresholds are fitted on
HELD_OUT_SEEDS = tuple(range(10, 20))  # control seeds the rule is validated on
REQUIRED_PASSES = 8               # of the 10 held-out seeds, per control
FIT_QUANTILE = 0.1
# The positive controls: the variant, the side that must win, (winner, loser) generator keys.
CONTROLS = {"decoder_split_all": ("encoder", "sp_mu_prime", "sp_mu"),
            "encoder_split_all": ("decoder", "sp_mu", "sp_mu_prime")}
SIDE_CONTROL = {side: variant for variant, (side, _, _) in CONTROLS.items()}


def primary_endpoint(deltas_by_condition, level=LEVEL):
  """The primary endpoint of every condition judged together.

  Args:
    deltas_by_condition: {condition: per-seed Δ [n]} (None entries are dropped).
    level: the family-wise level.

  Returns:
    {condition: {side, positive, negative, p_value, p_floor, p_holm, verdict}}: side is where Δ
    leans ('encoder', 'decoder' or 'none' on a tie); verdict is the side when p_holm <= level,
    else 'no lean'. p_floor is the smallest p the test can give with that condition's seeds.
  """
  rows = {}
  for name, deltas in deltas_by_condition.items():
    d = np.asarray([x for x in deltas if x is not None], np.float64)
    positive, negative = int((d > 0).sum()), int((d < 0).sum())
    p = stats.sign_test(d)
    side = "encoder" if positive > negative else "decoder" if negative > positive else "none"
    rows[name] = {"side": side, "positive": positive, "negative": negative,
                  "p_value": p.p_value, "p_floor": p.floor}
  names = list(rows)
  for name, adjusted in zip(names, stats.holm([rows[n]["p_value"] for n in names])):
    rows[name]["p_holm"] = adjusted
    rows[name]["verdict"] = (rows[name]["side"] if adjusted <= level and rows[name]["side"] != "none"
                             else "no lean")
  return rows


def _ends(judgements, key, end):
  """The lower (end=0) or upper (end=1) ends of `key`'s SP interval; runs without one dropped."""
  values = [j[key]["interval"][end] for j in judgements if j.get(key)]
  return np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)


def fit_side(winner_lows, loser_highs, quantile=FIT_QUANTILE):
  """{tau_lo, tau_hi} of one side from its control's winners' lower and losers' upper SP ends.

  Both thresholds are the midpoint of the winners' low quantile and the losers' high quantile:
  the threshold farthest from both. A quantile at the fitted seeds' edge would pass a held-out
  seed only about as often as 1 - quantile, under REQUIRED_PASSES of 10; the midpoint keeps the
  margin. When the controls do not separate (w <= l), the rule will fail its validation.
  """
  if not len(winner_lows) or not len(loser_highs):
    raise ValueError("fitting a side's thresholds needs at least one control run with defined "
                     "SP intervals of both generators.")
  tau = 0.5 * (float(np.quantile(winner_lows, quantile)) +
               float(np.quantile(loser_highs, 1.0 - quantile)))
  return {"tau_lo": tau, "tau_hi": tau}


def fit_thresholds(controls, seeds=FIT_SEEDS, quantile=FIT_QUANTILE):
  """Per-side thresholds of one transform from its positive controls' `seeds`.

  Args:
    controls: {variant: {seed: judgement}} for both CONTROLS variants; a judgement is a run's
      stored result or trajectory point (sp_mu / sp_mu_prime with an 'interval', lp).
    seeds: the seeds fitted on (the held-out seeds must not be among them).

  Returns:
    {'encoder': {tau_lo, tau_hi}, 'decoder': {tau_lo, tau_hi}, 'fit_seeds': [...]}.
  """
  fitted = {"fit_seeds": sorted(seeds)}
  for variant, (side, winner, loser) in CONTROLS.items():
    runs = [controls[variant][s] for s in seeds if s in controls.get(variant, {})]
    fitted[side] = fit_side(_ends(runs, winner, 0), _ends(runs, loser, 1), quantile)
  return fitted


def side_verdict(judgement, thresholds, min_label_preservation):
  """'encoder', 'decoder' or 'inconclusive' for one run under per-side thresholds."""
  lp = judgement.get("lp")
  if lp is not None and lp["value"] < min_label_preservation:
    return "inconclusive"

  def end(key, which):
    entry = judgement.get(key)
    value = None if entry is None else entry["interval"][which]
    return float("nan") if value is None else value

  wins = [side for side, (winner, loser) in (("encoder", ("sp_mu_prime", "sp_mu")),
                                             ("decoder", ("sp_mu", "sp_mu_prime")))
          if end(winner, 0) > thresholds[side]["tau_hi"]
          and end(loser, 1) < thresholds[side]["tau_lo"]]
  return wins[0] if len(wins) == 1 else "inconclusive"


def validate(controls, thresholds, min_label_preservation, seeds=HELD_OUT_SEEDS,
             required=REQUIRED_PASSES):
  """Whether the rule passes both positive controls on the held-out seeds.

  Returns:
    {valid, controls: {variant: {expected, passes, seeds, passed}}}: `valid` only when every
    control has all its held-out seeds and at least `required` of them give the expected side.
  """
  if set(seeds) & set(thresholds.get("fit_seeds", ())):
    raise ValueError("the held-out seeds overlap the seeds the thresholds were fitted on.")
  report = {}
  for variant, (side, _, _) in CONTROLS.items():
    runs = [controls.get(variant, {}).get(s) for s in seeds]
    present = [r for r in runs if r is not None]
    passes = sum(side_verdict(r, thresholds, min_label_preservation) == side for r in present)
    report[variant] = {"expected": side, "passes": passes, "seeds": len(present),
                       "passed": len(present) == len(seeds) and passes >= required}
  return {"valid": all(r["passed"] for r in report.values()), "controls": report}


def win_rate(judgements, thresholds, min_label_preservation):
  """Counts of each verdict under the fitted rule and the encoder's win rate over decisive seeds.

  Returns:
    {encoder, decoder, inconclusive, encoder_win_rate, interval}: the rate is None (interval
    [None, None]) without decisive seeds; the Wilson interval resamples seeds.
  """
  verdicts = [side_verdict(j, thresholds, min_label_preservation) for j in judgements]
  counts = {v: verdicts.count(v) for v in ("encoder", "decoder", "inconclusive")}
  decisive = counts["encoder"] + counts["decoder"]
  interval = stats.wilson_interval(counts["encoder"], decisive)
  return {**counts, "encoder_win_rate": counts["encoder"] / decisive if decisive else None,
          "interval": [float(v) for v in interval] if decisive else [None, None]}
