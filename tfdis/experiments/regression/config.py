"""The settings of the regression experiment of paper Sec. 3 (Fig. 3).

Two problems (fitting the encoder, fitting the decoder), each with two targets (the disentangled
code z and the entangled T_y z), evaluated on two splits; `RegressionConfig` holds the flags of
binaries.regress.
"""
import dataclasses

import numpy as np

from tfdis.errors import UsageError
from tfdis.model import transforms as transforms_lib
from tfdis.training import config as config_lib

PROBLEMS = ("encoder", "decoder")
TARGETS = ("disentangled", "entangled")
SPLITS = ("train", "heldout")
OPTIMIZERS = ("adam", "sgd")
# Fields that may change between a run and its resumption without changing any curve.
RESUMABLE_FIELDS = ("log_every", "fraction", "final_window", "alignment_examples",
                    "alignment_probes", "descent_steps")


# TrainConfig fields that describe the teacher's data and networks, which the regression trains.
TEACHER_FIELDS = ("dataset", "architecture", "hidden_units", "num_hidden_layers", "latent_dim",
                  "likelihood", "encoder_uses_label", "latent_transform")


@dataclasses.dataclass
class RegressionConfig(config_lib.TrainConfig):
  """Everything that defines a regression run (the flags of binaries.regress, one to one).

  The TrainConfig fields keep their meaning: the networks (TEACHER_FIELDS, which must equal the
  teacher's, see `check_teacher`; encoder_split and decoder_split are the regression's own) and
  their training (seed, num_steps, batch_size, learning_rate, jit_compile, log_every).
  `transform_seed` seeds the random rotations T_y of `transform`; with `per_seed_transforms`
  (the default) seed s draws its own T_y from transform_seed + (s - seed), so the seeds sample
  rotations as well as initialisations, otherwise one T_y serves every seed. `rotation_fraction`
  a makes the entangled target T_y^a z (`transforms.fractional_power`: a = 0 is z itself, a = 1 the
  whole T_y; rotations only). `teacher_run` names
  the run of a `binaries.reproduce` plan whose model is the teacher (binaries.regress takes the
  teacher's folder from --teacher instead).
  """
  # What a settings record written before a field existed was made with (not the default).
  ABSENT_FIELD_VALUES = {"per_seed_transforms": False, "teacher_run": "shared",
                         "rotation_fraction": 1.0, "dense_eval_until": 0, "dense_eval_every": 10,
                         "optimizer": "adam", "decoder_learning_rate": 0.0,
                         "dequantize": False}

  transform: str = "rotation"
  rotation_fraction: float = 1.0
  per_seed_transforms: bool = True
  teacher_run: str = "shared"
  num_seeds: int = 3
  eval_every: int = 100
  dense_eval_until: int = 0
  dense_eval_every: int = 10
  optimizer: str = "adam"
  decoder_learning_rate: float = 0.0
  alignment_examples: int = 256
  alignment_probes: int = 32
  descent_steps: int = 10
  log_evals: int = 0
  train_examples: int = 0
  eval_examples: int = 2000
  fraction: float = 0.9
  final_window: int = 3

  def validate(self):
    """Raises UsageError naming the first bad field and how to fix it."""
    super().validate()
    if self.balanced_batches:
      raise UsageError("The regression draws its own batches; leave --balanced_batches off (it is "
                       "a flag of binaries.train).")
    if self.dequantize:
      raise UsageError("--dequantize: the regression trains on the teacher's images as loaded; "
                       "leave it unset.")
    if not self.teacher_run.strip():
      raise UsageError("--teacher_run is empty; name the plan's run whose model teaches "
                       "(e.g. shared).")
    if self.track_every:
      raise UsageError(f"--track_every={self.track_every} tracks a VAE's SP / LP in "
                       "binaries.train; the regression fits plain networks: leave it unset.")
    if self.transform not in transforms_lib.TRANSFORMS:
      raise UsageError(f"--transform={self.transform!r} is unknown; use one of "
                       f"{sorted(transforms_lib.TRANSFORMS)}.")
    if not 0 <= self.rotation_fraction <= 1:
      raise UsageError(f"--rotation_fraction={self.rotation_fraction} must lie in [0, 1] (0: the "
                       "identity, 1: the whole T_y).")
    if self.rotation_fraction != 1 and self.transform == "reflection":
      raise UsageError(f"--rotation_fraction={self.rotation_fraction} needs rotations, but "
                       "--transform=reflection has det -1 (no path of rotations leads to it); use "
                       "--transform=rotation or leave --rotation_fraction=1.")
    if self.optimizer not in OPTIMIZERS:
      raise UsageError(f"--optimizer={self.optimizer!r} is unknown; use one of {OPTIMIZERS}.")
    if self.decoder_learning_rate < 0 or (self.decoder_learning_rate and
                                          self.optimizer != "sgd"):
      raise UsageError(f"--decoder_learning_rate={self.decoder_learning_rate} is a step size of "
                       "--optimizer=sgd (> 0; 0: --learning_rate); Adam takes one --learning_rate.")
    if self.dense_eval_until < 0:
      raise UsageError(f"--dense_eval_until={self.dense_eval_until} must be >= 0 (0: no dense "
                       "evaluation).")
    if self.alignment_examples < 0:
      raise UsageError(f"--alignment_examples={self.alignment_examples} must be >= 0 (0: no "
                       "alignment).")
    for name in ("num_seeds", "eval_every", "dense_eval_every", "eval_examples", "final_window",
                 "alignment_probes", "descent_steps"):
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    if not 0 < self.fraction < 1:
      raise UsageError(f"--fraction={self.fraction} must lie strictly between 0 and 1.")
    if self.final_window > len(self.eval_steps()) - 1:
      raise UsageError(f"--final_window={self.final_window} exceeds the "
                       f"{len(self.eval_steps()) - 1} evaluations after step 0; lower it or "
                       "lower --eval_every.")
    return self

  def check_teacher(self, teacher_config):
    """Raises UsageError if the data or network fields differ from the teacher's TrainConfig."""
    differ = [n for n in TEACHER_FIELDS if getattr(self, n) != getattr(teacher_config, n)]
    if differ:
      raise UsageError(
          f"--{differ[0]}={getattr(self, differ[0])} differs from the teacher's "
          f"{getattr(teacher_config, differ[0])}; the regression trains the teacher's networks, so "
          "start the flagfile from the teacher's settings (e.g. --flagfile=flags/base.cfg).")

  def eval_steps(self):
    """Evaluated steps [E]: 0, every eval_every, num_steps, log_evals log-spaced in [1, S], and
    every dense_eval_every up to dense_eval_until.

    The log-spaced and dense ones resolve the fast start of the curves, where the convergence
    steps fall.
    """
    steps = set(range(0, self.num_steps, self.eval_every)) | {self.num_steps}
    steps |= set(range(0, min(self.dense_eval_until, self.num_steps) + 1, self.dense_eval_every))
    if self.log_evals:
      steps |= set(np.round(np.geomspace(1, self.num_steps, self.log_evals)).astype(int).tolist())
    return np.asarray(sorted(steps), np.int64)

  def transforms(self, num_labels, dim, transform_seed):
    """T_y^a of `transform` seeded by `transform_seed`: float32 [G, D, D] (a = rotation_fraction).

    a = 1 is `transforms.by_name` itself, untouched, so such runs equal those made before the
    fraction existed.
    """
    whole = transforms_lib.by_name(self.transform, num_labels, dim, transform_seed)
    if self.rotation_fraction == 1:
      return whole
    return transforms_lib.fractional_power(whole, self.rotation_fraction)

  def early_until(self):
    """The last step of the early window (the early loss area): dense_eval_until (0: none)."""
    return min(self.dense_eval_until, self.num_steps)

  def seeds(self):
    return [self.seed + k for k in range(self.num_seeds)]

  def transform_seed_of(self, seed):
    """The seed of the T_y that training seed `seed` fits."""
    return self.transform_seed + (seed - self.seed) if self.per_seed_transforms else (
        self.transform_seed)
