"""Questions the paper does not ask, answered from the same runs: findings, not failed claims.

The claims table (`tfdis.reproduce.claims`) holds what the paper states. These rows are ours;
each compares like with like (seeds against seeds or initialisations, never a run's interval over
z columns against an interval over seeds) and says what its interval or test resamples:

```none
training raised SP      trained SP (mean over seeds) minus the untrained architecture's (mean
                        over initialisations): Welch 95% interval over both
App. A trend            SP over the split layer l0..l3 of each row, Jonckheere-Terpstra test of
                        an increasing trend over seeds (`stats.trend_test`), mean ELBO beside
Fig. 2 differences      SP of each pair of the four Fig. 2 models: difference with its Welch
                        interval over seeds, exact two-sided permutation p over seeds, Holm over
                        the pairs
pipeline checks         the short competition runs that split a whole network (2 seeds)
```

Each function returns rows {question, measured, answer}; `answer` is a short plain finding.
"""
import numpy as np

from tfdis.metrics import stats

LEVEL = 0.05
FIG2_MODELS = ("shared", "split_encoder", "split_decoder", "split")


def _num(x, digits=3):
  return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _row(question, measured, answer):
  return {"question": question, "measured": measured, "answer": answer}


def _p_text(p):
  return f"p = {stats.format_p(p.p_value)} (smallest attainable {stats.format_p(p.floor)})"


def _finite(values):
  return [v for v in values if v is not None and np.isfinite(v)]


def training_raised_style(models, summaries):
  """Per shared / split model but split-both: did training raise SP above the untrained one's?"""
  rows = []
  for name, summary in summaries.items():
    first = models[summary["runs"][0]]
    if summary["stage"] not in ("shared", "split") or not first.get("untrained"):
      continue
    if first["encoder_split"] == "all" and first["decoder_split"] == "all":
      continue
    trained = _finite(summary["sp"]["per_seed"])
    untrained = first["untrained"]
    u_value, (u_low, _) = untrained["sp"]["value"], untrained["sp"]["interval"]
    if len(trained) < 2 or untrained["inits"] < 2 or u_value is None:
      continue
    mean, (low, _) = stats.t_interval(trained)
    difference, (d_low, d_high) = stats.welch_from_summaries(
        mean, mean - low, len(trained), u_value, u_value - u_low, untrained["inits"])
    answer = ("yes: trained SP is higher" if d_low > 0 else
              "no: trained SP is lower" if d_high < 0 else "no difference resolved")
    rows.append(_row(
        f"{name}: did training raise SP above the untrained architecture's?",
        f"trained {_num(mean)} ({len(trained)} seeds) − untrained {_num(u_value)} "
        f"({untrained['inits']} inits) = {_num(difference)} [{_num(d_low)}, {_num(d_high)}] "
        "(Welch 95% over seeds and inits); untrained LP "
        f"{_num(untrained['lp']['value'])}", answer))
  return rows


def _layers(models, summaries):
  """{'decoder': {depth: condition}, 'encoder': {...}}: App. A's rows by the single split layer."""
  rows = {}
  for condition, summary in summaries.items():
    if summary["stage"] != "appendix_a":
      continue
    m = models[summary["runs"][0]]
    enc, dec = str(m["encoder_split"]), str(m["decoder_split"])
    if enc == "all" and dec.isdigit():
      rows.setdefault("decoder", {})[int(dec)] = condition
    elif dec == "all" and enc.isdigit():
      rows.setdefault("encoder", {})[int(enc)] = condition
  return rows


def layer_trend(models, summaries, num_random=20000):
  """App. A: does SP grow over every split layer, l0 to l3, not only between the ends?"""
  rows = []
  for network, depths in _layers(models, summaries).items():
    order = sorted(depths)
    if len(order) < 3:
      continue
    groups = [_finite(summaries[depths[k]]["sp"]["per_seed"]) for k in order]
    if min(map(len, groups)) < 2:
      continue
    p = stats.trend_test(groups, num_random=num_random)
    sign = "+" if network == "decoder" else "-"
    by_layer = "; ".join(
        f"l{sign}{k}: SP {_num(summaries[depths[k]]['sp']['value'])}, ELBO "
        f"{_num(summaries[depths[k]]['elbo']['value'], 2)}" for k in order)
    rows.append(_row(
        f"App. A, {network} layer split: does SP rise over all {len(order)} layers "
        f"(l{sign}{order[0]} to l{sign}{order[-1]})?",
        f"{by_layer} (means over {', '.join(str(len(g)) for g in groups)} seeds); "
        f"Jonckheere-Terpstra over seeds, {_p_text(p)}",
        "yes: an increasing trend" if p.p_value <= LEVEL else "no trend resolved"))
  return rows


def fig2_differences(summaries, names=FIG2_MODELS):
  """Fig. 2's models pairwise: SP differences over seeds, permutation p, Holm over the pairs."""
  present = [n for n in names if n in summaries and len(_finite(summaries[n]["sp"]["per_seed"])) > 1]
  pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]]
  tests, effects = [], []
  for a, b in pairs:
    va, vb = _finite(summaries[a]["sp"]["per_seed"]), _finite(summaries[b]["sp"]["per_seed"])
    tests.append(stats.permutation_test(va, vb))
    effects.append(stats.welch_interval(va, vb))
  adjusted = stats.holm([t.p_value for t in tests])
  rows = []
  for (a, b), test, (d, (low, high)), p_holm in zip(pairs, tests, effects, adjusted):
    rows.append(_row(
        f"Fig. 2: does SP differ between {a} and {b}?",
        f"{a} − {b} {_num(d)} [{_num(low)}, {_num(high)}] (Welch 95% over seeds); permutation "
        f"{_p_text(test)}; Holm over {len(pairs)} pairs p = {stats.format_p(p_holm)}",
        (f"yes: {a if d > 0 else b} higher" if p_holm <= LEVEL else
         "not resolved (Holm p > " + str(LEVEL) + ")")))
  return rows


def pipeline_checks(competitions):
  """The short competition runs that split a whole network, where one side must win."""
  rows = []
  for c in (competitions or {}).values():
    for condition, row in c["conditions"].items():
      if row.get("expected_from") != "pipeline check":
        continue
      counts = f"encoder {row['encoder_wins']}, decoder {row['decoder_wins']}, inconclusive " \
               f"{row['inconclusive']} of {row['runs']}"
      rows.append(_row(
          f"{condition} ({c['steps']} steps): does the {row['expected_verdict']} win, as it must?",
          f"{counts}; lean {row['lean']['side']} ({row['lean']['positive']} of "
          f"{row['lean']['positive'] + row['lean']['negative']} seeds Δ > 0)",
          "yes" if row["agrees"] else "not by the fixed-threshold rule"))
  return rows


def added_questions(models, summaries, competitions=None):
  """Every row of the report's "Added questions" table, in the order above."""
  return (training_raised_style(models, summaries) + layer_trend(models, summaries) +
          fig2_differences(summaries) + pipeline_checks(competitions))


def markdown_lines(rows):
  """The report's "Added questions" section: each question, what was measured, the finding."""
  if not rows:
    return []
  lines = ["", "## Added questions", "",
           "Questions the paper does not ask, answered from the same runs; findings, not claims "
           "(`tfdis/reproduce/questions.py` says what each interval and test resamples).", "",
           "| question | measured | finding |", "| --- | --- | --- |"]
  return lines + [f"| {r['question']} | {r['measured']} | {r['answer']} |" for r in rows]
