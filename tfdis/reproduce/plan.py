"""What the reproduction runs: the paper's experiments as a plan of runs, its units, shards and costs.

`binaries.reproduce --flagfile=flags/paper.cfg --scale=... --workdir=W` runs (with
tfdis.reproduce.runner), in dependency order:

```none
stage        figure   runs (folder under W/runs/)              what each run is
shared       Fig. 1   shared                                   binaries.train + binaries.evaluate
split        Fig. 2   split_encoder, split_decoder, split      binaries.train + binaries.evaluate
appendix_a   Fig. 4   appendix_a/<flagfile name> (8)           binaries.train + binaries.evaluate
regression   Fig. 3   regression/regress, .../regress_control, binaries.regress (teacher: shared;
                      .../regress_split_teacher                split for the last)
competition  Figs 5,6 competition/<transform>_<variant>: one      binaries.compete with
                      per condition of each flagfile (e.g.        --conditions=<variant>
                      rotation_standard; the checks'
                      rotation_decoder_split_all)
```

Each run's settings are its flagfile under flags/ (the same file its own binary takes), then the
scale's flagfile for its stage (`SCALE_FLAGFILES`, under flags/scales/), read by absl as
`--flagfile=<run's> --flagfile=<scale's>` would be: `full` adds nothing (the paper-scale settings,
20 competition seeds per condition), `quick` trains fewer steps and 2 competition seeds per
condition, `smoke` shrinks every network to a few units and steps (what the tests run). Every
trained model of Figs. 1, 2 and 4 runs with several seeds (`MODEL_SEEDS`: full 5, quick 3, smoke 1;
--model_seeds): runs <name>, <name>_seed<s>, ... with seeds seed, seed + 1, ...; the first is the
regression's teacher and the report's figures, and the report's claims hold only when every seed's
run supports them.

Over days and machines: with --ledger=L a run is finished when its record L/<run>.json is there
(records of other settings or another RECORD_VERSION are refused before anything runs), each run
writes its record as it finishes, and the report is built from L's records once L holds every run
of the plan. --num_shards=K --shard_index=i runs shard i of the plan's `units` (a run with the
regressions it teaches) dealt round robin (`files.shard`, binaries.compete's rule), so K
processes on K machines fill one ledger. --max_hours=H starts a run only if the time spent plus
its estimate (`cost_seconds`, scaled by the measured pace) fits in H hours, else stops cleanly,
logging what is left and its estimated time. --stages=a,b runs only those stages' runs (e.g. the
competition first: its win rates are the question the paper leaves open), dealt among the shards by
the same rule; the ledger and the report still cover the whole plan. --list_runs lists a shard's
runs (`listing`).
"""
import dataclasses
import os

from tfdis import files
from tfdis import flagfiles
from tfdis.errors import UsageError
from tfdis.experiments import competition
from tfdis.experiments import evaluation
from tfdis.experiments import regression
from tfdis.reproduce import cost
from tfdis.reproduce import ledger
from tfdis.reproduce.config import STAGES
from tfdis.training import config as config_lib

# Per scale and stage, the flagfile layered on each run's own ("evaluate": binaries.evaluate of the
# trained runs); a stage not listed keeps its flagfile's settings.
SCALE_FLAGFILES = {
    "full": {},
    "quick": {
        "shared": "flags/scales/quick_shared.cfg",
        "split": "flags/scales/quick_split.cfg",
        "appendix_a": "flags/scales/quick_appendix_a.cfg",
        "evaluate": "flags/scales/quick_evaluate.cfg",
        "regression": "flags/scales/quick_regression.cfg",
        "competition": "flags/scales/quick_competition.cfg",
    },
    "smoke": {
        "shared": "flags/scales/smoke.cfg",
        "split": "flags/scales/smoke.cfg",
        "appendix_a": "flags/scales/smoke.cfg",
        "evaluate": "flags/scales/smoke_evaluate.cfg",
        "regression": "flags/scales/smoke_regression.cfg",
        "competition": "flags/scales/smoke_competition.cfg",
    },
}


@dataclasses.dataclass
class Run:
  """One experiment of the plan: a folder under runs/, its settings and how to run it."""
  name: str
  stage: str
  kind: str            # train (then evaluate) | regression | competition
  flagfile: str
  config: object       # TrainConfig | RegressionConfig | CompetitionConfig
  evaluation: object = None   # EvaluationConfig of a train run
  teacher: str = ""    # run name of a regression's teacher
  condition: str = ""  # a trained run's model: its first seed's run name; a competition run's
  #                      flagfile name, its figure (neither in plan.json)
  teacher_run: object = None  # a regression's teacher Run (not in plan.json)

  def folder(self, workdir):
    return os.path.join(workdir, "runs", self.name)

  def result_file(self):
    return {"train": "evaluation.json", "regression": "regression.json",
            "competition": "winrate.json"}[self.kind]

  def done(self, workdir):
    return os.path.exists(os.path.join(self.folder(workdir), self.result_file()))

  def describe(self):
    return {"name": self.name, "stage": self.stage, "kind": self.kind, "flagfile": self.flagfile,
            "teacher": self.teacher, "config": dataclasses.asdict(self.config),
            "evaluation": dataclasses.asdict(self.evaluation) if self.evaluation else None}

  def estimate_seconds(self):
    """Wall seconds this run takes here, for the ETA and --max_hours (corrected as runs finish):
    the calibrated cost model (tfdis.reproduce.cost) when its file is there, else
    `hand_estimate_seconds`."""
    model = cost.active()
    return model.seconds(self) if model else self.hand_estimate_seconds()

  def hand_estimate_seconds(self):
    """Wall seconds this run takes on the 2-core CPU by hand-set constants (the fallback).

    The per-step seconds below are fitted to the quick-scale timings (docs/reproduce-the-paper.md,
    "Scales"): a shared MLP 512-512 under XLA plus each network made of label-routed layers; a
    regression seed-step; a competition seed-step, slower with a split layer; plus evaluation and
    export.
    """
    c = self.config
    size = c.batch_size / 128.0
    if self.kind == "train":
      size *= (c.hidden_units / 512.0) ** 2
      routed = _routed_fraction(c.encoder_split, c) + _routed_fraction(c.decoder_split, c)
      per_step = size * (0.0059 * c.num_hidden_layers / 2 + 0.0143 * routed)
      return c.num_steps * per_step + (15 if c.hidden_units >= 64 else 5)
    if self.kind == "regression":
      return c.num_seeds * (c.num_steps * 0.012 * size + 4)
    size *= (c.hidden_units / 512.0) ** 2
    per_step = sum(0.017 if variant.endswith("_split") else 0.008 for variant in c.variants())
    return c.seeds * (c.num_steps * per_step * size + 3 * len(c.variants()))


def _routed_fraction(spec, config):
  spec = spec.strip()
  if spec == "none":
    return 0.0
  if spec == "all":
    return 1.0
  return len(spec.split(",")) / (config.num_hidden_layers + 1)


def _name(path):
  return os.path.splitext(os.path.basename(path))[0]


def plan(paper):
  """The runs of `paper` (PaperConfig) at its scale, in the order they run."""
  paper.validate()
  scale = SCALE_FLAGFILES[paper.scale]
  scale_files = lambda stage: [scale[stage]] if stage in scale else []
  layered = lambda path, stage: [path] + scale_files(stage)
  classifier = {"classifier_dir": paper.classifier_dir} if paper.classifier_dir else {}
  evaluation_config = flagfiles.config_from_flagfiles(
      evaluation.EvaluationConfig, scale_files("evaluate"), classifier).validate()
  runs = []
  for stage, _ in STAGES:
    for path in paper.files(stage):
      if stage in ("shared", "split", "appendix_a"):
        name = "shared" if stage == "shared" else (
            _name(path) if stage == "split" else "appendix_a/" + _name(path))
        config = flagfiles.config_from_flagfiles(config_lib.TrainConfig, layered(path, stage))
        config.validate()
        for k in range(paper.seeds_per_model()):  # seed, seed + 1, ...: the first is the teacher
          seed = config.seed + k
          runs.append(Run(name if k == 0 else f"{name}_seed{seed}", stage, "train", path,
                          dataclasses.replace(config, seed=seed), evaluation_config,
                          condition=name))
      elif stage == "regression":
        config = flagfiles.config_from_flagfiles(regression.RegressionConfig,
                                                 layered(path, stage)).validate()
        teacher = next((r for r in runs if r.kind == "train" and r.name == config.teacher_run),
                       None)
        if teacher is None:
          raise UsageError(f"{path}: --teacher_run={config.teacher_run} names no trained run of "
                           f"the plan; use one of {[r.name for r in runs if r.kind == 'train']}.")
        try:  # refused now rather than after the teacher has trained
          config.check_teacher(teacher.config)
        except UsageError as e:
          raise UsageError(f"{path} (teacher {teacher.flagfile}): {e}") from None
        runs.append(Run("regression/" + _name(path), stage, "regression", path, config,
                        teacher=teacher.name, teacher_run=teacher))
      else:
        config = flagfiles.config_from_flagfiles(
            competition.CompetitionConfig, layered(path, stage),
            dict(classifier, num_shards=1, shard_index=0, aggregate=False))
        if paper.competition_seeds:
          config = dataclasses.replace(
              config, seeds=paper.competition_seeds,
              seeds_per_batch=min(config.seeds_per_batch, paper.competition_seeds))
        config.validate()
        for variant in config.variants():  # one run per condition: a unit of one session's work
          runs.append(Run("competition/" + competition.condition_name(config.transform, variant),
                          stage, "competition", path,
                          dataclasses.replace(config, conditions=variant), condition=_name(path)))
  names = [r.name for r in runs]
  duplicated = sorted({n for n in names if names.count(n) > 1})
  if duplicated:
    raise UsageError(f"Two flagfiles of the plan give the same run name {duplicated[0]!r}; "
                     "rename one of them.")
  return runs


def units(runs):
  """The runs grouped into what one process must run together: a run and the regressions it
  teaches (a regression reads its teacher's model from the same workdir). In the plan's order."""
  groups, home = [], {}
  for run in runs:
    if run.kind == "regression" and run.teacher in home:
      home[run.teacher].append(run)
    else:
      groups.append([run])
      home[run.name] = groups[-1]
  return groups


def shard_runs(paper, runs):
  """The runs of this shard: the `units` of --stages' runs dealt round robin (`files.shard`),
  in plan order. A regression whose teacher's stage is not chosen keeps its unit without the
  teacher (`execute` trains the teacher again in the workdir when its model is not there)."""
  chosen = set(paper.chosen_stages())
  kept = [unit for unit in ([r for r in u if r.stage in chosen] for u in units(runs)) if unit]
  mine = {r.name for unit in files.shard(kept, paper.num_shards, paper.shard_index) for r in unit}
  return [r for r in runs if r.name in mine]


def teacher_missing(run, workdir):
  """Whether a regression's teacher has no trained model in `workdir` (e.g. recorded elsewhere)."""
  return run.kind == "regression" and not os.path.exists(
      os.path.join(workdir, "runs", run.teacher, "metrics.json"))


def cost_seconds(run, workdir):
  """The cost model's wall seconds for running `run` here: with its teacher's training when the
  workdir lacks that model."""
  extra = run.teacher_run.estimate_seconds() if teacher_missing(run, workdir) else 0.0
  return run.estimate_seconds() + extra


def shard_text(paper):
  return f", shard {paper.shard_index}/{paper.num_shards}" if paper.num_shards > 1 else ""


def listing(paper, workdir=""):
  """Text: which cost model, this shard's runs, their predicted (and recorded) times and whether
  each is finished, then per stage predicted against measured; no run starts.

  Finished: its record is in --ledger (checked as `reproduce` would), else its result is in
  `workdir`. A recorded run's prediction is for how it ran (`cost.predicted_seconds`).
  """
  runs = plan(paper)
  records = ledger.read_records(paper.ledger, runs) if paper.ledger else {}
  pace = cost.pace(runs, records)
  mine = shard_runs(paper, runs)
  lines = [cost.model_line(),
           f"Scale {paper.scale}{shard_text(paper)}: {len(mine)} of the plan's {len(runs)} runs "
           f"(pace measured/estimated {pace:.2f} from {len(records)} records)",
           "| run | stage | predicted | measured | state |", "| --- | --- | --- | --- | --- |"]
  todo = 0.0
  for run in mine:
    record = records.get(run.name) or {}
    if record:
      state = "recorded"
    elif workdir and run.done(workdir):
      state = "finished in the workdir"
    else:
      state = "to run"
      todo += cost_seconds(run, workdir) if workdir else run.estimate_seconds()
    measured = record.get("wall_seconds")
    lines.append(f"| {run.name} | {run.stage} | "
                 f"{files.format_seconds(cost.predicted_seconds(run, record))} | "
                 f"{files.format_seconds(measured) if measured else '-'} | {state} |")
  lines += cost.comparison_lines(mine, records) + [""]
  total = sum(r.estimate_seconds() for r in mine)
  lines.append(f"Estimated: {files.format_seconds(total)} for these runs, "
               f"{files.format_seconds(todo)} of it to run ({files.format_seconds(todo * pace)} "
               "at the measured pace).")
  return "\n".join(lines)
