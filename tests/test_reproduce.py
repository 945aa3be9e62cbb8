"""binaries.reproduce: the plan per scale, the report's checks, and the smoke scale end to end,
straight through and killed then resumed (the same report, finished runs not redone)."""
import collections
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import types

import pytest

from binaries import flag_defs
from tfdis import files
from tfdis import flagfiles
from tfdis.metrics import stats
from tfdis.reproduce import claims
from tfdis.reproduce import figures
from tfdis.reproduce import ledger
from tfdis.reproduce import report
from tfdis.reproduce import plan
from tfdis.reproduce import runner
from tfdis.reproduce.config import PaperConfig
from tfdis.training import config as config_lib
from tfdis.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {k: v for k, v in os.environ.items()  # TF's default threads, as the records say
       if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
ENV["TF_CPP_MIN_LOG_LEVEL"] = "2"
NUM_RUNS = 25  # shared, 3 split, 8 appendix A, 3 regression, 10 competition conditions (2 checks)
APP_B = [f"{t}_{v}" for t in ("rotation", "reflection")
         for v in ("standard", "y_masked", "encoder_split", "decoder_split")]
REPORT_FILES = ("REPORT.md", "results.json")


# --- flagfiles ---------------------------------------------------------------------------------

def test_flagfiles_are_read_by_absl_with_includes_and_later_lines_win(tmp_path):
  base = tmp_path / "base.cfg"
  base.write_text("# comment\n--hidden_units=64\n--latent_dim=8\n--jit_compile=true\n")
  top = tmp_path / "top.cfg"
  top.write_text(f"--flagfile={base}\n\n--latent_dim=3\n--nojit_compile\n--num_steps=7\n")
  config = flagfiles.config_from_flagfiles(config_lib.TrainConfig, [str(top)], {"num_steps": 9})
  assert (config.hidden_units, config.latent_dim, config.jit_compile, config.num_steps) == (
      64, 3, False, 9)
  assert config.batch_size == config_lib.TrainConfig().batch_size  # not in the file: the default
  later = tmp_path / "later.cfg"
  later.write_text("--latent_dim=5\n")
  assert flagfiles.config_from_flagfiles(config_lib.TrainConfig,
                                         [str(top), str(later)]).latent_dim == 5


@pytest.mark.parametrize("text, match", [
    ("--no_such_flag=1\n", "--no_such_flag is not a setting of TrainConfig"),
    ("--latent_dim=three\n", "latent_dim"),
    ("latent_dim=3\n", "is not a --flag line"),
    ("--flagfile=missing.cfg\n", "Unable to open flagfile"),
])
def test_bad_flagfiles_are_refused_with_the_line(tmp_path, text, match):
  path = tmp_path / "bad.cfg"
  path.write_text(text)
  with pytest.raises(UsageError, match=match):
    flagfiles.config_from_flagfiles(config_lib.TrainConfig, [str(path)])


def test_a_missing_flagfile_is_refused():
  with pytest.raises(UsageError, match="does not exist"):
    flagfiles.config_from_flagfiles(config_lib.TrainConfig, ["flags/no_such.cfg"])


def test_every_flagfile_reads_into_its_binary_config():
  """Each flagfile under flags/ parses into its binary's config (includes resolved by absl), and
  each one but the list of the paper and the scales (layered on others by `plan`) validates."""
  binary_of = lambda path: ("reproduce" if path.endswith("paper.cfg") else
                            "evaluate" if "evaluate" in path else
                            "regress" if "regress" in path else
                            "compete" if "compet" in path else "train")
  checked = []
  for folder, _, names in os.walk(os.path.join(REPO, "flags")):
    for name in names:
      path = os.path.relpath(os.path.join(folder, name), REPO)
      config = flagfiles.config_from_flagfiles(flag_defs.binary_config(binary_of(path)), [path])
      if not path.endswith("paper.cfg") and "scales" not in path:
        config.validate()
      checked.append(path)
  assert len(checked) == 63


# --- the plan -----------------------------------------------------------------------------------

def _paper(scale, **kw):
  return flagfiles.config_from_flagfiles(PaperConfig, ["flags/paper.cfg"],
                                         dict(scale=scale, **kw))


def test_full_scale_runs_every_flagfile_as_it_is():
  runs = plan.plan(_paper("full"))
  assert len(runs) == 12 * 5 + 13  # 5 seeds of every trained model
  assert [r.stage for r in runs] == (["shared"] * 5 + ["split"] * 15 + ["appendix_a"] * 40 +
                                     ["regression"] * 3 + ["competition"] * 10)
  # One run per competition condition (each fits one working stretch), in the flagfiles' order.
  assert [r.name for r in runs[-10:]] == [f"competition/{c}" for c in APP_B] + [
      "competition/rotation_decoder_split_all", "competition/rotation_encoder_split_all"]
  assert [r.condition for r in runs[-10:]] == (["compete_rotation"] * 4 +
                                               ["compete_reflection"] * 4 + ["compete_checks"] * 2)
  by_name = {r.name: r for r in runs}
  assert [r.name for r in runs[:5]] == ["shared"] + [f"shared_seed{s}" for s in range(1, 5)]
  assert [r.config.seed for r in runs[:5]] == [0, 1, 2, 3, 4]
  assert {r.condition for r in runs[:5]} == {"shared"}
  assert by_name["appendix_a/encoder_split_decoder_l1_seed3"].config.decoder_split == "1"
  assert (plan.plan(_paper("quick"))[2].name, len(plan.plan(_paper("quick")))) == (
      "shared_seed2", 12 * 3 + 13)
  assert len(plan.plan(_paper("full", model_seeds=2))) == 12 * 2 + 13
  assert by_name["shared"].config == flagfiles.config_from_flagfiles(config_lib.TrainConfig,
                                                                     ["flags/shared.cfg"])
  assert by_name["split"].config.num_steps == 20000
  assert (by_name["split"].config.encoder_split, by_name["split"].config.decoder_split) == (
      "all", "all")
  assert by_name["appendix_a/decoder_split_encoder_l2"].config.encoder_split == "2"
  assert by_name["regression/regress"].config.num_seeds == 8  # p floor 1/256 < 0.01
  assert by_name["regression/regress"].teacher == "shared"
  assert by_name["regression/regress_control"].config.transform == "same_rotation"
  assert by_name["regression/regress_split_teacher"].teacher == "split"
  assert by_name["competition/reflection_y_masked"].config.seeds == 20
  # The full-scale length chosen in #11 (flags/compete.cfg), judged along the way too.
  assert (by_name["competition/reflection_y_masked"].config.num_steps,
          by_name["competition/reflection_y_masked"].config.judge_steps()) == (10000, [2500, 5000])
  assert by_name["competition/reflection_y_masked"].config.variants() == ["y_masked"]
  assert by_name["competition/rotation_encoder_split_all"].config.variants() == [
      "encoder_split_all"]
  # A condition's run is the same as the one flags/compete/<condition>.cfg gives.
  alone = _paper("full", competition="flags/compete/reflection_y_masked.cfg")
  assert plan.plan(alone)[-1].config == by_name["competition/reflection_y_masked"].config
  # What the open claims need: 5 seeds of every model of Figs. 1, 2, 4; 8 regression seeds; the
  # eight App. B conditions with 20 seeds each, at flags/compete.cfg's training length.
  compete_steps = flagfiles.config_from_flagfiles(flag_defs.binary_config("compete"),
                                                  ["flags/compete.cfg"]).num_steps
  app_b = [(r.config.transform, v, r.config.seeds, r.config.num_steps) for r in runs
           if r.stage == "competition" for v in r.config.variants() if v in (
               "standard", "y_masked", "encoder_split", "decoder_split")]
  assert len(app_b) == 8 and all(seeds >= 20 and steps == compete_steps
                                 for _, _, seeds, steps in app_b), app_b
  assert {r.config.num_seeds for r in runs if r.kind == "regression"} == {8}


def test_the_committed_full_ledger_is_accepted_by_this_codes_full_plan():
  # A change to a flagfile, a config default or RECORD_VERSION that would refuse the committed
  # records (and so ask for hours of runs again) fails here, before any long run starts.
  folder = os.path.join(REPO, "reports", "full", "ledger")
  records = ledger.read_records(folder, plan.plan(_paper("full")))
  assert len(records) == len(ledger.record_files(folder)) >= 24


def test_the_committed_full_ledger_already_writes_its_report(tmp_path):
  # The report comes from the records alone, so the committed ones write it again here: a
  # defect of the full-scale report, or a change to the report code, shows in this test.
  folder = os.path.join(REPO, "reports", "full", "ledger")
  paper = _paper("full")
  runs = plan.plan(paper)
  records = ledger.read_records(folder, runs)
  recorded = [r for r in runs if r.name in records]
  results = report.write_report(str(tmp_path), paper, recorded, records)
  text = (tmp_path / "report" / "REPORT.md").read_text()
  assert len(results["models"]) == sum(r.kind == "train" for r in recorded)
  assert results["conditions"]["shared"]["seeds"] == [0, 1, 2, 3, 4]
  assert [c["verdict"] for c in results["expectations"][:5]] == ["yes"] * 5
  near = next(c for c in results["expectations"]
              if c["claim"].startswith("appendix_a/encoder_split_decoder_l0 "))
  assert near["verdict"] == "yes" and near["measured"].startswith("5 seeds: SP 0.020 [")
  assert results["competition"]
  by_name = {r.name: r for r in runs}
  sizes = set()
  for name, c in results["competition"].items():
    seeds, steps = by_name[name].config.seeds, by_name[name].config.num_steps
    sizes.add((seeds, steps))
    for condition, row in c["conditions"].items():
      saved = records[name]["result"]["winrate"]["conditions"][condition]
      assert row["runs"] == seeds == saved["encoder_wins"] + saved["decoder_wins"] + saved[
          "inconclusive"]
      line = next(x for x in text.split("\n") if x.startswith(f"| {condition} | "))
      cells = [x.strip() for x in line.split("|")[1:-1]]
      assert cells[2] == f"{seeds} x {steps}"
      assert cells[3] == f"{saved['encoder_wins']} / {saved['decoder_wins']} / " \
                         f"{saved['inconclusive']}"
      assert cells[5].endswith(f"({saved['encoder_wins']}/{seeds})")
      # The two-sided sign test's floor over the seeds: 1.91e-06 for 20, 0.5 for 2.
      assert cells[9].endswith(f"({stats.format_p(stats.sign_test([1.0] * seeds).floor)})")
      assert (cells[-1] == "yes") == saved["agrees"]
      # Re-judged from the final points at the record's own thresholds: its own counts again.
      rule = records[name]["result"]["winrate"]["rule"]
      at_rule = next(p for p in row["threshold_sensitivity"]["pairs"]
                     if (p["tau_lo"], p["tau_hi"]) == (rule["tau_lo"], rule["tau_hi"]))
      assert (at_rule["encoder"], at_rule["decoder"], at_rule["inconclusive"]) == (
          saved["encoder_wins"], saved["decoder_wins"], saved["inconclusive"])
  assert "### The verdicts at other thresholds" in text
  assert "## SP on the calibrated scale" in text and "| shared | untrained | 0.100 (mean of 5) |" in text
  assert "directions per label" not in text  # the committed records predate them: no column
  assert (20, 10000) in sizes  # the App. B conditions; the pipeline checks are 2 x 2500
  # The ledger is complete, and the committed report is what its records write, line for line:
  # nothing in reports/full/ was edited by hand or left behind by a later record.
  assert len(recorded) == len(runs) == 73
  committed = os.path.join(REPO, "reports", "full")
  with open(os.path.join(committed, "REPORT.md")) as f:
    assert text.split("\n") == f.read().split("\n")
  assert sorted(os.listdir(os.path.join(committed, "figures"))) == sorted(
      os.listdir(tmp_path / "report" / "figures"))
  with open(os.path.join(committed, "results.json")) as f:
    saved = json.load(f)
  assert [(c["claim"], c["verdict"]) for c in saved["expectations"]] == [
      (c["claim"], c["verdict"]) for c in results["expectations"]]
  assert collections.Counter(c["verdict"] for c in saved["expectations"]) == {"yes": 22, "no": 1}


def test_full_plan_shards_cover_it_once_with_each_regression_beside_its_teacher():
  paper = _paper("full")
  runs = plan.plan(paper)
  shards = [plan.shard_runs(_paper("full", ledger="L", num_shards=4, shard_index=i), runs)
            for i in range(4)]
  names = [r.name for shard in shards for r in shard]
  assert sorted(names) == sorted(r.name for r in runs)  # disjoint, and every run once
  assert [len(s) for s in shards] == [20, 18, 17, 18]  # 70 units: 18, 18, 17, 17; shard 0: shared
  # and its 2 regressions, shard 3: split and its regression
  for shard in shards:
    teachers = {r.teacher for r in shard if r.kind == "regression"}
    assert teachers <= {r.name for r in shard}
  assert {r.teacher for r in runs if r.kind == "regression"} == {"shared", "split"}
  # binaries.compete deals seed batches by the same rule.
  assert files.shard(range(7), 3, 1) == [1, 4]


def test_stages_deal_only_their_runs_and_a_regression_without_its_teacher():
  runs = plan.plan(_paper("full"))
  shard = lambda stages, i, k=2: [r.name for r in plan.shard_runs(
      _paper("full", ledger="L", num_shards=k, shard_index=i, stages=stages), runs)]
  # The competition's 10 runs, alternately: each shard gets two unsplit and two split conditions.
  assert shard("competition", 0) == ["competition/rotation_standard",
                                     "competition/rotation_encoder_split",
                                     "competition/reflection_standard",
                                     "competition/reflection_encoder_split",
                                     "competition/rotation_decoder_split_all"]
  assert sorted(shard("competition", 0) + shard("competition", 1)) == sorted(
      r.name for r in runs if r.stage == "competition")
  # A regression's unit keeps its regressions without the teacher (trained again where missing).
  assert shard("regression", 0) == ["regression/regress", "regression/regress_control"]
  assert shard("regression", 1) == ["regression/regress_split_teacher"]
  assert len(shard("regression, competition", 0, 1)) == 13
  assert shard("", 0, 1) == [r.name for r in runs]  # empty: every stage, as before
  with pytest.raises(UsageError, match="--stages='competitoin': no stage 'competitoin'; choose "
                                       "among shared, split, appendix_a, regression, competition"):
    _paper("full", stages="competitoin").validate()


def test_a_regression_teacher_must_be_a_trained_run_of_the_plan(tmp_path):
  flagfile = tmp_path / "regress_bogus.cfg"
  flagfile.write_text(f"--flagfile={REPO}/flags/regress.cfg\n--teacher_run=split_both\n")
  with pytest.raises(UsageError, match="--teacher_run=split_both names no trained run of the "
                                       "plan; use one of .*'split'"):
    plan.plan(_paper("full", regression=str(flagfile)))


def test_quick_and_smoke_scales_shorten_and_competition_seeds_override():
  quick = {r.name: r for r in plan.plan(_paper("quick"))}
  assert quick["shared"].config.num_steps == 8000
  assert quick["split"].config.num_steps == 6000
  assert quick["split"].config.hidden_units == 512  # the paper's networks, fewer steps
  assert quick["competition/rotation_standard"].config.seeds == 2
  assert (quick["competition/rotation_standard"].config.num_steps,
          quick["competition/rotation_standard"].config.judge_steps()) == (2500, [1000])
  smoke = {r.name: r for r in plan.plan(_paper("smoke", competition_seeds=3))}
  assert smoke["split"].config.hidden_units == 16 and smoke["split"].config.num_steps == 20
  assert smoke["competition/rotation_standard"].config.seeds == 3
  # Estimates order the runs the way they really cost at quick scale.
  assert quick["split"].estimate_seconds() > quick["split_encoder"].estimate_seconds() > (
      quick["appendix_a/encoder_split_decoder_l0"].estimate_seconds())


@pytest.mark.parametrize("kw, match", [
    (dict(scale=""), "--scale=''"),
    (dict(scale="medium"), "choose smoke"),
    (dict(scale="smoke", competition_seeds=-1), "--competition_seeds=-1"),
    (dict(scale="smoke", shared="flags/shared.cfg,flags/split.cfg"), "must name one flagfile"),
    (dict(scale="smoke", split="flags/split.cfg,flags/split.cfg"), "same run name 'split'"),
    (dict(scale="smoke", regression="flags/compete_rotation.cfg"),
     "--judge_at_steps is not a setting of RegressionConfig"),
    (dict(scale="quick", shared="flags/smoke.cfg"),
     r"flags/regress.cfg \(teacher flags/smoke.cfg\): --hidden_units=512 differs"),
    (dict(scale="full", ledger="L", num_shards=2, shard_index=2),
     r"--shard_index=2 must be in \[0, --num_shards=2\)"),
    (dict(scale="full", num_shards=2), "--num_shards=2 needs --ledger=<folder>"),
    (dict(scale="full", max_hours=-1.0), "--max_hours=-1.0 must be >= 0"),
])
def test_bad_paper_settings_are_refused(kw, match):
  with pytest.raises(UsageError, match=match):
    plan.plan(_paper(**kw))


def test_a_failing_run_is_named_and_the_finished_ones_are_kept(tmp_path, monkeypatch):
  def fake_execute(run, workdir):
    if run.name == "split_encoder":
      raise UsageError("The loss became NaN; lower --learning_rate.")
    os.makedirs(run.folder(workdir), exist_ok=True)
    open(os.path.join(run.folder(workdir), run.result_file()), "w").close()
  monkeypatch.setattr(runner, "execute", fake_execute)
  with pytest.raises(UsageError, match=r"^split_encoder \(flags/split_encoder.cfg\): The loss"):
    runner.reproduce(_paper("smoke"), str(tmp_path))
  assert (tmp_path / "runs" / "shared" / "evaluation.json").exists()
  assert set(json.loads((tmp_path / "timing.json").read_text())) == {"shared", "split_encoder"}
  assert json.loads((tmp_path / "progress.json").read_text())["run"] == "split_encoder"


# --- the report's checks -----------------------------------------------------------------------

def _entry(value, half=0.01):
  return {"value": value, "interval": [value - half, value + half]}


def _model(stage, enc, dec, sp, sp_entangled=0.0, lp=0.95, untrained_sp=0.1, untrained_half=0.05):
  return {"stage": stage, "encoder_split": enc, "decoder_split": dec, "sp": _entry(sp),
          "lp": _entry(lp), "title": claims.describe_split({"encoder_split": enc,
                                                            "decoder_split": dec}),
          "untrained": {"inits": 3, "sp": _entry(untrained_sp, untrained_half),
                        "lp": _entry(0.1)},
          "entangled": {"sp": _entry(sp_entangled), "lp": _entry(lp), "transform": "rotation"}}


def _problem(difference, ratio, p, floor):
  return {"steps_difference": {"value": difference, "interval": [difference, difference]},
          "steps_to_fraction": {"disentangled": 100, "entangled": 100 + difference},
          "final_ratio": {"value": ratio[0], "interval": list(ratio[1:])},
          "steps_p_value": p, "steps_p_value_floor": floor}


def _verdicts(models, regressions):
  return [c["verdict"] for c in claims.expectations(models, regressions)]


def test_style_claims_need_labels_and_are_the_papers_own():
  models = {
      "shared": _model("shared", "none", "none", 0.8, sp_entangled=0.05),   # yes; twin yes
      "split_encoder": _model("split", "all", "none", 0.8, lp=0.85),        # SP holds, LP fails
      "split_decoder": _model("split", "none", "all", 0.8, untrained_sp=0.78),  # as untrained
      "split": _model("split", "all", "all", 0.1),                          # |SP| small: yes
      "appendix_a/x": _model("appendix_a", "all", "0", 0.3)}   # next to z yet SP 0.3: App. A no
  checks = claims.expectations(models, {})
  # The paper claims style preservation, not that training created it: an SP no higher than
  # the untrained architecture's still holds the claim (the Added questions ask the other).
  assert [c["verdict"] for c in checks] == ["yes", "yes", "no", "yes", "yes", "no"]
  assert "without the layer split (split_encoder): SP 0.800" in checks[5]["measured"]
  assert "LP interval reaches 0.840 < 0.9" in checks[2]["why"]
  assert "untrained SP 0.780" in checks[3]["measured"]
  # An SP above the threshold whose interval dips below it does not hold; nor a wide SP interval
  # for "does not preserve" that pokes out of the margin.
  models = {"shared": _model("shared", "none", "none", 0.52, sp_entangled=0.15),
            "split": dict(_model("split", "all", "all", 0.1), sp=_entry(0.1, 0.15))}
  models["shared"]["sp"] = _entry(0.52, 0.05)        # point above 0.5, interval reaches 0.47
  models["shared"]["entangled"]["sp"] = _entry(0.15, 0.1)
  assert _verdicts(models, {}) == ["no", "no", "no"]
  # The untrained architecture's LP is not gated (it is the baseline, not a claim).
  assert _verdicts({"shared": _model("shared", "none", "none", 0.8)}, {})[0] == "yes"


def test_regression_claims_level_floor_and_equivalence():
  regressions = {
      "regression/regress": {"transform": "rotation", "fraction": 0.9, "seeds": 8,
                             "encoder": _problem(300, (1.05, 1.02, 1.08), 1 / 256, 1 / 256),
                             "decoder": _problem(300, (1.12, 1.05, 1.19), 0.02, 1 / 256)},
      "regression/regress_3": {"transform": "rotation", "fraction": 0.9, "seeds": 3,
                               "encoder": _problem(300, (1.0, 0.99, 1.01), 0.125, 0.125),
                               "decoder": _problem(300, (1.0, 0.99, 1.01), 0.125, 0.125)},
      "regression/control": {"transform": "same_rotation", "fraction": 0.9, "seeds": 8,
                             "encoder": _problem(0, (1.0, 0.99, 1.01), 0.5, 1 / 256),
                             "decoder": _problem(0, (1.0, 0.95, 1.05), 0.5, 1 / 256)}}
  checks = claims.expectations({}, regressions)
  assert [c["verdict"] for c in checks] == [
      "yes", "yes",          # encoder faster at p = floor < level; ratio inside ±10%
      "no", "no",            # decoder p = 0.02 > 0.01; ratio interval pokes above 1.1
      claims.UNTESTABLE, "yes", claims.UNTESTABLE, "yes",  # 3 seeds: floor 0.125 > 0.01
      "yes", "no"]           # control: inside ±2%; wider than the margin (overlap is not enough)
  assert "smallest attainable p is 0.125 > 0.01" in checks[4]["why"]
  assert "smallest attainable 0.125" in checks[4]["measured"]


def test_appendix_a_claims_near_z_no_style_and_more_style_further_away():
  def layer(enc, dec, sps):
    return {f"appendix_a/{enc}_{dec}_seed{i}": dict(_model("appendix_a", enc, dec, sp), seed=i,
                                                     condition=f"appendix_a/{enc}_{dec}")
            for i, sp in enumerate(sps)}
  models = {**layer("all", "0", [0.02, 0.04, 0.03]), **layer("all", "2", [0.10, 0.12]),
            **layer("all", "3", [0.15, 0.17, 0.16]),                 # decoder row: more style
            **layer("0", "all", [0.05, 0.25]), **layer("3", "all", [0.01, 0.02]),  # encoder row
            **layer("1", "all", [0.3])}
  checks = claims.expectations(models, {})
  assert [(c["claim"].split(" (")[0].split(":")[0], c["verdict"]) for c in checks] == [
      ("appendix_a/all_0", "yes"),    # every seed's SP interval inside ±0.2
      ("App. A, Fig. 4, decoder layer split", "yes"),  # l+3 - l+0: 0.130, Welch interval > 0
      ("appendix_a/0_all", "no"),     # seed 1: SP 0.25 is outside the margin
      ("App. A, Fig. 4, encoder layer split", "no")]   # l-3 below l-0: less style, not more
  assert "SP(l+3) - SP(l+0) 0.130 [" in checks[1]["measured"]
  assert "l+2 0.110 (2 seeds)" in checks[1]["measured"]
  assert checks[2]["why"] == "seed 1: SP interval not inside the margin"
  assert "SP(l-3) - SP(l-0)" in checks[3]["claim"]
  # One seed of a layer: no interval, so the trend is untestable, not "no".
  one = {**layer("all", "0", [0.02]), **layer("all", "3", [0.16])}
  trend = claims.expectations(one, {})
  assert [c["verdict"] for c in trend] == ["yes", claims.UNTESTABLE]
  assert trend[1]["measured"].startswith("SP(l+3) - SP(l+0) 0.140 (no interval with one seed); ")
  assert trend[1]["measured"].endswith("l+0 0.020 (1 seed), l+3 0.160 (1 seed)")


def test_a_model_claim_holds_only_when_every_seed_holds():
  models = {"shared": dict(_model("shared", "none", "none", 0.8), seed=0),
            "shared_seed1": dict(_model("shared", "none", "none", 0.8, lp=0.8), seed=1,
                                 condition="shared"),
            "shared_seed2": dict(_model("shared", "none", "none", 0.7), seed=2,
                                 condition="shared"),
            "split_decoder": dict(_model("split", "none", "all", 0.6), seed=0),
            "split_decoder_seed1": dict(_model("split", "none", "all", 0.64), seed=1,
                                        condition="split_decoder")}
  models["shared"]["condition"] = "shared"
  models["split_decoder"]["condition"] = "split_decoder"
  summaries = claims.conditions(models)
  assert summaries["shared"]["runs"] == ["shared", "shared_seed1", "shared_seed2"]
  mean, interval = stats.t_interval([0.8, 0.8, 0.7])
  assert summaries["shared"]["sp"]["value"] == pytest.approx(mean)
  assert summaries["shared"]["sp"]["interval"] == pytest.approx(list(interval))
  checks = claims.expectations(models, {})
  assert [c["verdict"] for c in checks] == ["no", "no", "yes"]  # seed 1: LP (of both) fails
  assert checks[0]["why"] == "seed 1: LP interval reaches 0.790 < 0.9"
  assert "3 seeds: SP 0.767 [" in checks[0]["measured"] and "2/3 hold" in checks[0]["measured"]
  results = {"scale": "quick", "command": "c", "models": {
      n: dict(m, steps=10, elbo=_entry(-99.0),
              entangled=dict(m["entangled"], elbo=_entry(-99.0))) for n, m in models.items()},
      "regression": {}, "competition": {}, "expectations": checks}
  text = report.markdown(results, {"fig1": "a.png", "fig2": "b.png"})
  d, (low, high) = stats.welch_interval([0.8, 0.8, 0.7], [0.6, 0.64])
  assert f"| shared − split_decoder | {d:.3f} [{low:.3f}, {high:.3f}] |" in text
  assert "| shared | 0, 1, 2 | -99.00 [-99.00, -99.00] |" in text


def test_report_rows_say_why_a_claim_fails():
  models = {"split_encoder": dict(_model("split", "all", "none", 0.8, lp=0.85), steps=10,
                                 elbo=_entry(-99.0))}
  results = {"scale": "quick", "command": "c", "models": models, "regression": {},
             "competition": {}, "expectations": claims.expectations(models, {})}
  text = report.markdown(results, {"fig2": "fig2.png"})
  row = next(line for line in text.splitlines() if line.startswith("| split_encoder (split"))
  assert row.endswith("| NO: LP interval reaches 0.840 < 0.9 |")
  assert "untrained SP 0.100 [0.050, 0.150] (3 inits)" in row


def test_machine_time_sums_the_records_wall_times_by_stage():
  runs = [types.SimpleNamespace(name=n, stage=st) for n, st in
          (("a", "shared"), ("b", "shared"), ("c", "split"))]
  one = {"intra_op": "1", "inter_op": "1", "cpus": 2}
  records = {"a": {"wall_seconds": 100.0, "estimated_seconds": 50.0, "host": "vm", "threads": one},
             "b": {"wall_seconds": None, "estimated_seconds": 30.0, "host": "vm"},
             "c": {"wall_seconds": 3600.0, "estimated_seconds": 1200.0, "host": "node7",
                   "threads": {"intra_op": None, "inter_op": None, "cpus": 2}}}
  spent = ledger.machine_time(runs, records)
  assert spent["runs"] == 3 and spent["wall_seconds"] == 3700.0
  assert spent["estimated_seconds"] == 1280.0
  assert spent["stages"]["shared"] == {"runs": 2, "wall_seconds": 100.0, "estimated_seconds": 80.0,
                                       "unknown_wall": 1}
  assert spent["hosts"] == {"node7": 1, "vm": 2}
  assert spent["threads"] == {"TF default, 2 CPUs": 1, "intra-op 1, inter-op 1, 2 CPUs": 1,
                              "not recorded": 1}
  results = {"scale": "quick", "command": "c", "models": {}, "regression": {},
             "competition": {}, "expectations": []}
  text = report.markdown(results, {}, spent)
  section = text[text.index(report.MACHINE_TIME_HEADING):]
  assert "Total: **1h01m** of wall time over 3 runs (1.0 h; the plan's cost model: 21m20s, " \
         "measured / model 2.89)" in section
  assert "| shared | 2 | 1m40s | 1m20s | 1.25 |" in section
  assert "| split | 1 | 1h00m | 20m00s | 3.00 |" in section
  assert "Runs without a recorded wall time: 1." in section
  assert report.MACHINE_TIME_HEADING not in report.markdown(results, {})


def test_a_runs_wall_time_is_written_while_it_runs_and_summed_over_calls(tmp_path):
  path = tmp_path / "timing.json"
  timing = {"other": 5.0, "run": 2.0}  # "run" already took 2 s in an earlier call
  written = threading.Event()

  class WatchedClock(runner.RunClock):
    def _write(self):  # pylint: disable=protected-access  (the test's window on the thread)
      super()._write()
      written.set()

  clock = WatchedClock(str(path), timing, "run", every=0.05)
  try:  # what a SIGKILL now would leave: written by the clock's thread, before `stop`
    for _ in range(200):  # each write adds the 0.05 s since the last, rounded to 0.1 s
      assert written.wait(timeout=10), "the clock's thread wrote nothing"
      written.clear()
      while_running = json.loads(path.read_text())
      if while_running["run"] > 2.0:
        break
  finally:
    total = clock.stop()
  assert while_running["other"] == 5.0 and 2.0 < while_running["run"] < 12.0
  assert while_running["run"] <= total == json.loads(path.read_text())["run"] == timing["run"]


# --- end to end at smoke scale -----------------------------------------------------------------

def _command(workdir, classifier_dir, *extra):
  return [sys.executable, "-m", "binaries.reproduce", "--flagfile=flags/paper.cfg",
          "--scale=smoke", f"--workdir={workdir}", f"--classifier_dir={classifier_dir}", *extra]


def _run(workdir, classifier_dir, *extra):
  return subprocess.run(_command(workdir, classifier_dir, *extra), cwd=REPO, env=ENV,
                        capture_output=True, text=True, timeout=900)


def _report_bytes(workdir):
  """The report's files, REPORT.md without its last section (the calls' wall times)."""
  out = {name: (workdir / "report" / name).read_bytes() for name in REPORT_FILES}
  text = out["REPORT.md"].decode()
  out["REPORT.md"] = text[:text.index(report.MACHINE_TIME_HEADING)].encode()
  for png in sorted((workdir / "report" / "figures").iterdir()):
    out[png.name] = png.read_bytes()
  return out


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("classifier")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, classifier_dir):
  """The smoke plan run once, uninterrupted."""
  workdir = tmp_path_factory.mktemp("straight")
  began = time.time()
  result = _run(workdir, classifier_dir)
  assert result.returncode == 0, result.stderr[-4000:]
  return workdir, result, time.time() - began


def test_smoke_runs_every_stage_and_writes_the_report(straight):
  workdir, result, _ = straight
  results = json.loads((workdir / "report" / "results.json").read_text())
  assert len(results["models"]) == 12 and len(results["regression"]) == 3
  assert {c["transform"] for c in results["competition"].values()} == {"rotation", "reflection"}
  assert sorted(results["competition"]) == sorted([f"competition/{c}" for c in APP_B] + [
      "competition/rotation_decoder_split_all", "competition/rotation_encoder_split_all"])
  for name, c in results["competition"].items():
    assert list(c["conditions"]) == [name.split("/")[1]]
    for row in c["conditions"].values():
      assert row["runs"] == 1 and row["encoder_wins"] + row["decoder_wins"] + row[
          "inconclusive"] == 1
  for m in results["models"].values():
    for key in ("elbo", "lp", "sp"):
      low, high = m[key]["interval"]
      assert low <= m[key]["value"] <= high
    assert m["steps"] == 20
  # Every trained model on the calibrated scale, from evaluation.json's style scores.
  assert list(results["calibrated"]["models"]) == list(results["models"])
  assert all(r["model"]["style_measured"] for r in results["calibrated"]["models"].values())
  # Proposition 1 in the report: the entangled generator has the model's ELBO.
  shared = results["models"]["shared"]
  assert shared["entangled"]["elbo"]["value"] == pytest.approx(shared["elbo"]["value"], rel=1e-5)
  # 4 models + 1 entangled; App. A: per row, the split next to z and the trend (one seed:
  # untestable); regression: 2 claims x 2 problems, control 2 (the split-teacher
  # regression makes no claim of the paper's); the 8 App. B conditions (the 2 pipeline checks
  # are Added questions).
  assert len(results["expectations"]) == 5 + 4 + 4 + 2 + 8
  assert any(q["question"].startswith("rotation_decoder_split_all") for q in results["questions"])
  app_a = [c for c in results["expectations"] if "App. A" in c["claim"]]
  assert len(app_a) == 4 and [c["verdict"] for c in app_a[1::2]] == [claims.UNTESTABLE] * 2
  assert results["regression"]["regression/regress_split_teacher"]["teacher"] == "split"
  assert {c["verdict"] for c in results["expectations"]} <= {"yes", "no", claims.UNTESTABLE}
  for m in results["models"].values():  # the untrained baseline of every architecture
    assert m["untrained"]["inits"] == 2 and len(m["untrained"]["sp"]["interval"]) == 2
  app_b = [c for c in results["expectations"] if "App. B" in c["claim"]]
  assert {c["claim"].split(" (")[0] for c in app_b} == set(APP_B)
  text = (workdir / "report" / "REPORT.md").read_text()
  for heading in ("Fig. 1", "Fig. 2", "Fig. 3", "Fig. 4", "Figs. 5, 6", "claims, measured"):
    assert heading in text
  # These runs measured directions per label, so App. B's table has their column, one per row.
  head = next(x for x in text.split("\n") if x.startswith("| condition | paper | runs x steps"))
  assert "| median active units | median directions per label | agrees |" in head
  for name, c in results["competition"].items():
    for condition, row in c["conditions"].items():
      line = next(x for x in text.split("\n") if x.startswith(f"| {condition} | "))
      assert len(line.split("|")) == len(head.split("|"))
      assert row["median_active_directions_per_label"] is not None
      assert f"| {row['median_active_directions_per_label']:.1f} |" in line
  drawn = sorted(p.name for p in (workdir / "report" / "figures").iterdir())
  assert drawn == ["calibration_curve.png", "fig1_shared_and_entangled.png", "fig2_split.png",
                   "fig3_regress.png",
                     "fig3_regress_control.png", "fig3_regress_split_teacher.png",
                     "fig4_appendix_a.png",
                     "fig56_compete_checks.png", "fig56_compete_reflection.png",
                     "fig56_compete_rotation.png"]
  for name in drawn:
    assert f"figures/{name}" in text
  timing = json.loads((workdir / "timing.json").read_text())
  assert len(timing) == NUM_RUNS and all(v > 0 for v in timing.values())
  assert json.loads((workdir / "progress.json").read_text())["state"] == "finished"
  assert f"[run {NUM_RUNS}/{NUM_RUNS} | stage competition]" in result.stderr and "ETA" in result.stderr


def test_competition_figures_gather_each_flagfiles_conditions(straight, tmp_path):
  """One Fig. 5/6 panel figure and one trajectory figure per competition flagfile, whose
  conditions are separate runs (the smoke scale judges only at the end: trajectories added)."""
  workdir = straight[0]
  paper = _paper("smoke")
  runs = [r for r in plan.plan(paper) if r.stage == "competition"]
  records = {r.name: runner.make_record(r, paper, str(workdir), code={}) for r in runs}
  for name in ("competition/rotation_standard", "competition/rotation_y_masked"):
    records[name]["figures"]["trajectory"] = records[name]["figures"][
        "typical/" + name.split("/")[1]]
  competitions = {r.name: claims._competition_entry(r.describe(), records[r.name]["result"])
                  for r in runs}
  written = figures.write_figures(records, runs, {}, competitions, str(tmp_path))
  assert written == {"fig56_compete_rotation": "fig56_compete_rotation.png",
                     "trajectory_compete_rotation": "trajectory_compete_rotation.png",
                     "fig56_compete_reflection": "fig56_compete_reflection.png",
                     "fig56_compete_checks": "fig56_compete_checks.png"}
  from PIL import Image  # pylint: disable=g-import-not-at-top
  widths = {k: Image.open(tmp_path / v).size[0] for k, v in written.items()}
  # Four condition panels side by side are twice as wide as the checks' two.
  assert widths["fig56_compete_rotation"] == 2 * widths["fig56_compete_checks"]
  assert widths["trajectory_compete_rotation"] == widths["fig56_compete_checks"]  # 2 panels


def test_rerun_of_a_finished_workdir_trains_nothing_and_gives_the_same_report(
    straight, classifier_dir):
  workdir, _, _ = straight
  before = _report_bytes(workdir)
  # A plan.json written before a config field existed (here: track_every) is the same plan.
  saved = json.loads((workdir / "plan.json").read_text())
  for run in saved["runs"]:
    del run["config"]["track_every"]
  (workdir / "plan.json").write_text(json.dumps(saved))
  result = _run(workdir, classifier_dir)
  assert result.returncode == 0, result.stderr[-4000:]
  assert f"{NUM_RUNS} finished already, 0 to run" in result.stderr
  assert _report_bytes(workdir) == before


def test_other_settings_in_the_same_workdir_are_refused(straight, classifier_dir):
  workdir, _, _ = straight
  result = _run(workdir, classifier_dir, "--competition_seeds=2")
  assert result.returncode == 2
  assert "holds a reproduction made with other settings for competition/rotation_standard" in (
      result.stderr) and "Traceback" not in result.stderr


# --- the ledger: shards, records, the time budget -------------------------------------------------

def _copying_execute(source, executed):
  """An `execute` that 'runs' a run by copying its folder from the finished workdir `source`."""
  def execute(run, workdir):
    executed.append(run.name)
    shutil.copytree(source / "runs" / run.name, run.folder(workdir), dirs_exist_ok=True)
  return execute


def _ledger_paper(classifier_dir, ledger, **kw):
  return _paper("smoke", classifier_dir=str(classifier_dir), ledger=str(ledger), **kw)


@pytest.fixture(scope="module")
def sharded(straight, classifier_dir, tmp_path_factory):
  """The smoke plan recorded by two shards in two workdirs into one ledger (runs copied from the
  straight run), then reported by a third call in a fresh workdir from the records alone."""
  root = tmp_path_factory.mktemp("sharded")
  ledger, executed = root / "ledger", {}
  with pytest.MonkeyPatch.context() as patch:
    for index in (0, 1):
      executed[index] = []
      patch.setattr(runner, "execute", _copying_execute(straight[0], executed[index]))
      paper = _ledger_paper(classifier_dir, ledger, num_shards=2, shard_index=index)
      executed[f"returned{index}"] = runner.reproduce(paper, str(root / f"shard{index}"))
    executed["alone"] = []
    patch.setattr(runner, "execute", _copying_execute(straight[0], executed["alone"]))
    runner.reproduce(_ledger_paper(classifier_dir, ledger), str(root / "alone"))
  return root, ledger, executed


def test_two_shards_fill_one_ledger_and_report_as_one_process(straight, sharded):
  root, ledger_dir, executed = sharded
  assert sorted(executed[0] + executed[1]) == sorted(
      r["name"] for r in json.loads((straight[0] / "plan.json").read_text())["runs"])
  assert len(executed[0]) == 13 and len(executed[1]) == 12  # 22 units dealt round robin
  assert executed["returned0"]["remaining"] == executed[1]  # shard 0 ended first: no report
  assert executed["alone"] == [] and not (root / "alone" / "runs").exists()  # records alone
  assert _report_bytes(root / "alone") == _report_bytes(straight[0])
  assert _report_bytes(root / "shard1") == _report_bytes(straight[0])  # the last shard reports
  record = json.loads((ledger_dir / "appendix_a" / "encoder_split_decoder_l0.json").read_text())
  assert record["record_version"] == ledger.RECORD_VERSION
  assert record["run"]["config"]["decoder_split"] == "0" and record["seed"] == 0
  assert set(record["result"]) == {"evaluation", "metrics"} and set(record["figures"]) == {
      "grid_model"}
  assert record["wall_seconds"] == json.loads((root / "shard0" / "timing.json").read_text())[
      "appendix_a/encoder_split_decoder_l0"]  # shard 0's run (unit 4)
  assert len(record["code"]["commit"]) == 40
  competition = json.loads((ledger_dir / "competition" / "rotation_y_masked.json").read_text())
  assert list(competition["figures"]) == ["typical/rotation_y_masked"]
  assert competition["condition"] == "compete_rotation"
  records = {p: json.loads(p.read_text()) for p in ledger_dir.rglob("*.json")}
  assert len(records) == NUM_RUNS  # results without checkpoints; only the report's images
  spent = json.loads((root / "alone" / "report" / "machine_time.json").read_text())
  assert spent["runs"] == NUM_RUNS and spent["wall_seconds"] == pytest.approx(
      sum(r["wall_seconds"] for r in records.values()), abs=0.1)
  assert spent["threads"] == {f"TF default, {os.cpu_count()} CPUs": NUM_RUNS}
  assert (root / "alone" / "report" / "REPORT.md").read_text().split(
      report.MACHINE_TIME_HEADING)[1].count("\n| ") == 2 + 5  # header, rule, five stages
  assert max(len(json.dumps(r["result"])) for r in records.values()) < 60_000
  assert max(p.stat().st_size for p in records) < 300_000


def test_records_name_the_commit_from_a_checkout_and_from_a_git_archive_snapshot(tmp_path):
  """Long runs start from `git archive` snapshots (no .git): the commit comes from the stamp
  git archive writes into tfdis/ARCHIVE_COMMIT; the checkout itself answers with its HEAD."""
  head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True,
                        check=True).stdout.strip()
  assert ledger.git_commit()["commit"] == head
  archive = subprocess.run(["git", "-C", REPO, "archive", "HEAD"], capture_output=True, check=True)
  subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
  probe = ("import json, sys; sys.path.insert(0, '.'); from tfdis.reproduce import ledger; "
           "print(json.dumps(ledger.git_commit()))")
  found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env=ENV)
  assert json.loads(found.stdout.splitlines()[-1]) == {"commit": head, "changed": None}
  (tmp_path / "tfdis" / "ARCHIVE_COMMIT").write_text("$Format:%H$\n")  # not made by git archive
  found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env=ENV)
  assert json.loads(found.stdout.splitlines()[-1]) == {"commit": "unknown", "changed": None}


def _copy_ledger(sharded, tmp_path):
  ledger = tmp_path / "ledger"
  shutil.copytree(sharded[1], ledger)
  return ledger


def test_records_from_other_settings_or_another_version_are_refused(
    sharded, classifier_dir, tmp_path):
  ledger = _copy_ledger(sharded, tmp_path)
  with pytest.raises(UsageError, match=r"reflection_decoder_split.json was made with other "
                                       r"settings than this plan's "
                                       r"competition/reflection_decoder_split \(differing: "
                                       r"config.seeds\); use another --ledger folder for this "
                                       r"plan, or delete that record to run it again.$"):
    runner.reproduce(_ledger_paper(classifier_dir, ledger, competition_seeds=2),
                        str(tmp_path / "w"))
  path = ledger / "shared.json"
  path.write_text(json.dumps(dict(json.loads(path.read_text()), record_version=0)))
  with pytest.raises(UsageError, match=r"shared.json is a record of version 0, not 1"):
    plan.listing(_ledger_paper(classifier_dir, ledger))
  assert not (tmp_path / "w" / "runs").exists()


def test_deleting_a_record_reruns_exactly_that_run(straight, sharded, classifier_dir, tmp_path,
                                                   monkeypatch):
  ledger = _copy_ledger(sharded, tmp_path)
  (ledger / "appendix_a" / "decoder_split_encoder_l2.json").unlink()
  executed = []
  monkeypatch.setattr(runner, "execute", _copying_execute(straight[0], executed))
  runner.reproduce(_ledger_paper(classifier_dir, ledger), str(tmp_path / "w"))
  assert executed == ["appendix_a/decoder_split_encoder_l2"]
  assert (ledger / "appendix_a" / "decoder_split_encoder_l2.json").exists()
  assert _report_bytes(tmp_path / "w") == _report_bytes(straight[0])
  # A regression whose teacher is recorded but absent from a fresh workdir costs its training.
  runs = {r.name: r for r in plan.plan(_paper("full"))}
  assert plan.cost_seconds(runs["regression/regress"], str(tmp_path / "fresh")) == (
      pytest.approx(runs["regression/regress"].estimate_seconds() +
                    runs["shared"].estimate_seconds()))


def test_max_hours_stops_before_a_run_that_would_not_fit(straight, classifier_dir, tmp_path,
                                                         monkeypatch):
  executed = []
  monkeypatch.setattr(runner, "execute", _copying_execute(straight[0], executed))
  # 100 s per run, a regression 20 000 s: a 1-hour budget fits every run before the first one,
  # even at the pace this call measures (copying a folder is far faster than 100 s: the pace's
  # floor, 0.25).
  monkeypatch.setattr(plan.Run, "estimate_seconds",
                      lambda run: 20000.0 if run.kind == "regression" else 100.0)
  paper = _ledger_paper(classifier_dir, tmp_path / "ledger", max_hours=1.0)
  returned = runner.reproduce(paper, str(tmp_path / "w"))
  assert executed == [r.name for r in plan.plan(paper)][:12]  # the 12 trained models
  assert returned["remaining"] == ["regression/regress", "regression/regress_control",
                                   "regression/regress_split_teacher"] + [
                                       r.name for r in plan.plan(paper)[-10:]]
  # Left: 3 regressions and 10 competition conditions, at the pace this call measured.
  assert returned["estimated_seconds"] == pytest.approx(0.25 * (3 * 20000 + 10 * 100))
  progress = json.loads((tmp_path / "w" / "progress.json").read_text())
  assert progress["state"] == "stopped" and progress["remaining"] == returned["remaining"]
  assert not (tmp_path / "w" / "report").exists()
  assert len(list((tmp_path / "ledger").rglob("*.json"))) == 12


def test_stages_without_a_ledger_run_those_stages_and_stop_before_the_report(
    straight, classifier_dir, tmp_path, monkeypatch):
  executed = []
  monkeypatch.setattr(runner, "execute", _copying_execute(straight[0], executed))
  paper = _paper("smoke", classifier_dir=str(classifier_dir), stages="competition")
  returned = runner.reproduce(paper, str(tmp_path / "w"))
  competition = [r.name for r in plan.plan(paper) if r.stage == "competition"]
  assert executed == competition
  assert returned["remaining"] == [r.name for r in plan.plan(paper)
                                   if r.stage != "competition"]
  assert not (tmp_path / "w" / "report").exists()


def test_the_binary_stops_cleanly_within_max_hours(sharded, classifier_dir, tmp_path):
  ledger = _copy_ledger(sharded, tmp_path)
  # A fresh workdir, one record gone and a budget (0.36 s) below its 5 s estimate even at the
  # fastest pace the ledger's records may set (x 0.25: 1.25 s): a clean stop.
  (ledger / "split.json").unlink()
  result = _run(tmp_path / "fresh", classifier_dir, f"--ledger={ledger}", "--max_hours=0.0001")
  assert result.returncode == 0, result.stderr[-4000:]
  assert f"{NUM_RUNS - 1} finished already, 1 to run" in result.stderr
  assert "Stopped: --max_hours=0.0001 would be exceeded by split. Left: 1 run (split), " \
         "estimated " in result.stderr
  assert not (tmp_path / "fresh" / "runs").exists() and not (ledger / "split.json").exists()


class _Stderr:
  """A process's stderr, read line by line by a thread as the process writes it."""

  def __init__(self, proc):
    self.lines = []  # every line so far
    self._queue = queue.Queue()  # the lines not yet looked at by `wait_for`; None at the end
    self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
    self._thread.start()

  def _read(self, stream):
    for line in stream:
      self.lines.append(line)
      self._queue.put(line)
    self._queue.put(None)

  def wait_for(self, found, what, timeout=600):
    """The next line for which found(line) holds; fails when the process ends first or writes
    nothing for `timeout` seconds."""
    while True:
      try:
        line = self._queue.get(timeout=timeout)
      except queue.Empty:
        raise AssertionError(f"{what}: no log line in {timeout} s; " +
                             "".join(self.lines[-20:])) from None
      if line is None:
        raise AssertionError(f"{what}: the process ended first; " + "".join(self.lines[-40:]))
      if found(line):
        return line

  def text(self, timeout=60):
    """Everything the process wrote, once it has closed its stderr (it has ended)."""
    self._thread.join(timeout)
    return "".join(self.lines)


def _run_started(index):
  """Whether a log line says run `index` (1-based) or a later one is running."""
  match = lambda line: re.search(r"\[run (\d+)/\d+ \| stage \w+\] \S+: running", line)
  return lambda line: bool(match(line)) and int(match(line).group(1)) >= index


# A six-run plan (one run of every kind) for the kill-and-resume test, so it trains a third of the
# whole plan; its runs have the same settings as the same-named runs of the full plan.
SMALL_PLAN = ("--split=flags/split.cfg", "--appendix_a=flags/appendix_a/encoder_split_decoder_l0.cfg",
              "--regression=flags/regress.cfg,flags/regress_control.cfg",
              "--competition=flags/compete/rotation_standard.cfg")
SMALL_RUNS = ("shared", "split", "appendix_a/encoder_split_decoder_l0", "regression/regress",
              "regression/regress_control", "competition/rotation_standard")


def test_killed_then_resumed_finishes_without_redoing_and_gives_the_same_report(
    straight, classifier_dir, tmp_path):
  workdir = tmp_path / "killed"
  proc = subprocess.Popen(_command(workdir, classifier_dir, *SMALL_PLAN), cwd=REPO, env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  stderr = _Stderr(proc)
  progress = stderr.wait_for(_run_started(3), "run 3")  # the App. A run
  stderr.wait_for(lambda line: "] step " in line, "run 3's training")  # inside run 3
  proc.send_signal(signal.SIGKILL)
  proc.wait(timeout=60)
  saved = json.loads((workdir / "plan.json").read_text())["runs"]
  assert [r["name"] for r in saved] == list(SMALL_RUNS)
  finished = [r["name"] for r in saved if (workdir / "runs" / r["name"] / {
      "train": "evaluation.json", "regression": "regression.json",
      "competition": "winrate.json"}[r["kind"]]).exists()]
  assert 2 <= len(finished) < len(SMALL_RUNS), (progress, finished)
  stamps = {n: os.stat(workdir / "runs" / n / "evaluation.json").st_mtime_ns for n in finished}

  result = _run(workdir, classifier_dir, *SMALL_PLAN)
  assert result.returncode == 0, result.stderr[-4000:]
  assert (f"{len(finished)} finished already, {len(SMALL_RUNS) - len(finished)} to run"
          in result.stderr)
  assert stamps == {n: os.stat(workdir / "runs" / n / "evaluation.json").st_mtime_ns
                    for n in finished}  # finished runs were not redone
  # The same six runs taken from the uninterrupted full plan report byte for byte alike.
  reference = tmp_path / "reference"
  for name in SMALL_RUNS:
    shutil.copytree(straight[0] / "runs" / name, reference / "runs" / name)
  result = _run(reference, classifier_dir, *SMALL_PLAN)
  assert result.returncode == 0, result.stderr[-4000:]
  assert f"{len(SMALL_RUNS)} finished already, 0 to run" in result.stderr
  assert _report_bytes(workdir) == _report_bytes(reference)


def test_sigterm_stops_with_the_resume_hint(classifier_dir, tmp_path):
  workdir = tmp_path / "terminated"
  # PYTHONFAULTHANDLER: should it not stop, SIGABRT prints every thread's stack into the failure.
  proc = subprocess.Popen(_command(workdir, classifier_dir), cwd=REPO,
                          env=dict(ENV, PYTHONFAULTHANDLER="1"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  output = _Stderr(proc)
  output.wait_for(_run_started(2), "run 2")
  proc.send_signal(signal.SIGTERM)
  try:  # it stops in about a second; the bound is for a machine shared with other work
    proc.wait(timeout=300)
  except subprocess.TimeoutExpired:
    proc.send_signal(signal.SIGABRT)
    proc.wait(timeout=60)
    pytest.fail("No exit within 300 s of SIGTERM; its threads at SIGABRT:\n" +
                output.text()[-8000:])
  stderr = output.text()
  assert proc.returncode == 2, stderr[-4000:]
  assert "run the same command again" in stderr.lower() and "Traceback" not in stderr


def _competition(transform, rows, steps=10000):
  return {"transform": transform, "steps": steps, "rule": {"min_label_preservation": 0.5},
          "conditions": rows}


def _condition(expected, positive, negative, expected_from="paper", judgements=None):
  return {"expected_verdict": expected, "expected_from": expected_from,
          "lean": {"positive": positive, "negative": negative},
          "judgements": judgements or {}}


def test_app_b_claims_follow_the_holm_adjusted_sign_test_and_name_the_missing_controls():
  competitions = {"c/rot": _competition("rotation", {
      "rotation_standard": _condition("encoder", 12, 8),      # p = 0.50: no lean
      "rotation_y_masked": _condition("encoder", 20, 0),      # encoder, Holm-significant
      "rotation_encoder_split": _condition("decoder", 20, 0),  # leans the other way
      "rotation_decoder_split_all": _condition("encoder", 2, 0, "pipeline check")})}
  checks = claims.competition_checks(competitions)
  assert [c["claim"].split(" (")[0] for c in checks] == [
      "rotation_standard", "rotation_y_masked", "rotation_encoder_split"]  # no pipeline check
  assert [c["verdict"] for c in checks] == ["no", "yes", "no"]
  assert checks[0]["why"] == "no lean survives Holm"
  assert checks[2]["why"] == "the lean is to the encoder"
  # Holm over the 3 conditions: 20 of 20 has p = 2 / 2^20, times 3 (the smallest of three).
  assert "Holm over 3 conditions p = 5.72e-06" in checks[1]["measured"]
  assert "no control-validated win rate: its positive controls" in checks[1]["measured"]


def test_app_b_claims_give_the_control_validated_win_rate():
  def run(sp_mu, sp_mu_prime):
    entry = lambda v: {"interval": [v - 0.02, v + 0.02]}
    return {"sp_mu": entry(sp_mu), "sp_mu_prime": entry(sp_mu_prime), "lp": {"value": 0.99}}
  controls = {"rotation_decoder_split_all": _condition(
                  "encoder", 20, 0, "pipeline check", {s: run(0.0, 0.55) for s in range(20)}),
              "rotation_encoder_split_all": _condition(
                  "decoder", 0, 20, "pipeline check", {s: run(0.6, 0.0) for s in range(20)})}
  standard = _condition("encoder", 15, 5, judgements={
      s: run(0.0, 0.55) if s < 15 else run(0.6, 0.0) for s in range(20)})
  competitions = {"c/std": _competition("rotation", {"rotation_standard": standard}),
                  "c/controls": _competition("rotation", controls)}
  rule = claims.secondary_rule(competitions, 0.5)["rotation"]
  assert rule["valid"] and rule["validation"]["controls"]["decoder_split_all"]["passes"] == 10
  measured = claims.competition_checks(competitions)[0]["measured"]
  assert "control-validated rule: encoder 15, decoder 5, inconclusive 0" in measured
  assert "encoder win rate 0.75 [" in measured
  assert "held-out passes decoder_split_all 10/10" in claims.rule_text("rotation", rule)
