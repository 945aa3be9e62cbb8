"""REPORT.md, results.json and figures/ of a finished reproduction (`tfdis.reproduce`).

Everything here is read from the runs' records (`tfdis.reproduce.ledger`): what `run_result` and
`run_figures` take from each run's own result files (evaluation.json, regression.json,
winrate.json and their images). Records are made from the workdir's runs, or read from a
--ledger folder, so the report of a reproduction that was killed and resumed, or split across
machines and days, is the same as that of one that ran straight through, except for its last
section, "Machine time" (`machine_time`: the records' wall times, which vary between calls; also in
report/machine_time.json, <workdir>/timing.json and each record).

The paper's claims this repository checks (`expectations`). Each row's verdict is "yes" only when
the measurement supports the claim, "no" otherwise (with the reason), and "untestable at this
scale" when the test's smallest attainable p-value is above the level:
  the shared, split-encoder and split-decoder models preserve style (Sec. 2, Fig. 2): LP's whole
    interval >= LP_GATE (the labels are right), SP's whole interval above SP_PRESERVING, and above
    the same architecture's untrained SP interval (t over initialisations: training made it so);
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
    claim holds when the majority verdict over seeds is that winner (an inconclusive majority or
    a tie does not hold), and the row also gives the lean of Δ over seeds. The paper leaves the
    win rate itself open; the competition table reports it.
Intervals are 95%: ELBO normal over test examples, LP Wilson over decoded samples, SP percentile
bootstrap over z columns (all within one trained model), regression t over seeds.
"""
import collections
import io
import os

import numpy as np

from tfdis import files
from tfdis.reproduce import ledger as ledger_lib
from tfdis.experiments import competition
from tfdis.metrics import latent_usage
from tfdis.metrics import stats
from tfdis.metrics import style_preservation

SP_YES = style_preservation.SP_PRESERVING
SP_NOT = style_preservation.SP_NOT_PRESERVING
LP_GATE = 0.9          # LP's whole interval at least this: the labels are right
LEVEL = 0.01           # level of the regression's tests
CONTROL_MARGIN = 0.02  # control: final-loss ratio equivalent to 1 within ±2%
SIMILAR_MARGIN = 0.10  # "similar final losses": ratio equivalent to 1 within ±10%
UNTESTABLE = "untestable at this scale"

_SCALE_NOTES = {
    "smoke": "Smoke scale: tiny networks trained for a few steps. It checks that every stage runs "
             "and reports; its numbers mean nothing about the paper.",
    "quick": "Quick scale: the paper's networks, trained for fewer steps, with fewer regression "
             "and competition seeds (each table gives its steps and seeds; every setting is in "
             "plan.json). Win rates from so few seeds have wide intervals; the full scale runs 20 "
             "seeds per condition.",
    "full": "Full scale: the settings of each experiment's flagfile under flags/.",
}


def _num(x, digits=3):
  return "n/a" if x is None else f"{x:.{digits}f}"


def _with_interval(entry, digits=3):
  if entry is None or entry.get("value") is None:
    return "n/a"
  low, high = entry["interval"]
  return f"{_num(entry['value'], digits)} [{_num(low, digits)}, {_num(high, digits)}]"


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


def run_result(run, folder):
  """What the report reads from a finished run's folder: its result files, without checkpoints.

  train: {evaluation, metrics}; regression: {regression}; competition: {winrate, typical:
  {condition: the typical seed's result}}.
  """
  read = lambda name: files.read_json(os.path.join(folder, name))
  if run.kind == "train":
    return {"evaluation": read("evaluation.json"), "metrics": read("metrics.json")}
  if run.kind == "regression":
    return {"regression": read("regression.json")}
  table = read("winrate.json")
  return {"winrate": table, "typical": {
      name: files.read_json(competition.result_path(folder, name, c["typical_seed"]))
      for name, c in table["conditions"].items()}}


def _png(pixels):
  """PNG bytes of uint8 pixels [H, W] (grey), [H, W, 1] (grey), [H, W, 3] or [H, W, 4]."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (matplotlib's own dependency)
  pixels = np.asarray(pixels, np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels).save(
      buffer, format="PNG", optimize=True)
  return buffer.getvalue()


def _compact_png(png):
  """The same image as the PNG bytes `png`, without what it does not use: an opaque alpha channel
  and, when every pixel is grey, the colour channels (matplotlib writes grids as RGBA). Lossless;
  it makes records about 40% smaller."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pixels = np.asarray(Image.open(io.BytesIO(png)))
  if pixels.ndim == 3 and pixels.shape[-1] == 4 and (pixels[..., 3] == 255).all():
    pixels = pixels[..., :3]
  if pixels.ndim == 3 and pixels.shape[-1] == 3 and (pixels == pixels[..., :1]).all():
    pixels = pixels[..., 0]
  return _png(pixels)


def run_figures(run, folder, result):
  """{key: PNG bytes} of the images the report draws from this run (none for most seeds).

  The first seed of a trained model: Fig. 1's grids.png (shared) or its grid_model.png (Figs. 2,
  4); a regression: regression.png; a competition: each condition's typical run (μ_p grid above
  μ'_p) and trajectory.png when it was judged during training.
  """
  read = lambda name: _compact_png(files.read_bytes(os.path.join(folder, name)))
  if run.kind == "train":
    if run.name != (run.condition or run.name):
      return {}
    return {"grids": read("grids.png")} if run.stage == "shared" else {
        "grid_model": read("grid_model.png")}
  if run.kind == "regression":
    return {"regression": read("regression.png")}
  # run_grids' values are multiples of 1/255 (uint8 grids / 255, white gaps): exact in uint8
  to_pixels = lambda image: np.round(np.clip(image, 0.0, 1.0) * 255)
  figures = {f"typical/{name}": _png(to_pixels(competition.run_grids(folder, name,
                                                                     c["typical_seed"])))
             for name, c in result["winrate"]["conditions"].items()}
  if os.path.exists(os.path.join(folder, "trajectory.png")):
    figures["trajectory"] = read("trajectory.png")
  return figures


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
                                c, table["rule"]["min_label_preservation"]))
  return {"transform": table["transform"], "flagfile": run["flagfile"], "seeds": table["seeds"],
          "steps": run["config"]["num_steps"], "rule": table["rule"], "conditions": conditions,
          "per_seed": {name: {seed: r["verdict"] for seed, r in c["per_seed"].items()}
                       for name, c in table["conditions"].items()}}


def _interval_text(entry, digits=3):
  return _with_interval(entry, digits) if entry else "n/a"


def _proportion_text(p, runs):
  """'0.25 [0.11, 0.47] (5/20)': a proportion of `runs` runs with its Wilson interval."""
  low, high = p["interval"]
  return f"{_num(p['proportion'], 2)} [{_num(low, 2)}, {_num(high, 2)}] ({p['count']}/{runs})"


def _win_rates_text(row):
  """A condition's encoder win rate over decisive runs, then over all runs, with intervals."""
  decisive = ("n/a (no decisive run)" if row["encoder_win_rate"] is None else
              f"{competition.win_rate_text(row)} of decisive runs")
  return f"{decisive}, {_proportion_text(row['encoder_win_rate_all_runs'], row['runs'])} of all"


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
  baseline = (f"; untrained SP {_interval_text(untrained['sp'])} ({untrained['inits']} inits)"
              if untrained else "; no untrained baseline")
  measured = f"SP {_interval_text(m['sp'])}; LP {_interval_text(m['lp'])}" + baseline
  low, high = m["sp"]["interval"] if m["sp"].get("value") is not None else (None, None)
  gate = _label_gate(m["lp"])
  if m["encoder_split"] == "all" and m["decoder_split"] == "all":
    claim = (f"{name} ({m['title']}) does not preserve style: SP interval inside "
             f"[-{SP_NOT}, {SP_NOT}], LP >= {LP_GATE}")
    checks.append(_not_preserving_check(claim, measured, m))
  else:
    claim = (f"{name} ({m['title']}) preserves style, and training made it so: SP interval above "
             f"{SP_YES}, LP >= {LP_GATE}, SP above the untrained baseline's interval")
    if gate:
      checks.append(_check(claim, measured, "no", gate))
    elif low is None or not style_preservation.is_preserving((low, high), SP_YES):
      checks.append(_check(claim, measured, "no", f"SP interval not above {SP_YES}"))
    elif not untrained or untrained["sp"].get("value") is None:
      checks.append(_check(claim, measured, "no", "no untrained baseline to compare with"))
    elif not low > untrained["sp"]["interval"][1]:
      checks.append(_check(claim, measured, "no", "SP does not exceed the untrained "
                                                  "architecture's: style preservation at "
                                                  "initialisation already"))
    else:
      checks.append(_check(claim, measured, "yes"))
  if m["stage"] == "shared":
    e = m["entangled"]
    claim = (f"{name}'s entangled generator ({e['transform']} T_y) does not preserve style: SP "
             f"interval inside [-{SP_NOT}, {SP_NOT}], LP >= {LP_GATE}")
    measured = f"SP {_interval_text(e['sp'])}; LP {_interval_text(e['lp'])}"
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
    ratio_text = f"final-loss ratio ent/dis {_with_interval(ratio)}"
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
             f"{_num(p['steps_to_fraction']['disentangled'], 0)} / "
             f"{_num(p['steps_to_fraction']['entangled'], 0)}; "
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
      measured = (f"{len(seeds)} seeds: SP {_interval_text(sp)} (mean, t over seeds), "
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
                 f"{_interval_text(summaries[reference]['sp'])} over "
                 f"{len(summaries[reference]['runs'])} seeds" if reference else "")
      per_seed = []
      for name in near["runs"]:
        m = models[name]
        claim = (f"{depths[0]} ({m['title']}; App. A, Fig. 4): a split next to z loses style: SP "
                 f"interval inside [-{SP_NOT}, {SP_NOT}], LP >= {LP_GATE}")
        untrained = (f"; untrained SP {_interval_text(m['untrained']['sp'])} "
                     f"({m['untrained']['inits']} inits)" if m.get("untrained") else "")
        per_seed.append((m.get("seed"), [_not_preserving_check(
            claim, f"SP {_interval_text(m['sp'])}; LP {_interval_text(m['lp'])}{untrained}"
                   f"{without}", m)]))
      checks += _combine_seeds(depths[0], per_seed, near)
    far = max(depths)
    if 0 in depths and far > 0:
      a, b = summaries[depths[far]]["sp"]["per_seed"], summaries[depths[0]]["sp"]["per_seed"]
      difference, (low, high) = stats.welch_interval(a, b)
      seeds = lambda k: len(summaries[depths[k]]["runs"])
      by_depth = ", ".join(f"l{sign}{k} {_num(summaries[depths[k]]['sp']['value'])} "
                           f"({seeds(k)} seed{'s' if seeds(k) > 1 else ''})"
                           for k in sorted(depths))
      claim = (f"App. A, Fig. 4, {network} layer split: the further the split from z, the more "
               f"style: SP(l{sign}{far}) - SP(l{sign}0) above 0 (Welch 95% interval over seeds)")
      interval = (f"[{_num(low)}, {_num(high)}]" if np.isfinite(low) else
                  "(no interval with one seed)")
      measured = (f"SP(l{sign}{far}) - SP(l{sign}0) {_num(difference)} {interval}; mean SP by "
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
  for c in (competitions or {}).values():
    figure = "Fig. 5" if c["transform"] == "rotation" else "Fig. 6"
    for condition, row in c["conditions"].items():
      if not row["expected_verdict"]:
        continue
      source = (f"App. B, {figure}" if row["expected_from"] == "paper" else "pipeline check")
      top = row["proportions"].get(row["majority_verdict"])  # None for a tie
      majority = row["majority_verdict"] + (f" {top['count']}/{row['runs']}" if top
                                            else f" of {row['runs']}")
      checks.append(_check(f"{condition} ({source}, {c['steps']} steps): the "
                           f"{row['expected_verdict']} wins",
                           f"majority {majority}; encoder win rate {_win_rates_text(row)}; "
                           f"lean {competition.lean_text(row)}",
                           "yes" if row["agrees"] else "no",
                           "" if row["agrees"] else "the majority verdict is another"))
  return checks


def _panel_figure(path, panels, columns, title):
  """PNG of titled image panels [(title, PNG path or [H, W, C] array in [0, 1])], `columns` a row."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import image as mpimg  # pylint: disable=g-import-not-at-top
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  images = [mpimg.imread(p) if isinstance(p, str) else np.asarray(p) for _, p in panels]
  rows = -(-len(panels) // columns)
  aspect = max(im.shape[0] / im.shape[1] for im in images)
  width = 4.4
  fig, axes = plt.subplots(rows, columns, squeeze=False,
                           figsize=(width * columns, (width * aspect + 0.7) * rows + 0.5))
  for ax in axes.flat:
    ax.axis("off")
  for ax, (name, _), image in zip(axes.flat, panels, images):
    ax.imshow(image.squeeze(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(name, fontsize=8)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  with files.whole_file(path) as tmp:
    fig.savefig(tmp, dpi=100, metadata={"Software": None})
  plt.close(fig)


def _image(png):
  """float32 [H, W, C] in [0, 1] of PNG bytes, as matplotlib reads a PNG file."""
  from matplotlib import image as mpimg  # pylint: disable=g-import-not-at-top
  return mpimg.imread(io.BytesIO(png), format="png")


def _competition_panels(record, table):
  """[(title, image)] per condition: its typical run's μ_p grid above its μ'_p grid."""
  panels = []
  for condition, row in table["conditions"].items():
    seed = row["typical_seed"]
    verdict = table["per_seed"][condition][str(seed)]
    panels.append((f"{condition}, seed {seed}: {verdict}\n"
                   f"top μ_p (SP {_num(row['typical_sp_mu'], 2)}), bottom μ'_p (SP "
                   f"{_num(row['typical_sp_mu_prime'], 2)})",
                   _image(ledger_lib.figure_bytes(record, f"typical/{condition}"))))
  return panels


def write_figures(records, runs, models, competitions, out):
  """The figures of the report under out/ (PNG), from the runs' records; {figure key: file name}."""
  os.makedirs(out, exist_ok=True)
  figure = lambda name, key: ledger_lib.figure_bytes(records[name], key)
  copy = lambda png, name: files.write_bytes(os.path.join(out, name), png)
  figures = {}
  for run in runs:
    if run.stage == "shared" and run.name == (run.condition or run.name):
      figures["fig1"] = "fig1_shared_and_entangled.png"
      copy(figure(run.name, "grids"), figures["fig1"])
  for stage, key, title, columns in (
      ("split", "fig2", "Fig. 2: label x z grids (rows: labels 0-9; columns: shared z)", 3),
      ("appendix_a", "fig4", "Fig. 4 (App. A): label x z grids of the layer-split models", 4)):
    chosen = [r for r in runs if r.stage == stage and r.name == (r.condition or r.name)]
    if chosen:
      figures[key] = f"{key}_{stage}.png"
      panels = [(f"{os.path.basename(r.name)}: {models[r.name]['title']}\n"
                 f"SP {_with_interval(models[r.name]['sp'], 2)}",
                 _image(figure(r.name, "grid_model"))) for r in chosen]
      _panel_figure(os.path.join(out, figures[key]), panels, columns, title)
  for run in runs:
    if run.stage == "regression":
      key = "fig3_" + os.path.basename(run.name)
      figures[key] = key + ".png"
      copy(figure(run.name, "regression"), figures[key])
  groups = {}  # one figure per competition flagfile (Run.condition), from its conditions' runs
  for run in runs:
    if run.stage == "competition":
      groups.setdefault(run.condition, []).append(run)
  for group, members in groups.items():
    key = "fig56_" + group
    figures[key] = f"{key}.png"
    panels = [p for r in members for p in _competition_panels(records[r.name], competitions[r.name])]
    transforms = sorted({r.config.transform for r in members})
    fig = {("rotation",): "Fig. 5", ("reflection",): "Fig. 6"}.get(tuple(transforms), "Figs. 5, 6")
    _panel_figure(os.path.join(out, figures[key]), panels, len(panels),
                  f"{fig}: encoder versus decoder, {' and '.join(transforms)} T_y (typical run of "
                  "each condition)")
    # Each condition's trajectory.png, one panel each, untitled: the plot carries its own title.
    judged = [("", _image(figure(r.name, "trajectory"))) for r in members
              if "trajectory" in records[r.name]["figures"]]
    if judged:
      key = "trajectory_" + group
      figures[key] = f"{key}.png"
      _panel_figure(os.path.join(out, figures[key]), judged, min(len(judged), 2),
                    f"{fig}: SP along training, {' and '.join(transforms)} T_y")
  return figures


def _model_table(names, models, entangled=False):
  lines = ["| run | model | steps | test ELBO (nats) [95%] | LP [95% Wilson] | SP [95% bootstrap] | "
           "untrained LP / SP [95% t over inits] |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  for name in names:
    m = models[name]
    u = m.get("untrained")
    untrained = (f"{_with_interval(u['lp'])} / {_with_interval(u['sp'])} ({u['inits']} inits)"
                 if u else "n/a")
    lines.append(f"| {name} | {m['title']} | {m['steps']} | {_with_interval(m['elbo'], 2)} | "
                 f"{_with_interval(m['lp'])} | {_with_interval(m['sp'])} | {untrained} |")
    if entangled:
      e = m["entangled"]
      lines.append(f"| {name}, entangled | μ_p(y, T_y z), {e['transform']} T_y | {m['steps']} | "
                   f"{_with_interval(e['elbo'], 2)} | {_with_interval(e['lp'])} | "
                   f"{_with_interval(e['sp'])} | |")
  return lines


def _captioned_head(caption, columns):
  """A caption paragraph and a markdown table's header rows."""
  return ["", caption, "", "| " + " | ".join(columns) + " |",
          "| " + " | ".join("---" for _ in columns) + " |"]


def _seed_table(names, summaries):
  """Per model, its seeds' mean ELBO, LP and SP with 95% t intervals over seeds."""
  lines = _captioned_head(
      "Across seeds (each seed an independent training; mean [95% t interval over seeds]; the "
      "per-run rows above give each run's own intervals, over test examples, decoded samples and "
      "z columns):", ("model", "seeds", "test ELBO", "LP", "SP"))
  for name in names:
    c = summaries[name]
    lines.append(f"| {name} | {', '.join(map(str, c['seeds']))} | "
                 f"{_interval_text(c['elbo'], 2)} | {_interval_text(c['lp'])} | "
                 f"{_interval_text(c['sp'])} |")
  return lines


def _difference_table(names, summaries):
  """SP differences between models, Welch t intervals over their seeds."""
  lines = _captioned_head(
      "SP differences between models (row minus column model; Welch 95% t interval over seeds; "
      "an interval containing 0 does not order them):", ("models", "SP difference [95% Welch]"))
  for i, a in enumerate(names):
    for b in names[i + 1:]:
      va = [v for v in summaries[a]["sp"]["per_seed"] if v is not None]
      vb = [v for v in summaries[b]["sp"]["per_seed"] if v is not None]
      if len(va) > 1 and len(vb) > 1:
        d, (low, high) = stats.welch_interval(va, vb)
        lines.append(f"| {a} − {b} | {d:.3f} [{low:.3f}, {high:.3f}] |")
  return lines if len(lines) > 5 else []


def markdown(results, figures, spent=None):
  """REPORT.md text; `spent` (`machine_time`) adds its last section."""
  models, regressions = results["models"], results["regression"]
  summaries = results.get("conditions") or conditions(models)
  by_stage = lambda stage: [n for n, m in models.items() if m["stage"] == stage]
  seeded = lambda stages: [c for c, v in summaries.items() if v["stage"] in stages]
  several = any(len(c["runs"]) > 1 for c in summaries.values())
  lines = [f"# tfdis reproduction report: scale {results['scale']}", "",
           f"Made by `{results['command']}`.", "", _SCALE_NOTES[results["scale"]]]
  if results["competition"]:
    seeds = sorted({len(c["seeds"]) for c in results["competition"].values()})
    lines[-1] += f" Competition seeds per condition: {', '.join(map(str, seeds))}."
  lines += ["",
           "Definitions: ELBO is Eq. 1 on the test split (nats). LP (label preservation) is the "
           "fraction of μ_p(y, z), z ~ N(0, I), that a digit classifier calls y. SP (style "
           "preservation) is the mean Spearman correlation, across shared z, of Morpho-MNIST "
           "measurements (slant, thickness, width, height, area) between every pair of labels: "
           "1 = every column of a label x z grid has one style, 0 = style unrelated across labels. "
           "Intervals are 95%. Per-run details: `runs/<run>/` (evaluation.json, regression.json, "
           "winrate.json); wall times: the last section, \"Machine time\"."]
  accuracies = sorted({m["classifier_test_accuracy"] for m in models.values()
                       if m.get("classifier_test_accuracy") is not None})
  if accuracies:
    lines[-1] += (" The LP classifier's accuracy on the real test digits: "
                  f"{', '.join(f'{a:.4f}' for a in accuracies)}.")
  lines += ["",
           "## The paper's claims, measured", "",
           f"A claim is \"yes\" only when the measurement supports it: style claims need LP's whole "
           f"interval >= {LP_GATE} and a trained SP above the same architecture's untrained SP "
           f"(95% t interval over initialisations); the regression's tests run at level {LEVEL} "
           f"and are \"{UNTESTABLE}\" when their smallest attainable p is above it; \"similar\" "
           f"and the control are equivalence checks (the whole interval inside the margin).", "",
           "| claim | measured | verdict |", "| --- | --- | --- |"]
  for check in results["expectations"]:
    verdict = {"yes": "yes", "no": "NO"}.get(check["verdict"], check["verdict"])
    why = f": {check['why']}" if check["why"] else ""
    lines.append(f"| {check['claim']} | {check['measured']} | {verdict}{why} |")
  if by_stage("shared"):
    lines += ["", "## Fig. 1: the shared model and its entangled counterpart", "",
              f"![Fig. 1](figures/{figures['fig1']})", "",
              "Left: μ_p (the trained decoder); right: μ'_p(y, z) = μ_p(y, T_y z), the same ELBO "
              "(Proposition 1) with a label-dependent rotation. Rows: labels; columns: shared z.", ""]
    lines += _model_table(by_stage("shared"), models, entangled=True)
  if by_stage("split"):
    lines += ["", "## Fig. 2: split networks", "", f"![Fig. 2](figures/{figures['fig2']})", ""]
    lines += _model_table(by_stage("split"), models)
    if several:
      lines += _seed_table(seeded(("shared", "split")), summaries)
      lines += _difference_table(seeded(("shared", "split")), summaries)
  if regressions:
    lines += ["", "## Fig. 3: regression to z versus T_y z (Sec. 3)", ""]
    for name in regressions:
      lines.append(f"![{name}](figures/{figures['fig3_' + os.path.basename(name)]})")
    lines += ["", "Held-out losses of fresh networks fitting the disentangled target (x, y) -> z "
              "and (y, z) -> x versus the entangled one (T_y z); means over seeds. Steps to "
              "fraction: the first step that covers that fraction of the loss drop; ratio: 95% t "
              "interval over seeds; p: one-sided "
              "exact sign-flip test over seeds (disentangled faster; with n seeds its smallest "
              "possible value, the floor, is 1/2^n). Each seed fits its own random T_y. Teacher "
              "split: the split-both model's codes, not aligned across labels, as the target (the "
              "paper makes no claim about it; it tells whether the gap is SGD's preference or "
              "merely that z came from the student's own architecture).", "",
              "| run | teacher | T_y | seeds x steps | problem | final loss dis / ent | "
              "ratio ent/dis [95%] | steps to fraction dis / ent | p (floor) | AUC dis / ent |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in regressions.items():
      for problem in ("encoder", "decoder"):
        p = r[problem]
        lines.append(
            f"| {name} | {r.get('teacher', 'shared')} | {r['transform']} | "
            f"{r['seeds']} x {r['steps']} | {problem} | "
            f"{_num(p['final_loss']['disentangled'], 4)} / {_num(p['final_loss']['entangled'], 4)} | "
            f"{_with_interval(p['final_ratio'])} | "
            f"{_num(p['steps_to_fraction']['disentangled'], 0)} / "
            f"{_num(p['steps_to_fraction']['entangled'], 0)} | "
            f"{stats.format_p(p['steps_p_value'])} "
            f"(floor {stats.format_p(p.get('steps_p_value_floor'))}) | "
            f"{_num(p['auc']['disentangled'], 4)} / {_num(p['auc']['entangled'], 4)} |")
  if by_stage("appendix_a"):
    lines += ["", "## Fig. 4 (App. A): single layers split", "",
              f"![Fig. 4](figures/{figures['fig4']})", "",
              "One network split whole; one layer of the other split, counted from z (encoder "
              "l-k, decoder l+k). The paper sees style lost when the split layer is near z.", ""]
    lines += _model_table(by_stage("appendix_a"), models)
    if several:
      lines += _seed_table(seeded(("appendix_a",)), summaries)
  if results["competition"]:
    lines += ["", "## Figs. 5, 6 (App. B): encoder versus decoder", ""]
    # Directions per label (latent_usage.active_directions): a column only when some run has them
    # (records written before they were measured have not).
    directions = any(row.get("median_active_directions_per_label") is not None
                     for c in results["competition"].values() for row in c["conditions"].values())
    lines += [f"![{key}](figures/{name})" for key, name in figures.items()
              if key.startswith("fig56_")]
    trajectories = [k for k in figures if k.startswith("trajectory_")]
    if trajectories:
      lines += ["", "SP of μ_p, μ'_p and Δ judged during training (thin: seeds; bold: median; dotted: "
                "the thresholds):", ""]
      lines += [f"![{k}](figures/{figures[k]})" for k in trajectories]
    lines += ["", "Each run is judged on the SP intervals of μ_p and μ'_p: the encoder wins when "
              "μ'_p preserves style (interval above tau_hi) and μ_p does not (below tau_lo), the "
              "decoder wins the other way round, otherwise inconclusive (also when LP of μ_p is "
              "below the gate). Win rate: encoder wins / decisive runs, and encoder wins / all "
              "runs, each with a Wilson 95% interval over seeds (one run each). Δ = SP(μ'_p) - "
              "SP(μ_p) on the same z (> 0 leans encoder): its mean with a 95% t interval over "
              "seeds, and the exact two-sided sign test of its signs over seeds (with n seeds its "
              "smallest possible p, the floor, is 2/2^n). Agrees: the most common verdict over "
              "seeds is the paper's (else the one it is, in brackets). SP of μ_p(y, S_y z) with "
              "fresh rotations S_y is the style no rotation removes. Figures: per condition, the "
              "typical run (the most common verdict, nearest its median SPs) with μ_p (top) and "
              "μ'_p (bottom). Active units: coordinates of z whose mean KL exceeds "
              f"{latent_usage.ACTIVE_UNIT_NATS} nats." +
              (" Directions per label: eigen-directions of the posterior means within one label "
               f"whose variance exceeds {latent_usage.ACTIVE_DIRECTION_VARIANCE} (median over "
               "labels, then over seeds), which no rotation of z changes." if directions else ""),
              "",
              "| condition | paper | runs x steps | encoder / decoder / inconclusive | "
              "encoder win rate, decisive runs [95%] | encoder wins of all runs [95%] | "
              "median SP μ_p | median SP μ'_p | mean Δ [95% t] | Δ > 0 / < 0, sign test p "
              "(floor) | median SP μ_p(y, S_y z) | median active units | " +
              ("median directions per label | " if directions else "") + "agrees |",
              "| --- |" + " --- |" * (12 + directions)]
    for name, c in results["competition"].items():
      for condition, row in c["conditions"].items():
        rate = competition.win_rate_text(row, none="n/a (no decisive run)")
        lean = row["lean"]
        expected = (f"{row['expected_verdict']} wins" +
                    (" (pipeline check)" if row["expected_from"] != "paper" else "")
                    if row["expected_verdict"] else "n/a")
        agrees = ("n/a" if row["agrees"] is None else "yes" if row["agrees"] else
                  f"no ({row['majority_verdict']})")
        lines.append(f"| {condition} | {expected} | {row['runs']} x {c['steps']} | "
                     f"{row['encoder_wins']} / {row['decoder_wins']} / {row['inconclusive']} | "
                     f"{rate} | {_proportion_text(row['encoder_win_rate_all_runs'], row['runs'])}"
                     f" | {_num(row['median_sp_mu'], 2)} | {_num(row['median_sp_mu_prime'], 2)} | "
                     f"{_num(lean['mean'], 2)} [{_num(lean['interval'][0], 2)}, "
                     f"{_num(lean['interval'][1], 2)}] | {lean['positive']} / {lean['negative']}"
                     f", p {stats.format_p(lean['p_value'])} "
                     f"({stats.format_p(lean['p_floor'])}) | "
                     f"{_num(row['median_sp_rotation_invariant'], 2)} | "
                     f"{_num(row['median_active_units'], 0)} | " +
                     (f"{_num(row.get('median_active_directions_per_label'), 1)} | "
                      if directions else "") + f"{agrees} |")
    rule = next(iter(results["competition"].values()))["rule"]
    lines += ["", f"Rule: tau_lo {rule['tau_lo']}, tau_hi {rule['tau_hi']}, LP gate "
              f"{rule['min_label_preservation']}."]
    lines += _sensitivity_lines(results["competition"], rule)
  if spent is not None:
    lines += ["", *_machine_time_lines(spent)]
  lines.append("")
  return "\n".join(lines)


def _sensitivity_lines(competitions, rule):
  """The verdict counts of every condition re-judged at the sensitivity thresholds."""
  rows = [(condition, row) for c in competitions.values()
          for condition, row in c["conditions"].items()]
  pairs = [(p["tau_lo"], p["tau_hi"]) for p in rows[0][1]["threshold_sensitivity"]["pairs"]]
  short = {"encoder": "enc", "decoder": "dec", "inconclusive": "inc", "tie": "tie"}
  lps = [row["threshold_sensitivity"]["lowest_lp"] for _, row in rows]
  lowest = min((v for v in lps if v is not None), default=None)
  lines = ["", "### The verdicts at other thresholds", "",
           "Every run re-judged on its final SP intervals at other (tau_lo, tau_hi) pairs, the LP "
           f"gate held at {rule['min_label_preservation']} (the lowest final LP of any run: "
           f"{_num(lowest)}); nothing is trained again. Cells: encoder / decoder / inconclusive "
           f"runs, then the most common verdict; ({rule['tau_lo']}, {rule['tau_hi']}) is the "
           "rule above" + ("" if (rule["tau_lo"], rule["tau_hi"]) in pairs else
                           " (not among these pairs)") + ".", "",
           "| condition | paper | " + " | ".join(f"({lo}, {hi})" for lo, hi in pairs) +
           " | pairs that agree |", "| --- | --- |" + " --- |" * (len(pairs) + 1)]
  for condition, row in rows:
    expected = row["expected_verdict"]
    label = ("n/a" if not expected else expected +
             (" (pipeline check)" if row["expected_from"] != "paper" else ""))
    sensitivity = row["threshold_sensitivity"]["pairs"]
    cells = [f"{p['encoder']}/{p['decoder']}/{p['inconclusive']} {short[p['majority']]}"
             for p in sensitivity]
    agree = ("n/a" if not expected else
             f"{sum(p['majority'] == expected for p in sensitivity)}/{len(sensitivity)}")
    lines.append(f"| {condition} | {label} | " + " | ".join(cells) + f" | {agree} |")
  return lines


MACHINE_TIME_HEADING = "## Machine time"


def _threads_text(threads):
  if not threads:
    return "not recorded"
  intra, inter = threads.get("intra_op"), threads.get("inter_op")
  text = "TF default" if intra is None and inter is None else (
      f"intra-op {intra or 'default'}, inter-op {inter or 'default'}")
  return f"{text}, {threads.get('cpus')} CPUs"


def machine_time(runs, records):
  """What the runs took, from their records: total and per-stage wall time, hosts, threads.

  Wall time is a run's start to its record, summed over the calls that ran it (pauses and the
  time other processes held the CPU included); runs that shared a machine each count in full.
  A record without a wall time counts as a run but adds no seconds.
  """
  stages = {}
  for run in runs:
    record = records[run.name]
    row = stages.setdefault(run.stage, {"runs": 0, "wall_seconds": 0.0, "estimated_seconds": 0.0,
                                        "unknown_wall": 0})
    row["runs"] += 1
    row["estimated_seconds"] += record.get("estimated_seconds") or 0.0
    if record.get("wall_seconds") is None:
      row["unknown_wall"] += 1
    else:
      row["wall_seconds"] += record["wall_seconds"]
  hosts = collections.Counter(records[r.name].get("host") or "not recorded" for r in runs)
  threads = collections.Counter(_threads_text(records[r.name].get("threads")) for r in runs)
  return {
      "runs": len(runs),
      "wall_seconds": round(sum(r["wall_seconds"] for r in stages.values()), 1),
      "estimated_seconds": round(sum(r["estimated_seconds"] for r in stages.values()), 1),
      "stages": {k: dict(v, wall_seconds=round(v["wall_seconds"], 1),
                         estimated_seconds=round(v["estimated_seconds"], 1))
                 for k, v in stages.items()},
      "hosts": dict(sorted(hosts.items())),
      "threads": dict(sorted(threads.items())),
  }


def _machine_time_lines(spent):
  ratio = lambda wall, estimate: f"{wall / estimate:.2f}" if estimate and wall else "n/a"
  listing = lambda counts: "; ".join(f"{k} ({n} runs)" for k, n in counts.items())
  unknown = sum(r["unknown_wall"] for r in spent["stages"].values())
  lines = [MACHINE_TIME_HEADING, "",
           f"Total: **{files.format_seconds(spent['wall_seconds'])}** of wall time over "
           f"{spent['runs']} runs ({spent['wall_seconds'] / 3600:.1f} h; the plan's cost model: "
           f"{files.format_seconds(spent['estimated_seconds'])}, measured / model "
           f"{ratio(spent['wall_seconds'], spent['estimated_seconds'])}). A run's wall time is "
           "the time from its start to its record, summed over the calls that ran it (pauses and "
           "time other processes held the CPU included); runs that shared a machine each count in "
           "full. Hosts: " + listing(spent["hosts"]) + ". Threads per process: " +
           listing(spent["threads"]) + "." +
           (f" Runs without a recorded wall time: {unknown}." if unknown else "") +
           " This section is the only part of the report that depends on the calls that made "
           "it; everything above is a function of the results alone.", "",
           "| stage | runs | wall time | cost model | measured / model |",
           "| --- | --- | --- | --- | --- |"]
  for stage, row in spent["stages"].items():
    lines.append(f"| {stage} | {row['runs']} | {files.format_seconds(row['wall_seconds'])} | "
                 f"{files.format_seconds(row['estimated_seconds'])} | "
                 f"{ratio(row['wall_seconds'], row['estimated_seconds'])} |")
  return lines


def write_report(workdir, paper, runs, records):
  """Writes <workdir>/report/{REPORT.md, results.json, figures/} from the runs' records.

  Args:
    workdir: the reproduction's folder (the report goes to its report/).
    paper: PaperConfig.
    runs: the plan's runs (their order is the report's).
    records: {run name: record} of every run (`tfdis.reproduce.ledger`).
  """
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
  results = {
      "scale": paper.scale,
      "command": ("python -m binaries.reproduce --flagfile=flags/paper.cfg "
                  f"--scale={paper.scale} --workdir=<workdir>" +
                  (f" --competition_seeds={paper.competition_seeds}"
                   if paper.competition_seeds else "") +
                  (f" --model_seeds={paper.model_seeds}" if paper.model_seeds else "")),
      "models": models, "conditions": conditions(models), "regression": regressions,
      "competition": competitions,
      "expectations": expectations(models, regressions, competitions),
  }
  out = os.path.join(workdir, "report")
  figures = write_figures(records, runs, models, competitions, os.path.join(out, "figures"))
  spent = machine_time(runs, records)
  files.write_json(os.path.join(out, "results.json"), results)
  files.write_json(os.path.join(out, "machine_time.json"), spent)
  files.write_text(os.path.join(out, "REPORT.md"), markdown(results, figures, spent))
  return results
