"""The competition's conditions (App. B, Figs. 5, 6): transforms, variants, the sweep's config.

Conditions: transform {rotation (Haar, one draw per seed: transform_seed = seed), reflection
T_i = (-1)^{1[i < 5]} I} x variant {standard; y masked from the encoder; encoder layer l-3 split;
decoder layer l+3 split}. Layers are counted from z, so "l-3" / "l+3" is split index 3 of an MLP
with 3 hidden layers (4 weight layers per network).

A sweep's results folder holds, per condition and seed, results/<condition>/seed_<s>.json (the
judged run, `result_path`, with its trajectory when --judge_at_steps is given) and
seed_<s>_grids.npz (its label x z grids, `grids_path`). Two pipeline checks (`CHECK_VARIANTS`,
chosen by name in --conditions) split one whole network and must give a known verdict.
"""
import collections
import dataclasses
import os

import numpy as np

from tfdis import files
from tfdis.errors import UsageError
from tfdis.errors import check_integer_fields
from tfdis.experiments.competition.judging import verdict
from tfdis.metrics import style_preservation
from tfdis.training import config as config_lib

TRANSFORMS = ("rotation", "reflection")
# The four columns of Figs. 5 and 6, as TrainConfig overrides (--conditions=all runs these).
VARIANTS = collections.OrderedDict([
    ("standard", {}),
    ("y_masked", {"encoder_uses_label": False}),
    ("encoder_split", {"encoder_split": "3"}),   # the encoder's layer l-3
    ("decoder_split", {"decoder_split": "3"}),   # the decoder's layer l+3
])
# Pipeline checks: one whole network split, so it has no bias across labels to win with. A split
# decoder cannot share a style across labels unless the code z does, so the encoder must win; a
# split encoder gives the decoder its own codes per label, so the decoder must win.
CHECK_VARIANTS = collections.OrderedDict([
    ("decoder_split_all", {"decoder_split": "all"}),
    ("encoder_split_all", {"encoder_split": "all"}),
])
CHECK_VERDICTS = {"decoder_split_all": "encoder", "encoder_split_all": "decoder"}
ALL_VARIANTS = collections.OrderedDict(list(VARIANTS.items()) + list(CHECK_VARIANTS.items()))

# Who wins each of the eight App. B conditions by the paper (Figs. 5, 6 captions).
PAPER_VERDICTS = {
    ("rotation", "standard"): "encoder", ("rotation", "y_masked"): "encoder",
    ("rotation", "encoder_split"): "decoder", ("rotation", "decoder_split"): "encoder",
    ("reflection", "standard"): "decoder", ("reflection", "y_masked"): "encoder",
    ("reflection", "encoder_split"): "decoder", ("reflection", "decoder_split"): "encoder",
}


def expected_verdict(transform, variant):
  """The paper's verdict of a condition, or what a pipeline check must give; None otherwise."""
  return PAPER_VERDICTS.get((transform, variant), CHECK_VERDICTS.get(variant))

# The defaults of --tau_lo and --tau_hi: the one pair of SP thresholds.
TAU_LO = style_preservation.SP_NOT_PRESERVING
TAU_HI = style_preservation.SP_PRESERVING


# TrainConfig fields the sweep sets for every run (see `CompetitionConfig.train_configs`).
SWEEP_SET_FIELDS = ("architecture", "encoder_uses_label", "encoder_split", "decoder_split",
                    "latent_transform", "transform_seed")


@dataclasses.dataclass
class CompetitionConfig(config_lib.TrainConfig):
  """A win-rate sweep (binaries.compete): how every run trains, which runs, how they are judged.

  The TrainConfig fields are the model and training of every run; `train_configs` sets, per run,
  seed = transform_seed = the run's seed (seeds are `seed`, seed + 1, ...; one T_y draw each),
  latent_transform = `transform` and the variant's encoder_uses_label / encoder_split /
  decoder_split, so those (SWEEP_SET_FIELDS) must keep their defaults. `grid_columns` is the
  width of the judged runs' grids. `judge_at_steps` (comma list) also judges every run at those
  steps of its training: its trajectory.
  """
  transform: str = "rotation"
  conditions: str = "all"
  seeds: int = 20
  seeds_per_batch: int = 8
  train_examples: int = 0
  num_z: int = 200
  num_bootstrap: int = 1000
  judge_seed: int = 0
  tau_lo: float = TAU_LO
  tau_hi: float = TAU_HI
  min_label_preservation: float = 0.5
  lp_samples_per_class: int = 100
  num_shards: int = 1
  shard_index: int = 0
  aggregate: bool = False
  judge_at_steps: str = ""

  @property
  def first_seed(self):
    """The seed of the first run of each condition (`seed`)."""
    return self.seed

  def validate(self):
    check_integer_fields(self)
    if self.transform not in TRANSFORMS:
      raise UsageError(f"--transform={self.transform!r} is not one of {TRANSFORMS}.")
    if self.track_every:
      raise UsageError(f"--track_every={self.track_every} is binaries.train's; a competition "
                       "judges its runs during training with --judge_at_steps=a,b,...")
    defaults = config_lib.TrainConfig()
    for name in SWEEP_SET_FIELDS:
      if getattr(self, name) != getattr(defaults, name):
        raise UsageError(f"--{name}={getattr(self, name)}: the competition sets it for each run "
                         "(from --transform, --conditions and the seed); leave it unset.")
    if self.num_hidden_layers < 3 and {"encoder_split", "decoder_split"} & set(self.variants()):
      raise UsageError(f"--num_hidden_layers={self.num_hidden_layers}: the split variants split "
                       "layer l-3 / l+3, which needs at least 3; use --num_hidden_layers=3.")
    for name in ("seeds", "seeds_per_batch", "num_z", "num_bootstrap", "grid_columns",
                 "num_shards", "lp_samples_per_class"):
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    if self.num_z < 3:
      raise UsageError(f"--num_z={self.num_z} is too few for a rank correlation; use at least 3.")
    files.check_shard(self.num_shards, self.shard_index)
    verdict((0, 0), (0, 0), self.tau_lo, self.tau_hi)
    self.judge_steps()
    for config in self.train_configs(self.variants()[0], [self.first_seed]):
      config.validate()
    return self

  def variants(self):
    """The selected variant names, in the paper's order (then the pipeline checks)."""
    if self.conditions.strip() == "all":
      return list(VARIANTS)
    chosen = [c.strip() for c in self.conditions.split(",") if c.strip()]
    bad = [c for c in chosen if c not in ALL_VARIANTS]
    if bad or not chosen:
      raise UsageError(f"--conditions={self.conditions!r} names unknown variants {bad}; use all "
                       f"or a comma-separated list of {', '.join(ALL_VARIANTS)}.")
    return [c for c in ALL_VARIANTS if c in chosen]

  def judge_steps(self):
    """The sorted steps of --judge_at_steps, each in [1, num_steps) (num_steps is judged anyway)."""
    try:
      found = sorted({int(s) for s in self.judge_at_steps.split(",") if s.strip()})
    except ValueError:
      raise UsageError(f"--judge_at_steps={self.judge_at_steps!r} must be a comma list of step "
                       "numbers, e.g. 2500,5000,10000.") from None
    outside = [s for s in found if not 0 < s < self.num_steps]
    if outside:
      raise UsageError(f"--judge_at_steps has {outside} outside [1, --num_steps={self.num_steps}); "
                       "the last step is judged anyway, so list earlier steps only.")
    return found

  def seed_list(self):
    return list(range(self.first_seed, self.first_seed + self.seeds))

  def train_configs(self, variant, seeds):
    """The TrainConfig of each seed of `variant` (transform_seed = seed: one T_y draw per run)."""
    shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(config_lib.TrainConfig)}
    return [config_lib.TrainConfig(**dict(shared, latent_transform=self.transform, transform_seed=seed,
                                     seed=seed, **ALL_VARIANTS[variant])) for seed in seeds]

  def batches(self):
    """Every (variant, seeds) training batch of the sweep: the unit a shard takes."""
    seeds = self.seed_list()
    return [(variant, seeds[i:i + self.seeds_per_batch]) for variant in self.variants()
            for i in range(0, len(seeds), self.seeds_per_batch)]

  def defining(self):
    """Fields that define a run's stored result (SP, LP); a results folder must keep them.

    The thresholds are not among them: the table re-judges the stored intervals with the
    thresholds of each call, so changing --tau_lo / --tau_hi needs no retraining.
    """
    skip = ("conditions", "seeds", "seed", "seeds_per_batch", "log_every",
            "checkpoint_every", "classifier_dir", "num_shards", "shard_index", "aggregate",
            "tau_lo", "tau_hi", "strategy", "eval_batch_size", "track_every",
            "track_lp") + SWEEP_SET_FIELDS
    return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


def condition_name(transform, variant):
  """'rotation_standard', ...: a condition's name (its folder under results/)."""
  return f"{transform}_{variant}"


def grid_codes(config, latent_dim):
  """The shared z [grid_columns, D] of every run's grids."""
  return np.random.default_rng([config.judge_seed, 7]).standard_normal(
      (config.grid_columns, latent_dim)).astype(np.float32)


def result_path(workdir, condition, seed):
  """The judged result of one run (JSON); written last, so its presence marks the run finished."""
  return os.path.join(workdir, "results", condition, f"seed_{seed}.json")


def grids_path(workdir, condition, seed):
  """uint8 grids [K, M, H, W, C] of μ_p ('mu') and μ'_p ('mu_prime') of one run (npz)."""
  return os.path.join(workdir, "results", condition, f"seed_{seed}_grids.npz")
