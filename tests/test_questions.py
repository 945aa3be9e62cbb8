"""tfdis.reproduce.questions on constructed results with known answers."""
import numpy as np
import pytest

from tfdis.reproduce import questions


def _summary(stage, sp_per_seed, elbo=-100.0):
  return {"stage": stage, "runs": [], "sp": {"per_seed": list(sp_per_seed),
                                              "value": float(np.mean(sp_per_seed))},
          "elbo": {"value": elbo}}


def _model(enc="none", dec="none", untrained_sp=None, inits=5, half=0.02):
  m = {"encoder_split": enc, "decoder_split": dec}
  if untrained_sp is not None:
    m["untrained"] = {"inits": inits, "sp": {"value": untrained_sp,
                                             "interval": [untrained_sp - half, untrained_sp + half]},
                      "lp": {"value": 0.1}}
  return m


def _study(shared_sp, untrained_sp):
  models = {"shared": _model(untrained_sp=untrained_sp)}
  summaries = {"shared": dict(_summary("shared", shared_sp), runs=["shared"])}
  return models, summaries


def test_training_raised_style_says_lower_higher_or_unresolved():
  answer = lambda sp, u: questions.training_raised_style(*_study(sp, u))[0]["answer"]
  assert answer([0.80, 0.79, 0.81, 0.80, 0.80], 0.5).startswith("yes")
  assert answer([0.40, 0.41, 0.39, 0.40, 0.40], 0.8).startswith("no: trained SP is lower")
  assert answer([0.5, 0.7, 0.3, 0.6, 0.4], 0.5) == "no difference resolved"


def test_layer_trend_yes_for_a_monotone_series_no_for_a_flat_one():
  rng = np.random.default_rng(0)
  def study(step):
    models, summaries = {}, {}
    for k in range(4):
      name = f"l{k}"
      models[name] = _model(enc="all", dec=str(k))
      summaries[name] = dict(_summary("appendix_a", rng.normal(step * k, 0.02, size=5)),
                             runs=[name])
    return models, summaries
  rising = questions.layer_trend(*study(0.1), num_random=2000)
  assert len(rising) == 1 and rising[0]["answer"].startswith("yes")
  assert "decoder layer split" in rising[0]["question"] and "l+3" in rising[0]["measured"]
  assert questions.layer_trend(*study(0.0), num_random=2000)[0]["answer"] == "no trend resolved"


def test_fig2_differences_holm_over_the_pairs():
  summaries = {"shared": _summary("shared", [0.80, 0.81, 0.79, 0.80, 0.82]),
               "split_encoder": _summary("split", [0.75, 0.76, 0.74, 0.75, 0.77]),
               "split": _summary("split", [0.0, 0.01, -0.01, 0.0, 0.02])}
  rows = questions.fig2_differences(summaries)
  assert len(rows) == 3
  # Each pair is fully separated: p = 2 / C(10, 5) = 2 / 252; Holm x3 = 0.0238 <= 0.05.
  assert all("Holm over 3 pairs p = 0.0238" in r["measured"] for r in rows)
  assert rows[0]["answer"] == "yes: shared higher"
  # Overlapping seeds: not resolved.
  summaries["split_encoder"] = _summary("split", [0.79, 0.82, 0.78, 0.81, 0.80])
  assert questions.fig2_differences(summaries)[0]["answer"].startswith("not resolved")


def test_pipeline_checks_come_from_the_checks_only():
  row = {"expected_from": "pipeline check", "expected_verdict": "encoder", "encoder_wins": 1,
         "decoder_wins": 0, "inconclusive": 1, "runs": 2, "agrees": False,
         "lean": {"side": "encoder", "positive": 2, "negative": 0}}
  paper_row = dict(row, expected_from="paper")
  rows = questions.pipeline_checks({"c": {"steps": 2500, "conditions": {
      "rotation_decoder_split_all": row, "rotation_standard": paper_row}}})
  assert [r["question"].split(" ")[0] for r in rows] == ["rotation_decoder_split_all"]
  assert rows[0]["answer"] == "not by the fixed-threshold rule"
