"""REPORT.md, results.json and figures/ of a finished reproduction (`tfdis.reproduce`).

Everything here is read from the runs' records (`tfdis.reproduce.ledger`): what `runner.run_result`
and `figures.run_figures` take from each run's own result files (evaluation.json, regression.json,
winrate.json and their images). Records are made from the workdir's runs, or read from a
--ledger folder, so the report of a reproduction that was killed and resumed, or split across
machines and days, is the same as that of one that ran straight through, except for its last
section, "Machine time" (`ledger.machine_time`: the records' wall times, which vary between calls;
also in report/machine_time.json, <workdir>/timing.json and each record).

The claims and verdicts are tfdis.reproduce.claims', the figures tfdis.reproduce.figures'; here,
the markdown (one function per section), results.json and machine_time.json.
"""
import os

from tfdis import files
from tfdis.experiments import competition
from tfdis.metrics import latent_usage
from tfdis.metrics import stats
from tfdis.reproduce import calibrated
from tfdis.reproduce import claims
from tfdis.reproduce import ledger
from tfdis.reproduce import questions
from tfdis.reproduce.claims import interval_text
from tfdis.reproduce.claims import number
from tfdis.reproduce.claims import proportion_text
from tfdis.reproduce.claims import with_interval
from tfdis.reproduce.figures import write_figures

_SCALE_NOTES = {
    "smoke": "Smoke scale: tiny networks trained for a few steps. It checks that every stage runs "
             "and reports; its numbers mean nothing about the paper.",
    "quick": "Quick scale: the paper's networks, trained for fewer steps, with fewer regression "
             "and competition seeds (each table gives its steps and seeds; every setting is in "
             "plan.json). Win rates from so few seeds have wide intervals; the full scale runs 20 "
             "seeds per condition.",
    "full": "Full scale: the settings of each experiment's flagfile under flags/.",
}


def _model_table(names, models, entangled=False):
  lines = ["| run | model | steps | test ELBO (nats) [95%] | LP [95% Wilson] | SP [95% bootstrap] | "
           "untrained LP / SP [95% t over inits] |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  for name in names:
    m = models[name]
    u = m.get("untrained")
    untrained = (f"{with_interval(u['lp'])} / {with_interval(u['sp'])} ({u['inits']} inits)"
                 if u else "n/a")
    lines.append(f"| {name} | {m['title']} | {m['steps']} | {with_interval(m['elbo'], 2)} | "
                 f"{with_interval(m['lp'])} | {with_interval(m['sp'])} | {untrained} |")
    if entangled:
      e = m["entangled"]
      lines.append(f"| {name}, entangled | μ_p(y, T_y z), {e['transform']} T_y | {m['steps']} | "
                   f"{with_interval(e['elbo'], 2)} | {with_interval(e['lp'])} | "
                   f"{with_interval(e['sp'])} | |")
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
                 f"{interval_text(c['elbo'], 2)} | {interval_text(c['lp'])} | "
                 f"{interval_text(c['sp'])} |")
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


def _by_stage(models, stage):
  return [n for n, m in models.items() if m["stage"] == stage]


def _summaries(results):
  """Per model, its seeds' summary (`claims.conditions`), and whether any model has several."""
  summaries = results.get("conditions") or claims.conditions(results["models"])
  return summaries, any(len(c["runs"]) > 1 for c in summaries.values())


def _seeded(summaries, stages):
  return [c for c, v in summaries.items() if v["stage"] in stages]


def markdown(results, figures, spent=None):
  """REPORT.md text; `spent` (`ledger.machine_time`) adds its last section."""
  lines = _head_lines(results)
  lines += _claims_lines(results["expectations"])
  lines += questions.markdown_lines(results.get("questions", []))
  lines += _fig1_lines(results["models"], figures)
  lines += _fig2_lines(results, figures)
  lines += _regression_lines(results["regression"], figures)
  lines += _appendix_a_lines(results, figures)
  lines += calibrated.markdown_lines(results.get("calibrated"))
  lines += _competition_lines(results["competition"], figures)
  if spent is not None:
    lines += ["", *ledger.machine_time_lines(spent)]
  lines.append("")
  return "\n".join(lines)


def _head_lines(results):
  """The title, the command, the scale and the definitions."""
  models = results["models"]
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
  return lines


def _claims_lines(expectations):
  """The claims table: every claim, what was measured and its verdict."""
  lines = ["", "## The paper's claims, measured", "",
           f"The paper's claims only. A claim is \"yes\" only when the measurement supports it: "
           f"style claims need LP's whole interval >= {claims.LP_GATE}; App. B's need the sign "
           "test of Δ over seeds, Holm-adjusted over its conditions, to lean the paper's way; "
           f"the regression's tests run at level {claims.LEVEL} and are \"{claims.UNTESTABLE}\" "
           "when their smallest attainable p is above it; \"similar\" and the control are "
           "equivalence checks (the whole interval inside the margin).", "",
           "| claim | measured | verdict |", "| --- | --- | --- |"]
  for check in expectations:
    verdict = {"yes": "yes", "no": "NO"}.get(check["verdict"], check["verdict"])
    why = f": {check['why']}" if check["why"] else ""
    lines.append(f"| {check['claim']} | {check['measured']} | {verdict}{why} |")
  return lines


def _fig1_lines(models, figures):
  """Fig. 1: the shared model's grids and its table (with the entangled generator)."""
  if not _by_stage(models, "shared"):
    return []
  lines = ["", "## Fig. 1: the shared model and its entangled counterpart", "",
           f"![Fig. 1](figures/{figures['fig1']})", "",
           "Left: μ_p (the trained decoder); right: μ'_p(y, z) = μ_p(y, T_y z), the same ELBO "
           "(Proposition 1) with a label-dependent rotation. Rows: labels; columns: shared z.", ""]
  lines += _model_table(_by_stage(models, "shared"), models, entangled=True)
  return lines


def _fig2_lines(results, figures):
  """Fig. 2: the split models' grids and tables (over seeds when there are several)."""
  models = results["models"]
  if not _by_stage(models, "split"):
    return []
  summaries, several = _summaries(results)
  lines = ["", "## Fig. 2: split networks", "", f"![Fig. 2](figures/{figures['fig2']})", ""]
  lines += _model_table(_by_stage(models, "split"), models)
  if several:
    lines += _seed_table(_seeded(summaries, ("shared", "split")), summaries)
    lines += _difference_table(_seeded(summaries, ("shared", "split")), summaries)
  return lines


def _regression_lines(regressions, figures):
  """Fig. 3: the regression runs' figures and their table."""
  if not regressions:
    return []
  lines = ["", "## Fig. 3: regression to z versus T_y z (Sec. 3)", ""]
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
          f"{number(p['final_loss']['disentangled'], 4)} / "
          f"{number(p['final_loss']['entangled'], 4)} | "
          f"{with_interval(p['final_ratio'])} | "
          f"{number(p['steps_to_fraction']['disentangled'], 0)} / "
          f"{number(p['steps_to_fraction']['entangled'], 0)} | "
          f"{stats.format_p(p['steps_p_value'])} "
          f"(floor {stats.format_p(p.get('steps_p_value_floor'))}) | "
          f"{number(p['auc']['disentangled'], 4)} / {number(p['auc']['entangled'], 4)} |")
  return lines


def _appendix_a_lines(results, figures):
  """Fig. 4 (App. A): the layer-split models' grids and tables."""
  models = results["models"]
  if not _by_stage(models, "appendix_a"):
    return []
  summaries, several = _summaries(results)
  lines = ["", "## Fig. 4 (App. A): single layers split", "",
           f"![Fig. 4](figures/{figures['fig4']})", "",
           "One network split whole; one layer of the other split, counted from z (encoder "
           "l-k, decoder l+k). The paper sees style lost when the split layer is near z.", ""]
  lines += _model_table(_by_stage(models, "appendix_a"), models)
  if several:
    lines += _seed_table(_seeded(summaries, ("appendix_a",)), summaries)
  return lines


def _competition_lines(competitions, figures):
  """Figs. 5, 6 (App. B): the figures, how a run is judged, the table, the rule, the sensitivity."""
  if not competitions:
    return []
  lines = ["", "## Figs. 5, 6 (App. B): encoder versus decoder", ""]
  # Directions per label (latent_usage.active_directions): a column only when some run has them
  # (records written before they were measured have not).
  directions = any(row.get("median_active_directions_per_label") is not None
                   for c in competitions.values() for row in c["conditions"].values())
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
  for c in competitions.values():
    for condition, row in c["conditions"].items():
      lines.append(_competition_row(condition, row, c["steps"], directions))
  rule = next(iter(competitions.values()))["rule"]
  fitted = claims.secondary_rule(competitions, rule["min_label_preservation"]).items()
  lines += ["", f"Rule of this table: tau_lo {rule['tau_lo']}, tau_hi {rule['tau_hi']}, LP gate "
            f"{rule['min_label_preservation']}. The control-validated rule (claims table): "
            f"{'; '.join(claims.rule_text(t, r) for t, r in fitted)}."]
  lines += _sensitivity_lines(competitions, rule)
  return lines


def _competition_row(condition, row, steps, directions):
  """One condition's row of the competition table (`directions`: with directions per label)."""
  rate = competition.win_rate_text(row, none="n/a (no decisive run)")
  lean = row["lean"]
  expected = (f"{row['expected_verdict']} wins" +
              (" (pipeline check)" if row["expected_from"] != "paper" else "")
              if row["expected_verdict"] else "n/a")
  agrees = ("n/a" if row["agrees"] is None else "yes" if row["agrees"] else
            f"no ({row['majority_verdict']})")
  return (f"| {condition} | {expected} | {row['runs']} x {steps} | "
          f"{row['encoder_wins']} / {row['decoder_wins']} / {row['inconclusive']} | "
          f"{rate} | {proportion_text(row['encoder_win_rate_all_runs'], row['runs'])}"
          f" | {number(row['median_sp_mu'], 2)} | {number(row['median_sp_mu_prime'], 2)} | "
          f"{number(lean['mean'], 2)} [{number(lean['interval'][0], 2)}, "
          f"{number(lean['interval'][1], 2)}] | {lean['positive']} / {lean['negative']}"
          f", p {stats.format_p(lean['p_value'])} "
          f"({stats.format_p(lean['p_floor'])}) | "
          f"{number(row['median_sp_rotation_invariant'], 2)} | "
          f"{number(row['median_active_units'], 0)} | " +
          (f"{number(row.get('median_active_directions_per_label'), 1)} | "
           if directions else "") + f"{agrees} |")


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
           f"{number(lowest)}); nothing is trained again. Cells: encoder / decoder / inconclusive "
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


MACHINE_TIME_HEADING = ledger.MACHINE_TIME_HEADING


def write_report(workdir, paper, runs, records):
  """Writes <workdir>/report/{REPORT.md, results.json, figures/} from the runs' records.

  Args:
    workdir: the reproduction's folder (the report goes to its report/).
    paper: PaperConfig.
    runs: the plan's runs (their order is the report's).
    records: {run name: record} of every run (`tfdis.reproduce.ledger`).
  """
  models, regressions, competitions = claims.gather(runs, records)
  results = {
      "scale": paper.scale,
      "command": ("python -m binaries.reproduce --flagfile=flags/paper.cfg "
                  f"--scale={paper.scale} --workdir=<workdir>" +
                  (f" --competition_seeds={paper.competition_seeds}"
                   if paper.competition_seeds else "") +
                  (f" --model_seeds={paper.model_seeds}" if paper.model_seeds else "")),
      "models": models, "conditions": claims.conditions(models), "regression": regressions,
      "competition": competitions,
      "expectations": claims.expectations(models, regressions, competitions),
      "questions": questions.added_questions(models, claims.conditions(models), competitions),
  }
  out = os.path.join(workdir, "report")
  figures = write_figures(records, runs, models, competitions, os.path.join(out, "figures"))
  results["calibrated"] = calibrated.section(runs, records, os.path.join(out, "figures"))
  spent = ledger.machine_time(runs, records)
  files.write_json(os.path.join(out, "results.json"), results)
  files.write_json(os.path.join(out, "machine_time.json"), spent)
  files.write_text(os.path.join(out, "REPORT.md"), markdown(results, figures, spent))
  return results

