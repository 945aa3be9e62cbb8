"""tfdis.experiments.competition.rules on constructed results with known answers."""
import math

import numpy as np
import pytest

from tfdis.experiments.competition import rules


def _run(sp_mu, sp_mu_prime, lp=0.99, half=0.02):
  """A judged run: SP values of μ_p and μ'_p with intervals ±half, and LP."""
  entry = lambda v: {"value": v, "interval": [v - half, v + half]}
  return {"sp_mu": entry(sp_mu), "sp_mu_prime": entry(sp_mu_prime), "lp": {"value": lp}}


def _controls(encoder_winner_sp, decoder_winner_sp, seeds=range(20), loser_sp=0.02, spread=0.03,
              seed=0):
  """Constructed positive controls: the winner's SP around *_winner_sp, the loser's near 0."""
  rng = np.random.default_rng(seed)
  noise = lambda: float(rng.uniform(-spread, spread))
  return {"decoder_split_all": {s: _run(loser_sp + noise(), encoder_winner_sp + noise())
                                for s in seeds},
          "encoder_split_all": {s: _run(decoder_winner_sp + noise(), loser_sp + noise())
                                for s in seeds}}


def test_primary_endpoint_holm_adjusts_the_sign_tests():
  deltas = {"a": [0.1] * 20,            # 20 of 20 positive: p = 2 / 2^20
            "b": [-0.1] * 16 + [0.1] * 4,  # 4 of 20 positive
            "c": [0.1] * 12 + [-0.1] * 8}  # 12 of 20: p = 0.503
  rows = rules.primary_endpoint(deltas)
  assert rows["a"]["p_value"] == pytest.approx(2 / 2 ** 20)
  assert rows["a"]["p_floor"] == pytest.approx(2 / 2 ** 20)
  # Holm over m = 3: smallest x3, next x2, largest x1 (running maximum).
  p_b = 2 * sum(math.comb(20, k) for k in range(5)) / 2 ** 20
  assert rows["a"]["p_holm"] == pytest.approx(3 * 2 / 2 ** 20)
  assert rows["b"]["p_holm"] == pytest.approx(2 * p_b)
  assert rows["c"]["p_holm"] == pytest.approx(max(2 * p_b, rows["c"]["p_value"]))
  assert (rows["a"]["verdict"], rows["b"]["verdict"], rows["c"]["verdict"]) == (
      "encoder", "decoder", "no lean")
  assert rows["b"]["side"] == "decoder" and rows["c"]["side"] == "encoder"


def test_fitted_thresholds_recover_a_known_separation():
  controls = _controls(encoder_winner_sp=0.55, decoder_winner_sp=0.7)
  fitted = rules.fit_thresholds(controls)
  assert fitted["fit_seeds"] == list(range(10))
  # Winners' lower ends lie in [0.50, 0.56] (0.55 ± 0.03 - 0.02); losers' upper ends in
  # [0.01, 0.07] (0.02 ± 0.03 + 0.02): the threshold lies between the two, midway.
  encoder, decoder = fitted["encoder"], fitted["decoder"]
  assert encoder["tau_lo"] == encoder["tau_hi"] and decoder["tau_lo"] == decoder["tau_hi"]
  assert (0.5 + 0.01) / 2 <= encoder["tau_hi"] <= (0.56 + 0.07) / 2
  assert (0.65 + 0.01) / 2 <= decoder["tau_hi"] <= (0.71 + 0.07) / 2
  check = rules.validate(controls, fitted, min_label_preservation=0.5)
  assert check["valid"]
  assert check["controls"]["decoder_split_all"]["passes"] >= rules.REQUIRED_PASSES


def test_a_rule_that_fails_its_positive_control_is_reported_invalid():
  controls = _controls(encoder_winner_sp=0.55, decoder_winner_sp=0.7)
  fixed = {"encoder": {"tau_lo": 0.2, "tau_hi": 0.5}, "decoder": {"tau_lo": 0.2, "tau_hi": 0.75},
           "fit_seeds": list(range(10))}  # the decoder's winners never clear 0.75
  check = rules.validate(controls, fixed, min_label_preservation=0.5)
  assert not check["valid"]
  assert check["controls"]["encoder_split_all"] == {"expected": "decoder", "passes": 0,
                                                    "seeds": 10, "passed": False}
  assert check["controls"]["decoder_split_all"]["passed"]
  # Missing held-out seeds cannot validate a rule either.
  partial = {k: {s: v for s, v in runs.items() if s < 15} for k, runs in controls.items()}
  assert not rules.validate(partial, rules.fit_thresholds(partial), 0.5)["valid"]


def test_controls_that_do_not_separate_give_a_rule_that_fails_validation():
  # The fully split decoder's "winner" is no better than its loser: nothing to fit.
  controls = _controls(encoder_winner_sp=0.02, decoder_winner_sp=0.7)
  fitted = rules.fit_thresholds(controls)
  check = rules.validate(controls, fitted, min_label_preservation=0.5)
  assert not check["valid"] and not check["controls"]["decoder_split_all"]["passed"]
  assert check["controls"]["encoder_split_all"]["passed"]


def test_held_out_seeds_must_not_overlap_the_fit():
  controls = _controls(0.55, 0.7)
  with pytest.raises(ValueError, match="overlap"):
    rules.validate(controls, rules.fit_thresholds(controls, seeds=range(12)), 0.5)


def test_side_verdicts_and_win_rate():
  thresholds = {"encoder": {"tau_lo": 0.1, "tau_hi": 0.4}, "decoder": {"tau_lo": 0.1, "tau_hi": 0.6}}
  assert rules.side_verdict(_run(0.0, 0.5), thresholds, 0.5) == "encoder"
  assert rules.side_verdict(_run(0.5, 0.0), thresholds, 0.5) == "inconclusive"  # below dec's 0.6
  assert rules.side_verdict(_run(0.7, 0.0), thresholds, 0.5) == "decoder"
  assert rules.side_verdict(_run(0.0, 0.5, lp=0.2), thresholds, 0.5) == "inconclusive"
  rate = rules.win_rate([_run(0.0, 0.5)] * 3 + [_run(0.7, 0.0)] + [_run(0.3, 0.3)], thresholds,
                        0.5)
  assert (rate["encoder"], rate["decoder"], rate["inconclusive"]) == (3, 1, 1)
  assert rate["encoder_win_rate"] == pytest.approx(0.75)
  assert rate["interval"][0] < 0.75 < rate["interval"][1]
  assert rules.win_rate([_run(0.3, 0.3)], thresholds, 0.5)["interval"] == [None, None]
