"""The paper's claims, judged on a reproduction's results: pure functions over the ledger's records.

`gather` turns the runs' records (`tfdis.reproduce.ledger`) into the report's results: per trained
model, regression and competition run, the numbers the claims are judged on; `conditions` sums a
model's seeds; `expectations` gives every claim's row: {claim, measured, verdict, why}.

The paper's claims this repository checks (`expectations`). Each row's verdict is "yes" only when
the measurement supports the claim, "no" otherwise (with the reason), and "untestable at this
scale" when the test's smallest attainable p-value is above the level:
  the shared, split-encoder and split-decoder models preserve style (Sec. 2, Fig. 2): LP's whole
    interval >= LP_GATE (the labels are right) and SP's whole interval above SP_PRESERVING, in
    every seed (whether training raised SP above the untrained architecture's is one of the
    report's Added questions, `tfdis.reproduce.questions`: the paper does not claim it);
  the split-both model (Fig. 2) and the shared model's rotated (entangled) generator (Fig. 1) do
    not: LP gate, and SP's whole interval inside [-SP_NOT_PRESERVING, SP_NOT_PRESERVING];
  App. A (Fig. 4), for each network whose single layer is split (the other split whole): split
    next to z (l+0 / l-0), the model does not preserve style (as the split-both model, in every
    seed); and the further the split from z, the more style: SP of the farthest layer minus SP of
    the nearest, Welch 95% interval over seeds above 0 (untestable with one seed of either);
  regression (Sec. 3): the disentangled target is reached in fewer steps (one-sided exact
    sign-flip test over seeds at LEVEL; untestable when 1 / 2^seeds > LEVEL), and the final losses
    are similar (equivalence: the ratio's whole t interval inside 1 ± SIMILAR_MARGIN); the control
    (one rotation for every label) fits both targets alike (ratio's whole interval inside
    1 ± CONTROL_MARGIN; an interval that only overlaps the margin is not equivalence);
  the competition (App. B): each of the eight conditions of Figs. 5, 6 has the paper's winner; the
    claim holds when the primary endpoint of `tfdis.experiments.competition.rules` says so: the
    exact two-sided sign test of Δ over seeds, Holm-adjusted over the eight conditions, leans to
    that winner at rules.LEVEL. The row also gives the win rate under the secondary rule where
    that rule passed its positive controls on held-out seeds (`secondary_rule`), and why not
    otherwise. The short pipeline checks are Added questions, not claims.
Intervals are 95%: ELBO normal over test examples, LP Wilson over decoded samples, SP percentile
bootstrap over z columns (all within one trained model), regression t over seeds.
"""
import numpy as np

from tfdis.experiments import competition
from tfdis.experiments.competition import rules
from tfdis.metrics import stats
from tfdis.metrics import style_preservation

SP_YES = style_preservation.SP_PRESERVING

SP_NOT = style_preservation.SP_NOT_PRESERVING

LP_GATE = 0.9          # LP's whole interval at least this: the labels are right

LEVEL = 0.01           # level of the regression's tests

CONTROL_MARGIN = 0.02  # control: final-loss ratio equivalent to 1 within ±2%

SIMILAR_MARGIN = 0.10  # "similar final losses": ratio equivalent to 1 within ±10%

UNTESTABLE = "untestable at this scale"



def describe_split(config):
  """Words for a train config's split: 'shared', 'split encoder', 'decoder split + encoder l0'..."""
  enc, dec = config["encoder_split"], config["decoder_split"]
  if enc == "none" and dec == "none":
    return "shared encoder and decoder"
  if enc == "all" and dec == "all":
    return "split encoder and decoder"
  if dec == "none":
    return "split encoder" if enc == "all" else f"encoder layers {enc} split"
  if enc == "none":
    return "split decoder" if dec == "all" else f"decoder layers {dec} split"
  if dec == "all":
    return f"split decoder; encoder layer l-{enc} split"
  if enc == "all":
    return f"split encoder; decoder layer l+{dec} split"
  return f"encoder layers {enc}, decoder layers {dec} split"



def gather(runs, records):
  """The numbers the claims are judged on, from the runs' records: (models, regressions,
  competitions), each {run name: entry} in the plan's order."""
  described = {r.name: r.describe() for r in runs}
  models, regressions, competitions = {}, {}, {}
  for run in runs:
    result = records[run.name]["result"]
    if run.kind == "train":
      models[run.name] = dict(_model_entry(described[run.name], result), stage=run.stage,
                              condition=run.condition or run.name, seed=run.config.seed)
    elif run.kind == "regression":
      regressions[run.name] = _regression_entry(described[run.name], result)
    else:
      competitions[run.name] = _competition_entry(described[run.name], result)
  return models, regressions, competitions


def _model_entry(run, result):
  evaluation, metrics = result["evaluation"], result["metrics"]
  pick = lambda part: {"elbo": {"value": part["elbo"]["value"], "interval": part["elbo"]["interval"]},
                       "lp": {"value": part["lp"]["value"], "interval": part["lp"]["interval"]},
                       "sp": {"value": part["sp"]["value"], "interval": part["sp"]["interval"]}}
  entry = pick(evaluation)
  entry.update(
      title=describe_split(run["config"]), flagfile=run["flagfile"], steps=metrics["steps"],
      encoder_split=run["config"]["encoder_split"], decoder_split=run["config"]["decoder_split"],
      entangled=dict(pick(evaluation["entangled"]), transform=evaluation["transform"]),
      classifier_test_accuracy=evaluation.get("classifier", {}).get("test_accuracy"))
  if "untrained" in evaluation:
    u = evaluation["untrained"]
    entry["untrained"] = {"inits": len(u["init_seeds"]),
                          "sp": {"value": u["sp"]["value"], "interval": u["sp"]["interval"]},
                          "lp": {"value": u["lp"]["value"], "interval": u["lp"]["interval"]}}
  return entry



def _regression_entry(run, result):
  result = result["regression"]
  entry = {"transform": result["transform"], "flagfile": run["flagfile"], "teacher": run["teacher"],
           "seeds": run["config"]["num_seeds"], "steps": run["config"]["num_steps"],
           "fraction": run["config"]["fraction"]}
  for problem in ("encoder", "decoder"):
    s = result[problem]
    entry[problem] = {
        "final_loss": {t: s["final_loss"][t]["mean"] for t in ("disentangled", "entangled")},
        "final_ratio": {"value": s["final_loss"]["ratio"]["mean"],
                        "interval": s["final_loss"]["ratio"]["interval"]},
        "steps_to_fraction": {t: s["steps_to_fraction"][t]["mean"]
                              for t in ("disentangled", "entangled")},
        "steps_difference": {"value": s["steps_to_fraction"]["difference"]["mean"],
                             "interval": s["steps_to_fraction"]["difference"]["interval"]},
        "steps_p_value": s["steps_to_fraction"]["p_value"],
        "steps_p_value_floor": s["steps_to_fraction"].get("p_value_floor"),
        "auc": {t: s["auc"][t]["mean"] for t in ("disentangled", "entangled")},
        "auc_p_value": s["auc"]["p_value"],
    }
  return entry



def _final_judgement(points):
  """A run's last judgement (its trajectory's end), reduced to what the rules read."""
  last = points[-1]
  brief = lambda e: None if e is None else {"interval": e["interval"]}
  return {"sp_mu": brief(last.get("sp_mu")), "sp_mu_prime": brief(last.get("sp_mu_prime")),
          "lp": None if last.get("lp") is None else {"value": last["lp"]["value"]}}


def _competition_entry(run, result):
  table = result["winrate"]
  conditions = {}
  order = lambda item: next((i for i, v in enumerate(competition.ALL_VARIANTS)
                             if item[0].endswith("_" + v)), len(competition.ALL_VARIANTS))
  for name, c in sorted(table["conditions"].items(), key=order):  # the paper's order
    conditions[name] = {k: c[k] for k in (
        "runs", "encoder_wins", "decoder_wins", "inconclusive", "proportions", "encoder_win_rate",
        "encoder_win_rate_interval", "encoder_win_rate_all_runs", "majority_verdict", "lean",
        "expected_verdict", "expected_from", "agrees", "median_sp_mu", "median_sp_mu_prime",
        "median_delta", "median_sp_rotation_invariant", "median_active_units", "typical_seed")}
    typical = result["typical"][name]
    conditions[name].update(median_active_directions_per_label=c.get(
                                "median_active_directions_per_label"),
                            typical_sp_mu=typical["sp_mu"]["value"],
                            typical_sp_mu_prime=typical["sp_mu_prime"]["value"],
                            threshold_sensitivity=competition.threshold_sensitivity(
                                c, table["rule"]["min_label_preservation"]),
                            judgements={int(seed): _final_judgement(points)
                                        for seed, points in c["trajectory"].items() if points})
  return {"transform": table["transform"], "flagfile": run["flagfile"], "seeds": table["seeds"],
          "steps": run["config"]["num_steps"], "rule": table["rule"], "conditions": conditions,
          "per_seed": {name: {seed: r["verdict"] for seed, r in c["per_seed"].items()}
                       for name, c in table["conditions"].items()}}



def number(x, digits=3):
  return "n/a" if x is None else f"{x:.{digits}f}"



def with_interval(entry, digits=3):
  if entry is None or entry.get("value") is None:
    return "n/a"
  low, high = entry["interval"]
  return f"{number(entry['value'], digits)} [{number(low, digits)}, {number(high, digits)}]"



def interval_text(entry, digits=3):
  return with_interval(entry, digits) if entry else "n/a"



def proportion_text(p, runs):
  """'0.25 [0.11, 0.47] (5/20)': a proportion of `runs` runs with its Wilson interval."""
  low, high = p["interval"]
  return f"{number(p['proportion'], 2)} [{number(low, 2)}, {number(high, 2)}] ({p['count']}/{runs})"



def _win_rates_text(row):
  """A condition's encoder win rate over decisive runs, then over all runs, with intervals."""
  decisive = ("n/a (no decisive run)" if row["encoder_win_rate"] is None else
              f"{competition.win_rate_text(row)} of decisive runs")
  return f"{decisive}, {proportion_text(row['encoder_win_rate_all_runs'], row['runs'])} of all"



def _check(claim, measured, verdict, why=""):
  """One row of the claims table: verdict is 'yes', 'no' or UNTESTABLE, with the reason."""
  assert verdict in ("yes", "no", UNTESTABLE), verdict
  return {"claim": claim, "measured": measured, "verdict": verdict, "why": why}



def _label_gate(lp):
  """'' when LP's whole interval is at least LP_GATE (the labels are right), else why not."""
  low = (lp or {}).get("interval", [None])[0]
  if low is None or not np.isfinite(low):
    return "LP not measured"
  return "" if low >= LP_GATE else f"LP interval reaches {low:.3f} < {LP_GATE}"



def _not_preserving_check(claim, measured, part):
  """'does not preserve style': the LP gate, then SP's whole interval inside ±SP_NOT."""
  gate = _label_gate(part["lp"])
  low, high = part["sp"]["interval"] if part["sp"].get("value") is not None else (None, None)
  if gate:
    return _check(claim, measured, "no", gate)
  if low is None or not (-SP_NOT <= low and high <= SP_NOT):
    return _check(claim, measured, "no", "SP interval not inside the margin")
  return _check(claim, measured, "yes")



def _style_checks(name, m):
  """The Fig. 1 / Fig. 2 claims about one trained model (and the shared model's entangled twin)."""
  checks = []
  untrained = m.get("untrained")
  baseline = (f"; untrained SP {interval_text(untrained['sp'])} ({untrained['inits']} inits)"
              if untrained else "; no untrained baseline")
  measured = f"SP {interval_text(m['sp'])}; LP {interval_text(m['lp'])}" + baseline
  low, high = m["sp"]["interval"] if m["sp"].get("value") is not None else (None, None)
  gate = _label_gate(m["lp"])
  if m["encoder_split"] == "all" and m["decoder_split"] == "all":
    claim = (f"{name} ({m['title']}) does not preserve style: SP interval inside "
             f"[-{SP_NOT}, {SP_NOT}], LP >= {LP_GATE}")
    checks.append(_not_preserving_check(claim, measured, m))
  else:
    claim = (f"{name} ({m['title']}) preserves style: SP interval above {SP_YES}, "
             f"LP >= {LP_GATE}")
    if gate:
      checks.append(_check(claim, measured, "no", gate))
    elif low is None or not style_preservation.is_preserving((low, high), SP_YES):
      checks.append(_check(claim, measured, "no", f"SP interval not above {SP_YES}"))
    else:
      checks.append(_check(claim, measured, "yes"))
  if m["stage"] == "shared":
    e = m["entangled"]
    claim = (f"{name}'s entangled generator ({e['transform']} T_y) does not preserve style: SP "
             f"interval inside [-{SP_NOT}, {SP_NOT}], LP >= {LP_GATE}")
    measured = f"SP {interval_text(e['sp'])}; LP {interval_text(e['lp'])}"
    checks.append(_not_preserving_check(claim, measured, e))
  return checks



def _p_text(p, floor):
  return f"p = {stats.format_p(p)} (smallest attainable {stats.format_p(floor)})"



def _regression_checks(name, r):
  """Fig. 3's claims about one regression run: faster, similar final losses; or the control."""
  checks = []
  control = r["transform"] in ("same_rotation", "identity")
  for problem in ("encoder", "decoder"):
    p = r[problem]
    ratio = p["final_ratio"]
    low, high = ratio["interval"]
    ratio_text = f"final-loss ratio ent/dis {with_interval(ratio)}"
    def equivalence(claim, margin, what):  # the ratio's whole interval inside 1 ± margin
      inside = low is not None and 1 - margin <= low and high <= 1 + margin
      return _check(claim + f" (ratio interval inside [{1 - margin}, {1 + margin}])", ratio_text,
                    "yes" if inside else "no",
                    "" if inside else f"interval not inside the margin ({what} not shown)")
    if control:
      checks.append(equivalence(f"{name}: control ({r['transform']}), the {problem} fits both "
                                "targets alike", CONTROL_MARGIN, "equivalence"))
      continue
    steps = (f"steps to {round(100 * r['fraction'])}% dis / ent: "
             f"{number(p['steps_to_fraction']['disentangled'], 0)} / "
             f"{number(p['steps_to_fraction']['entangled'], 0)}; "
             f"{_p_text(p['steps_p_value'], p.get('steps_p_value_floor'))}; {r['seeds']} seeds")
    claim = (f"{name}: the {problem} reaches the disentangled target in fewer steps than the "
             f"entangled one ({r['transform']}; one-sided sign-flip test at level {LEVEL})")
    floor = p.get("steps_p_value_floor")
    if floor is None or not floor <= LEVEL:
      checks.append(_check(claim, steps, UNTESTABLE,
                           f"with {r['seeds']} seeds the smallest attainable p is "
                           f"{stats.format_p(floor)} > {LEVEL}"))
    elif p["steps_p_value"] is not None and p["steps_p_value"] <= LEVEL:
      checks.append(_check(claim, steps, "yes"))
    else:
      checks.append(_check(claim, steps, "no", f"p > {LEVEL}"))
    checks.append(equivalence(f"{name}: the {problem} reaches similar final losses on both "
                              "targets", SIMILAR_MARGIN, "similarity"))
  return checks



def conditions(models):
  """Per trained model (its seeds' runs): ELBO, LP, SP as means with t intervals over seeds."""
  groups = {}
  for name, m in models.items():
    groups.setdefault(m.get("condition", name), []).append((name, m))
  out = {}
  for condition, members in groups.items():
    first = members[0][1]
    entry = {"stage": first["stage"], "title": first["title"], "runs": [n for n, _ in members],
             "seeds": [m.get("seed") for _, m in members]}
    for key in ("elbo", "lp", "sp"):
      values = [m.get(key, {}).get("value") for _, m in members]
      entry[key] = dict(stats.mean_over_runs(values), per_seed=values)
    if "entangled" in first:
      values = [m["entangled"]["sp"]["value"] for _, m in members]
      entry["entangled_sp"] = dict(stats.mean_over_runs(values), per_seed=values)
    out[condition] = entry
  return out



def _combine_seeds(condition, per_seed_checks, summary):
  """One row per claim over a model's seeds: 'yes' only when every seed's run says yes."""
  rows = []
  for i, first in enumerate(per_seed_checks[0][1]):
    seeds = [(seed, checks[i]) for seed, checks in per_seed_checks]
    failing = [(seed, c) for seed, c in seeds if c["verdict"] != "yes"]
    measured = first["measured"]
    if len(seeds) > 1:
      sp = summary["sp"] if i == 0 or "entangled" not in first["claim"] else summary["entangled_sp"]
      measured = (f"{len(seeds)} seeds: SP {interval_text(sp)} (mean, t over seeds), "
                  f"{len(seeds) - len(failing)}/{len(seeds)} hold; seed {seeds[0][0]}: "
                  f"{measured}")
    why = (f"seed {failing[0][0]}: {failing[0][1]['why']}" if len(seeds) > 1 else
           failing[0][1]["why"]) if failing else ""
    rows.append(_check(first["claim"], measured, "no" if failing else "yes", why))
  return rows



def _split_layer(model):
  """('decoder', k) for 'encoder split + decoder layer l+k split', ('encoder', k) for the mirror
  (App. A); None for any other model."""
  enc, dec = model["encoder_split"], model["decoder_split"]
  if enc == "all" and str(dec).isdigit():
    return "decoder", int(dec)
  if dec == "all" and str(enc).isdigit():
    return "encoder", int(enc)
  return None



def _layer_checks(models, summaries):
  """App. A's claims (Fig. 4), per row (which network has the single split layer).

  Near z: the model with the layer next to z split (l+0 / l-0) does not preserve style, in every
  seed (as the split-both model). Further: SP grows with the split layer's distance from z, the
  farthest layer's SP minus the nearest's with its Welch 95% interval over seeds above 0
  (untestable with fewer than 2 seeds of either).
  """
  rows = {}
  for condition, summary in summaries.items():
    layer = _split_layer(models[summary["runs"][0]]) if summary["stage"] == "appendix_a" else None
    if layer:
      rows.setdefault(layer[0], {})[layer[1]] = condition
  whole = {(m["encoder_split"], m["decoder_split"]): c for c, m in
           ((c, models[v["runs"][0]]) for c, v in summaries.items())}
  checks = []
  for network, depths in rows.items():
    sign = "+" if network == "decoder" else "-"
    if 0 in depths:
      near = summaries[depths[0]]
      # The same model without the single layer split, for context: what the split took away.
      reference = whole.get(("all", "none") if network == "decoder" else ("none", "all"))
      without = (f"; without the layer split ({reference}): SP "
                 f"{interval_text(summaries[reference]['sp'])} over "
                 f"{len(summaries[reference]['runs'])} seeds" if reference else "")
      per_seed = []
      for name in near["runs"]:
        m = models[name]
        claim = (f"{depths[0]} ({m['title']}; App. A, Fig. 4): a split next to z loses style: SP "
                 f"interval inside [-{SP_NOT}, {SP_NOT}], LP >= {LP_GATE}")
        untrained = (f"; untrained SP {interval_text(m['untrained']['sp'])} "
                     f"({m['untrained']['inits']} inits)" if m.get("untrained") else "")
        per_seed.append((m.get("seed"), [_not_preserving_check(
            claim, f"SP {interval_text(m['sp'])}; LP {interval_text(m['lp'])}{untrained}"
                   f"{without}", m)]))
      checks += _combine_seeds(depths[0], per_seed, near)
    far = max(depths)
    if 0 in depths and far > 0:
      a, b = summaries[depths[far]]["sp"]["per_seed"], summaries[depths[0]]["sp"]["per_seed"]
      difference, (low, high) = stats.welch_interval(a, b)
      seeds = lambda k: len(summaries[depths[k]]["runs"])
      by_depth = ", ".join(f"l{sign}{k} {number(summaries[depths[k]]['sp']['value'])} "
                           f"({seeds(k)} seed{'s' if seeds(k) > 1 else ''})"
                           for k in sorted(depths))
      claim = (f"App. A, Fig. 4, {network} layer split: the further the split from z, the more "
               f"style: SP(l{sign}{far}) - SP(l{sign}0) above 0 (Welch 95% interval over seeds)")
      interval = (f"[{number(low)}, {number(high)}]" if np.isfinite(low) else
                  "(no interval with one seed)")
      measured = (f"SP(l{sign}{far}) - SP(l{sign}0) {number(difference)} {interval}; mean SP by "
                  f"layer: {by_depth}")
      if not np.isfinite(low):
        checks.append(_check(claim, measured, UNTESTABLE, "needs 2 seeds of each layer"))
      else:
        checks.append(_check(claim, measured, "yes" if low > 0 else "no",
                             "" if low > 0 else "interval not above 0"))
  return checks



def expectations(models, regressions, competitions=None):
  """The paper's claims as checks on the measured numbers: [{claim, measured, verdict, why}].

  A model's claim is judged on each of its seeds' runs and holds only when it holds in every one.
  """
  checks = []
  summaries = conditions(models)
  for condition, summary in summaries.items():
    if summary["stage"] in ("shared", "split"):
      per_seed = [(models[n].get("seed"), _style_checks(condition, models[n]))
                  for n in summary["runs"]]
      checks += _combine_seeds(condition, per_seed, summary)
  checks += _layer_checks(models, summaries)
  for name, r in regressions.items():
    if r.get("teacher", "shared") == "shared":  # the split-teacher control has no paper claim
      checks += _regression_checks(name, r)
  checks += competition_checks(competitions or {})
  return checks



def _paper_conditions(competitions):
  """[(transform, condition, row, steps)] of the App. B conditions the paper gives a winner."""
  return [(c["transform"], name, row, c["steps"]) for c in competitions.values()
          for name, row in c["conditions"].items() if row.get("expected_from") == "paper"]


def _controls(competitions, transform):
  """{variant: {seed: judgement}} of a transform's positive controls run with all their seeds."""
  found = {}
  needed = set(rules.FIT_SEEDS) | set(rules.HELD_OUT_SEEDS)
  for c in competitions.values():
    if c["transform"] != transform:
      continue
    for name, row in c["conditions"].items():
      variant = name[len(transform) + 1:]
      judgements = {int(k): v for k, v in row.get("judgements", {}).items()}
      if variant in rules.CONTROLS and needed <= set(judgements):
        found[variant] = judgements
  return found


def secondary_rule(competitions, min_label_preservation):
  """Per transform: the rule's thresholds fitted on its controls' FIT_SEEDS and their validation
  on the HELD_OUT_SEEDS ({thresholds, validation, valid}), or {valid: False, why} without them."""
  out = {}
  for transform in sorted({c["transform"] for c in competitions.values()}):
    controls = _controls(competitions, transform)
    if set(controls) != set(rules.CONTROLS):
      out[transform] = {"valid": False, "why": "its positive controls (flags/compete_controls_"
                        f"{transform}.cfg, 20 seeds each) are not in the ledger yet"}
      continue
    thresholds = rules.fit_thresholds(controls)
    validation = rules.validate(controls, thresholds, min_label_preservation)
    out[transform] = {"valid": validation["valid"], "thresholds": thresholds,
                      "validation": validation,
                      "why": "" if validation["valid"] else "it fails a positive control on the "
                                                           "held-out seeds"}
  return out


def competition_checks(competitions):
  """App. B's claims, one per condition the paper gives a winner, judged by the primary endpoint.

  The sign test of Δ over seeds, Holm-adjusted over every such condition, must lean to the
  paper's winner (`rules.primary_endpoint`). The row also gives the secondary rule's win rate
  where that rule passed its positive controls, and says why not otherwise.
  """
  paper = _paper_conditions(competitions)
  if not paper:
    return []
  signs = {name: [1.0] * row["lean"]["positive"] + [-1.0] * row["lean"]["negative"]
           for _, name, row, _ in paper}
  primary = rules.primary_endpoint(signs)
  gate = next(iter(competitions.values()))["rule"]["min_label_preservation"]
  secondary = secondary_rule(competitions, gate)
  checks = []
  for transform, name, row, steps in paper:
    p = primary[name]
    figure = "Fig. 5" if transform == "rotation" else "Fig. 6"
    rule = secondary[transform]
    if rule["valid"]:
      rate = rules.win_rate(row["judgements"].values(), rule["thresholds"], gate)
      low, high = rate["interval"]
      second = (f"control-validated rule: encoder {rate['encoder']}, decoder {rate['decoder']}, "
                f"inconclusive {rate['inconclusive']}; encoder win rate "
                f"{number(rate['encoder_win_rate'], 2)} [{number(low, 2)}, {number(high, 2)}] "
                "(Wilson over decisive seeds)")
    else:
      second = f"no control-validated win rate: {rule['why']}"
    measured = (f"Δ > 0 in {p['positive']} of {p['positive'] + p['negative']} seeds (lean "
                f"{p['side']}); sign test {_p_text(p['p_value'], p['p_floor'])}, Holm over "
                f"{len(paper)} conditions p = {stats.format_p(p['p_holm'])}; {second}")
    holds = p["verdict"] == row["expected_verdict"]
    why = ("" if holds else "no lean survives Holm" if p["verdict"] == "no lean" else
           f"the lean is to the {p['verdict']}")
    checks.append(_check(f"{name} (App. B, {figure}, {steps} steps): the "
                         f"{row['expected_verdict']} wins (Δ leans its way, Holm-significant at "
                         f"{rules.LEVEL})", measured, "yes" if holds else "no", why))
  return checks


def rule_text(transform, rule):
  """One transform's secondary rule in words: its thresholds and held-out passes, or why not."""
  if "validation" not in rule:
    return f"{transform}: not fitted ({rule['why']})"
  t, checks = rule["thresholds"], rule["validation"]["controls"]
  passes = ", ".join(f"{variant} {c['passes']}/{c['seeds']}" for variant, c in checks.items())
  return (f"{transform}: thresholds encoder {number(t['encoder']['tau_hi'], 3)}, decoder "
          f"{number(t['decoder']['tau_hi'], 3)} (fitted on seeds 0-9), held-out passes {passes}: "
          + ("valid" if rule["valid"] else "NOT valid, so judged by the primary endpoint alone"))
