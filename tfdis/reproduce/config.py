"""The settings of binaries.reproduce (flags/paper.cfg): the paper's flagfiles and the scale.

`PaperConfig` names the flagfiles of each stage of the reproduction (`STAGES`, in the order they
run) and the scale (`SCALES`); tfdis.reproduce.plan turns it into runs.
"""
import dataclasses
import os

from tfdis import files
from tfdis.errors import UsageError
from tfdis.errors import check_integer_fields

SCALES = ("smoke", "quick", "full")
# Seeds (independent trainings) of every model of Figs. 1, 2 and 4 per scale (--model_seeds).
MODEL_SEEDS = {"smoke": 1, "quick": 3, "full": 5}

STAGES = (
    ("shared", "Fig. 1: the shared model and its entangled counterpart"),
    ("split", "Fig. 2: split encoder, split decoder, split both"),
    ("appendix_a", "Fig. 4 (App. A): one side split, single layers of the other split"),
    ("regression", "Fig. 3 (Sec. 3): regression to z versus T_y z"),
    ("competition", "Figs. 5, 6 (App. B): encoder versus decoder, win rates"),
)


@dataclasses.dataclass
class PaperConfig:
  """The flags of binaries.reproduce (flags/paper.cfg): which flagfiles make up the paper."""
  scale: str = ""
  shared: str = "flags/shared.cfg"
  split: str = "flags/split_encoder.cfg,flags/split_decoder.cfg,flags/split.cfg"
  appendix_a: str = ",".join(f"flags/appendix_a/{side}_split_{other}_l{layer}.cfg"
                             for side, other in (("encoder", "decoder"), ("decoder", "encoder"))
                             for layer in range(4))
  regression: str = ("flags/regress.cfg,flags/regress_control.cfg,"
                     "flags/regress_split_teacher.cfg")
  competition: str = ("flags/compete_rotation.cfg,flags/compete_reflection.cfg,"
                      "flags/compete_checks.cfg")
  competition_seeds: int = 0
  model_seeds: int = 0
  classifier_dir: str = ""
  ledger: str = ""
  num_shards: int = 1
  shard_index: int = 0
  max_hours: float = 0.0
  stages: str = ""
  list_runs: bool = False
  fit_cost_model: bool = False

  def validate(self):
    check_integer_fields(self)
    files.check_shard(self.num_shards, self.shard_index)
    if self.num_shards > 1 and not self.ledger:
      raise UsageError(f"--num_shards={self.num_shards} needs --ledger=<folder>, the folder every "
                       "shard writes its records to (and the report is built from).")
    unknown = [s for s in self.chosen_stages() if s not in dict(STAGES)]
    if unknown:
      raise UsageError(f"--stages={self.stages!r}: no stage {unknown[0]!r}; choose among "
                       f"{', '.join(dict(STAGES))} (comma list; empty: every stage).")
    existing = self.ledger
    while existing and not os.path.exists(existing):
      existing = os.path.dirname(existing.rstrip("/"))
    if existing and not os.path.isdir(existing):
      raise UsageError(f"--ledger={self.ledger}: {existing} is a file; give a folder for the "
                       "run records (new, or one a ledger run wrote).")
    if self.fit_cost_model and not self.ledger:
      raise UsageError("--fit_cost_model needs --ledger=<folder>, the records whose wall times it "
                       "fits (e.g. --ledger=reports/full/ledger).")
    if not self.max_hours >= 0:
      raise UsageError(f"--max_hours={self.max_hours} must be >= 0 (0: no time budget).")
    if self.scale not in SCALES:
      raise UsageError(f"--scale={self.scale!r}: choose smoke (about a minute, checks the "
                       "pipeline), quick (about 30 minutes on 2 CPU cores) or full (the paper's "
                       "settings; about 5 hours, estimated).")
    if not self.shared.strip() or "," in self.shared:
      raise UsageError(f"--shared={self.shared!r} must name one flagfile (the shared model; the "
                       "regression's teacher).")
    return self

  def chosen_stages(self):
    """The stages this call runs (--stages; every stage when empty)."""
    chosen = [s.strip() for s in self.stages.split(",") if s.strip()]
    return chosen or [name for name, _ in STAGES]

  def files(self, stage):
    return [p.strip() for p in getattr(self, stage).split(",") if p.strip()]

  def seeds_per_model(self):
    return self.model_seeds or MODEL_SEEDS[self.scale]
