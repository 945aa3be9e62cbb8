"""tfdis.experiments.competition and binaries.compete: the judging rule, the sweep end to end."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.test_style_preservation import _bar_decoder
from tfdis.errors import UsageError
from tfdis import flagfiles
from tfdis.experiments import competition
from tfdis.metrics import style_preservation
from tfdis.model import transforms

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
L, D = 5, 16  # labels and latent size of the synthetic decoders (as tests/test_style_preservation)


@pytest.mark.parametrize("sp_mu,sp_mu_prime,expected", [
    ((0.7, 0.8), (-0.05, 0.05), "decoder"),
    ((-0.05, 0.05), (0.7, 0.8), "encoder"),
    ((-0.05, 0.05), (-0.1, 0.1), "inconclusive"),          # split-both: neither preserves
    ((0.7, 0.8), (0.6, 0.7), "inconclusive"),              # both preserve: impossible, so unclear
    ((0.3, 0.5), (-0.05, 0.05), "inconclusive"),           # μ_p's interval straddles the gap
    ((float("nan"), float("nan")), (0.7, 0.8), "inconclusive"),  # SP undefined
])
def test_verdict_rule(sp_mu, sp_mu_prime, expected):
  assert competition.verdict(sp_mu, sp_mu_prime, tau_lo=0.25, tau_hi=0.45) == expected


def test_verdict_needs_label_preservation_and_ordered_thresholds():
  assert competition.verdict((0.7, 0.8), (0.0, 0.1), label_preserved=False) == "inconclusive"
  with pytest.raises(UsageError, match="--tau_lo=0.5 exceeds --tau_hi=0.4"):
    competition.verdict((0, 0), (0, 0), tau_lo=0.5, tau_hi=0.4)


def test_default_thresholds_are_the_style_preservation_pair():
  config = competition.CompetitionConfig()
  assert (config.tau_lo, config.tau_hi) == (style_preservation.SP_NOT_PRESERVING,
                                            style_preservation.SP_PRESERVING) == (0.2, 0.5)
  assert competition.verdict((0.51, 0.8), (-0.1, 0.19)) == "decoder"
  assert competition.verdict((0.51, 0.8), (-0.1, 0.21)) == "inconclusive"  # not wholly below 0.2
  assert competition.verdict((0.49, 0.8), (-0.1, 0.19)) == "inconclusive"  # not wholly above 0.5


class _SyntheticRun:
  """A competition run from a synthetic decoder: μ_p = decoder, μ'_p(y, z) = decoder(y, T_y z)."""
  num_classes, latent_dim = L, D

  def __init__(self, decoder, competition_transforms):
    self.decode_mean = decoder
    self.t = competition_transforms

  def generator_mean(self, labels, z):
    return self.decode_mean(labels, transforms.apply(self.t, labels, z))


def test_judge_names_the_winner_of_synthetic_runs():
  config = competition.CompetitionConfig(num_z=40, num_bootstrap=100, min_label_preservation=0)
  t = transforms.random_rotations(L, D, seed=3)                 # the competition's T_y
  t_inverse = tf.linalg.matrix_transpose(t)
  own = transforms.random_rotations(L, D, seed=4)               # a split model's own axes
  runs = {
      # The decoder kept its style-preserving code; T_y after it entangles μ'_p.
      "decoder": _SyntheticRun(_bar_decoder(), t),
      # The encoder's code is shared; the decoder learned T_y^{-1}, so μ'_p preserves style.
      "encoder": _SyntheticRun(_bar_decoder(t_inverse), t),
      # Split-both-like: every label has its own axes, before and after T_y.
      "inconclusive": _SyntheticRun(_bar_decoder(own), t),
  }
  for expected, run in runs.items():
    result = competition.judge(run, config)
    assert result["verdict"] == expected, result
  decoder_run = competition.judge(runs["decoder"], config)
  assert decoder_run["sp_mu"]["interval"][0] > 0.7
  assert abs(decoder_run["sp_mu_prime"]["value"]) < 0.15


def _smoke_config(**overrides):
  """CompetitionConfig of flags/compete_smoke.cfg (read from the file, so the two agree)."""
  return flagfiles.config_from_flagfiles(
      competition.CompetitionConfig, [os.path.join(REPO, "flags", "compete_smoke.cfg")], overrides)


@pytest.fixture(scope="module")
def single_process_sweep(tmp_path_factory):
  """The smoke flagfile through the real binary, in a fresh process."""
  workdir = tmp_path_factory.mktemp("single")
  result = subprocess.run(
      [sys.executable, "-m", "binaries.compete", "--flagfile=flags/compete_smoke.cfg",
       f"--workdir={workdir}"], cwd=REPO, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, result.stdout


def test_binary_writes_the_table_and_grids(single_process_sweep):
  workdir, stdout = single_process_sweep
  table = json.loads((workdir / "winrate.json").read_text())
  assert set(table["conditions"]) == {"rotation_standard", "rotation_decoder_split"}
  assert table["seeds"] == [0, 1]
  for c in table["conditions"].values():
    assert c["runs"] == 2
    assert c["encoder_wins"] + c["decoder_wins"] + c["inconclusive"] == 2
    assert set(c["per_seed"]) == {"0", "1"}
    low, high = c["encoder_win_rate_interval"]
    assert (low is None and high is None) == (c["encoder_wins"] + c["decoder_wins"] == 0)
  markdown = (workdir / "winrate.md").read_text()
  assert "| rotation_decoder_split | 2 |" in markdown and markdown in stdout + "\n"
  assert (workdir / "winrate.png").stat().st_size > 0
  run = json.loads((workdir / "results" / "rotation_standard" / "seed_1.json").read_text())
  assert run["steps"] == 20 and run["verdict"] in competition.VERDICTS
  latent = run["latent"]  # the per-label counts are the thresholded per-label spectra
  assert len(latent["active_directions_per_label"]) == 10
  assert latent["active_directions_per_label"] == [
      None if ev is None else sum(v > 0.01 for v in ev)
      for ev in latent["posterior_mean_eigenvalues_per_label"]]
  assert 0 < latent["active_directions"] <= len(latent["kl_per_dimension"])
  with np.load(workdir / "results" / "rotation_standard" / "seed_1_grids.npz") as grids:
    assert grids["mu"].shape == grids["mu_prime"].shape == (10, 4, 28, 28, 1)
    assert not np.array_equal(grids["mu"], grids["mu_prime"])  # T_y changes the generator


def test_rerun_trains_nothing_and_gives_the_same_table(single_process_sweep):
  tf.config.experimental.enable_op_determinism()
  workdir, _ = single_process_sweep
  before = (workdir / "winrate.json").read_text()
  table = competition.run_competition(_smoke_config(), str(workdir))
  assert table["trained_batches"] == 0
  assert (workdir / "winrate.json").read_text() == before
  # Other thresholds re-judge the stored SP intervals, without training.
  strict = competition.run_competition(_smoke_config(tau_lo=-2.0, tau_hi=2.0), str(workdir))
  assert strict["trained_batches"] == 0
  assert all(c["inconclusive"] == 2 for c in strict["conditions"].values())
  competition.run_competition(_smoke_config(), str(workdir))
  assert (workdir / "winrate.json").read_text() == before


def test_shards_then_aggregate_equal_one_process(single_process_sweep, tmp_path):
  tf.config.experimental.enable_op_determinism()
  workdir, _ = single_process_sweep
  with pytest.raises(UsageError, match="results are missing"):
    competition.run_competition(_smoke_config(aggregate=True), str(tmp_path))
  for shard in (1, 0):
    done = competition.run_competition(_smoke_config(num_shards=2, shard_index=shard),
                                       str(tmp_path))
    assert done == {"shard": shard, "trained_batches": 1}
  assert not (tmp_path / "winrate.json").exists()
  competition.run_competition(_smoke_config(aggregate=True, num_shards=2), str(tmp_path))
  assert (tmp_path / "winrate.json").read_text() == (workdir / "winrate.json").read_text()
  assert (tmp_path / "winrate.md").read_text() == (workdir / "winrate.md").read_text()


def test_other_settings_in_the_same_workdir_are_refused(single_process_sweep):
  workdir, _ = single_process_sweep
  with pytest.raises(UsageError, match="different hidden_units"):
    competition.run_competition(_smoke_config(hidden_units=17), str(workdir))
