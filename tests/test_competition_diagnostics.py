"""The competition's diagnostics and table statistics on constructed generators with known answers."""
import collections

import numpy as np
import pytest
import tensorflow as tf

from tests.test_competition import _SyntheticRun
from tests.test_morphometrics import draw_parallelogram
from tests.test_style_preservation import _bar_decoder
from tfdis.errors import UsageError
from tfdis.experiments import competition
from tfdis.experiments.competition import diagnostics
from tfdis.experiments.competition import table
from tfdis.metrics import latent_usage
from tfdis.metrics import stats
from tfdis.metrics import style_preservation as sp
from tfdis.model import transforms

L, D = 10, 16  # ten labels, so the reflection has its 5 + 5 halves


class _Run(_SyntheticRun):
  """μ_p = decoder, μ'_p(y, z) = decoder(y, T_y z), on ten labels."""
  num_classes, latent_dim = L, D


def _norm_decoder():
  """A decoder whose style (slant, stroke width, height) depends on |z| alone."""

  def decode_mean(labels, z):
    labels = np.asarray(labels)
    r = np.linalg.norm(np.asarray(z, np.float64), axis=1) - np.sqrt(D)  # about N(0, 1/2)
    slant = 0.5 * np.tanh(r)
    width = 2.5 + 1.2 * np.tanh(-r)
    height = 14.0 + 4.0 * np.tanh(r) + 0.3 * labels
    return tf.constant(draw_parallelogram(height, width, slant, centre=(12.0 + 0.3 * labels, 14.0)))

  return decode_mean


def _config(transform="rotation"):
  return competition.CompetitionConfig(transform=transform, num_z=40, num_bootstrap=200,
                                       min_label_preservation=0)


@pytest.fixture(scope="module")
def rotation_runs():
  t = transforms.random_rotations(L, D, seed=3)
  own = transforms.random_rotations(L, D, seed=4)
  runs = {"decoder": _Run(_bar_decoder(), t),
          "encoder": _Run(_bar_decoder(tf.linalg.matrix_transpose(t)), t),
          "tie": _Run(_bar_decoder(own), t)}
  return {name: diagnostics.style_measures(run, _config(), "rotation")
          for name, run in runs.items()}


def test_paired_delta_excludes_zero_for_a_clean_win_and_contains_it_for_a_tie(rotation_runs):
  encoder, decoder, tie = (rotation_runs[k]["delta"] for k in ("encoder", "decoder", "tie"))
  assert encoder["interval"][0] > 0.5 and encoder["value"] > 0.7
  assert decoder["interval"][1] < -0.5 and decoder["value"] < -0.7
  assert tie["interval"][0] < 0.0 < tie["interval"][1]
  for result in rotation_runs.values():  # Δ is the difference of the two SPs it pairs
    assert result["delta"]["value"] == pytest.approx(
        result["sp_mu_prime"]["value"] - result["sp_mu"]["value"], abs=1e-12)


def test_paired_interval_is_narrower_than_unpaired_for_correlated_grids():
  rng = np.random.default_rng(0)
  shared = rng.standard_normal((1, 60, 5))
  a = shared + 0.3 * rng.standard_normal((L, 60, 5))
  b = shared + 0.3 * rng.standard_normal((L, 60, 5))
  paired = sp.paired_difference(a, b, num_bootstrap=400, seed=1)
  sa, sb = (sp.style_preservation(m, num_bootstrap=400, seed=1) for m in (a, b))
  # Each resample pairs the same columns, so the differences of the marginal resamples are Δ's.
  assert paired.value == pytest.approx(sb.value - sa.value)
  unpaired_width = (sb.interval[1] - sb.interval[0]) + (sa.interval[1] - sa.interval[0])
  assert paired.interval[1] - paired.interval[0] < 0.5 * unpaired_width


def test_rotation_invariant_score_is_high_for_a_norm_decoder_and_near_zero_otherwise(
    rotation_runs):
  t = transforms.random_rotations(L, D, seed=3)
  norm = diagnostics.style_measures(_Run(_norm_decoder(), t), _config(), "rotation")
  assert norm["sp_rotation_invariant"]["interval"][0] > 0.7
  # |T_y z| = |z|: no label-dependent rotation can remove this style, μ'_p keeps it too.
  assert norm["sp_mu_prime"]["value"] > 0.7
  assert abs(rotation_runs["decoder"]["sp_rotation_invariant"]["value"]) < 0.15
  assert rotation_runs["decoder"]["cross_half"] is None  # rotation: no halves


def test_cross_half_sp_equals_all_pairs_for_a_rotation_free_model_and_flips_for_the_reflection():
  t = transforms.reflections(L, D)
  result = diagnostics.style_measures(_Run(_bar_decoder(), t), _config("reflection"),
                                      "reflection")
  # μ_p has no label-dependent transform: every pair alike, so 25 cross-half pairs = all 45.
  assert result["cross_half"]["sp_mu"]["value"] == pytest.approx(result["sp_mu"]["value"],
                                                                 abs=0.05)
  # μ'_p reflects labels 0-4 only: within-half pairs keep +SP, cross-half pairs get -SP.
  assert result["cross_half"]["sp_mu_prime"]["value"] == pytest.approx(
      -result["cross_half"]["sp_mu"]["value"], abs=0.05)
  assert result["sp_mu_prime"]["value"] == pytest.approx(
      (20 - 25) / 45 * result["sp_mu"]["value"], abs=0.05)
  assert result["cross_half"]["delta"]["interval"][1] < -1.0


def test_cross_half_pairs_are_exact_on_constructed_measurements():
  pairs = sp.label_pairs(L, diagnostics.reflection_groups(L))
  assert pairs.sum() == 50 and not pairs[0, 4] and pairs[0, 5] and not pairs.diagonal().any()
  base = np.random.default_rng(0).standard_normal((1, 30, 3))
  same = np.repeat(base, L, axis=0)  # every label measures alike: every rho = 1
  flipped = same * np.where(np.arange(L) < 5, -1.0, 1.0)[:, None, None]
  assert sp.style_preservation(same, num_bootstrap=0, pairs=pairs).value == pytest.approx(1.0)
  assert sp.style_preservation(flipped, num_bootstrap=0, pairs=pairs).value == pytest.approx(-1.0)
  assert sp.style_preservation(flipped, num_bootstrap=0).value == pytest.approx(-5 / 45)
  with pytest.raises(ValueError, match="one group per label"):
    sp.label_pairs(L, [0, 1])


def test_kl_per_dimension_and_active_units_hand_computed():
  mean = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.1]])
  scale = np.array([[1.0, np.e, 1.0], [1.0, np.e, 1.0]])
  kl = latent_usage.kl_per_dimension(mean, scale)
  np.testing.assert_allclose(kl[:, 0], 0.5)                           # (1 + 1 - 1) / 2 - 0
  np.testing.assert_allclose(kl[:, 1], 0.5 * (np.e ** 2 - 1) - 1.0)  # (0 + e² - 1) / 2 - 1
  np.testing.assert_allclose(kl[:, 2], [0.0, 0.005])
  assert latent_usage.active_units(kl.mean(axis=0)) == 2  # 0.5, 2.19 above 0.01; 0.0025 not
  assert latent_usage.active_units([0.011, 0.009, 0.0]) == 1
  samples = np.random.default_rng(0).standard_normal((50, 3))
  np.testing.assert_allclose(latent_usage.covariance(samples), np.cov(samples.T))
  with pytest.raises(ValueError, match="positive"):
    latent_usage.kl_per_dimension(mean, 0 * scale)


def test_active_directions_count_a_label_rotated_code_once_per_label():
  # Each label's code is 4-dimensional, turned by its own random rotation: the per-coordinate
  # counts see all 16 coordinates used, the directions within a label see 4; unrotated, all see 4.
  rng = np.random.default_rng(0)
  k, per_label = 4, 300
  labels = np.repeat(np.arange(L), per_label)
  code = np.zeros((L * per_label, D))
  code[:, :k] = rng.standard_normal((L * per_label, k))
  turns = np.stack([np.linalg.qr(rng.standard_normal((D, D)))[0] for _ in range(L)])
  turned = np.einsum("nd,ned->ne", code, turns[labels])
  kl_count = lambda means: latent_usage.active_units(
      latent_usage.kl_per_dimension(means, np.ones_like(means)).mean(axis=0))
  assert kl_count(code) == k and kl_count(turned) == D
  assert latent_usage.active_directions(code) == k
  assert latent_usage.active_directions(turned) == D  # ten 4-dimensional subspaces span all 16
  assert [latent_usage.active_directions(turned[labels == y]) for y in range(L)] == [k] * L
  assert latent_usage.active_directions(code + 0.05 * rng.standard_normal(code.shape)) == k
  assert latent_usage.active_directions(code + 0.2 * rng.standard_normal(code.shape)) == D


def test_sign_test_hand_computed():
  assert stats.sign_test([0.3, 0.1, 0.2, 0.5, 0.4]) == (2 / 32, 2 / 32)
  assert stats.sign_test([0.3, 0.1, 0.2, 0.5, 0.4], "greater") == (1 / 32, 1 / 32)
  assert stats.sign_test([0.3, -0.1, 0.2, 0.5, 0.4]) == (12 / 32, 2 / 32)   # 2 P(K >= 4) = 2 * 6/32
  assert stats.sign_test([0.3, -0.1, 0.2, 0.5, 0.4], "less") == (31 / 32, 1 / 32)
  assert stats.sign_test([1.0, 0.0, -1.0]) == (1.0, 0.5)                    # the zero is dropped
  assert stats.sign_test([]) == (1.0, 1.0)


def _fake_runs(verdicts, deltas):
  sp_entry = lambda v: {"value": v, "interval": [v - 0.1, v + 0.1],
                        "per_measurement": {"slant": {"value": v, "interval": [v, v]}},
                        "pair_matrix": [[1.0, v], [v, 1.0]]}
  return [{"seed": s, "verdict": v, "delta": {"value": d, "interval": [d, d]},
           "sp_mu": sp_entry(0.1), "sp_mu_prime": sp_entry(0.1 + d),
           "sp_rotation_invariant": {"value": 0.05, "interval": [0.0, 0.1]},
           "latent": {"active_units": 4}, "trajectory": []}
          for s, (v, d) in enumerate(zip(verdicts, deltas))]


def test_condition_summary_proportions_win_rates_and_lean_hand_computed():
  runs = _fake_runs(["encoder", "decoder", "decoder", "decoder", "inconclusive"],
                    [0.4, -0.5, -0.6, -0.2, -0.1])
  config = competition.CompetitionConfig(transform="rotation")
  row = table.condition_summary(config, "standard", runs)
  # Wilson 95%: 1/5 [0.0362, 0.6245], 3/5 [0.2307, 0.8824] (by hand, z = 1.959964).
  np.testing.assert_allclose(row["proportions"]["encoder"]["interval"], [0.0362, 0.6245], atol=1e-4)
  np.testing.assert_allclose(row["proportions"]["decoder"]["interval"], [0.2307, 0.8824], atol=1e-4)
  assert row["proportions"]["inconclusive"]["count"] == 1
  assert row["encoder_win_rate"] == pytest.approx(0.25)            # over decisive runs
  assert row["encoder_win_rate_all_runs"]["proportion"] == pytest.approx(0.2)
  assert row["majority_verdict"] == "decoder"
  assert row["expected_verdict"] == "encoder" and row["agrees"] is False  # Fig. 5: encoder
  lean = row["lean"]
  assert (lean["side"], lean["positive"], lean["negative"]) == ("decoder", 1, 4)
  assert (lean["p_value"], lean["p_floor"]) == (12 / 32, 2 / 32)
  assert lean["mean"] == pytest.approx(-0.2)
  assert row["median_sp_per_measurement"]["sp_mu_prime"]["slant"] == pytest.approx(-0.1)
  assert row["median_active_units"] == 4
  assert row["median_active_directions_per_label"] is None  # not measured in these runs
  # Per run the median over its labels (None: a label with too few examples), then over runs.
  for run, per_label in zip(runs, ([3, 5, None], [6, 6, 6], [1, 2, 9, 8], [7, None, 7], [4])):
    run["latent"]["active_directions_per_label"] = per_label
  directions = table.condition_summary(config, "standard", runs)
  assert directions["median_active_directions_per_label"] == 5.0  # median of 4, 6, 5, 7, 4
  text = table.markdown_table({"transform": "rotation", "seeds": [0, 4],
                               "rule": {"tau_lo": 0.2, "tau_hi": 0.5,
                                        "min_label_preservation": 0.5},
                               "conditions": {"rotation_standard": row}})
  verdict_row = next(line for line in text.split("\n") if line.startswith("| rotation_standard | "
                                                                          "encoder 0.20"))
  assert verdict_row.endswith("| encoder (paper) | decoder | no |")
  assert "decoder 4/5, sign test p 0.375 (floor 0.0625)" in verdict_row


def _final(sp_mu, sp_mu_prime, lp, steps=100):
  """A trajectory point: the SP intervals of μ_p and μ'_p and LP at `steps`."""
  iv = lambda pair: {"value": sum(pair) / 2, "interval": list(pair)}
  return {"steps": steps, "sp_mu": iv(sp_mu), "sp_mu_prime": iv(sp_mu_prime),
          "lp": {"value": lp, "interval": [lp, lp]}}


def test_threshold_sensitivity_rejudges_the_final_points_by_hand():
  # Seed 0 keeps style in μ'_p only at tau_hi 0.4 and loses it in μ_p only at tau_lo >= 0.2 (its
  # earlier point, a clean decoder win, must be ignored); seed 1 is the decoder's unless tau_hi is
  # 0.6; seed 2 is seed 0 with its labels lost (LP 0.3 < the gate 0.5).
  row = {"runs": 3, "trajectory": {
      "0": [_final((0.6, 0.7), (0.0, 0.1), 0.9, steps=50), _final((0.05, 0.15), (0.45, 0.55), 0.9)],
      "1": [_final((0.55, 0.65), (-0.05, 0.05), 0.95)],
      "2": [_final((0.05, 0.15), (0.45, 0.55), 0.3)]}}
  got = table.threshold_sensitivity(row, 0.5)
  assert len(got["pairs"]) == 12 and got["lowest_lp"] == pytest.approx(0.3)
  counts = {(p["tau_lo"], p["tau_hi"]):
                (p["encoder"], p["decoder"], p["inconclusive"], p["majority"])
            for p in got["pairs"]}
  assert counts[(0.1, 0.4)] == (0, 1, 2, "inconclusive")  # seed 0: μ_p's upper end 0.15 >= 0.1
  assert counts[(0.2, 0.4)] == (1, 1, 1, "tie")
  assert counts[(0.2, 0.3)] == (1, 1, 1, "tie")  # the grid reaches tau_hi 0.3
  assert counts[(0.2, 0.5)] == (0, 1, 2, "inconclusive")  # seed 0: μ'_p's lower end 0.45 <= 0.5
  assert counts[(0.3, 0.6)] == (0, 0, 3, "inconclusive")  # seed 1: μ_p's lower end 0.55 <= 0.6
  no_gate = table.threshold_sensitivity(row, 0.0, tau_lo=(0.2,), tau_hi=(0.4,))
  assert [(p["encoder"], p["decoder"], p["inconclusive"]) for p in no_gate["pairs"]] == [(2, 1, 0)]
  assert table.threshold_sensitivity(row, 0.5, tau_lo=(0.5,), tau_hi=(0.4,))["pairs"] == []
  with pytest.raises(UsageError, match="1 of the condition's 3 runs have no final judgement"):
    table.threshold_sensitivity(dict(row, trajectory={"0": row["trajectory"]["0"], "1": [],
                                                      "2": row["trajectory"]["2"]}), 0.5)


def test_majority_ties_and_the_expected_verdicts():
  assert table.majority_verdict(collections.Counter(encoder=2, decoder=2)) == "tie"
  assert table.majority_verdict(collections.Counter(inconclusive=3, encoder=1)) == "inconclusive"
  assert len(competition.PAPER_VERDICTS) == 8
  assert competition.expected_verdict("reflection", "standard") == "decoder"   # Fig. 6
  assert competition.expected_verdict("rotation", "encoder_split") == "decoder"  # Fig. 5
  assert competition.expected_verdict("rotation", "decoder_split_all") == "encoder"
  assert competition.expected_verdict("rotation", "encoder_split_all") == "decoder"


@pytest.mark.parametrize("overrides,match", [
    ({"judge_at_steps": "100,abc"}, "comma list of step numbers"),
    ({"judge_at_steps": "100,5000", "num_steps": 5000}, r"\[5000\] outside \[1, --num_steps=5000\)"),
    ({"track_every": 100}, "judge_at_steps"),
    ({"conditions": "standard,split_all"}, "unknown variants"),
])
def test_bad_competition_settings_are_refused_with_the_fix(overrides, match):
  with pytest.raises(UsageError, match=match):
    competition.CompetitionConfig(**dict(dict(num_hidden_layers=3), **overrides)).validate()


def test_judge_steps_and_check_variants_are_read():
  config = competition.CompetitionConfig(judge_at_steps=" 5000, 2500,2500", num_steps=10000,
                                         conditions="encoder_split_all,standard").validate()
  assert config.judge_steps() == [2500, 5000]
  assert config.variants() == ["standard", "encoder_split_all"]
  assert config.train_configs("encoder_split_all", [7])[0].encoder_split == "all"
