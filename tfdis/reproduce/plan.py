"""Every experiment of the paper from one command, resumable, with a progress display and a report.

`binaries.reproduce --flagfile=flags/paper.cfg --scale=... --workdir=W` runs, in dependency order:

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

Resuming: a run whose result file exists is skipped (`Run.done`); an unfinished one continues from
its own checkpoints (binaries.train, .regress and .compete all resume). Results are written whole
(temporary file, then rename) and last, so a run killed at any point is either finished or resumed.
`W/plan.json` records the settings of every run; a later call with other settings is refused
rather than mixing two plans in one folder. `W/progress.json` holds the stage, run and ETA while
running; `W/timing.json` the wall seconds of each run, summed over calls and rewritten every
minute while the run runs (`RunClock`), so a call killed without warning loses at most a minute.

When every run is finished, `tfdis.report` writes W/report/REPORT.md, results.json and figures/,
from the runs' records (`tfdis.reproduce.ledger`, made from the runs' result files).

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
import signal
import threading
import time

from absl import logging
import tensorflow as tf

from tfdis import flag_defs
from tfdis import files
from tfdis.errors import UsageError
from tfdis.errors import check_integer_fields
from tfdis.experiments import competition
from tfdis.experiments import evaluation
from tfdis.experiments import regression
from tfdis.reproduce import ledger
from tfdis.reproduce import report
from tfdis.training import config as config_lib
from tfdis.training import vae_training

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
    """Wall seconds this run takes on the 2-core CPU, for the ETA (corrected as runs finish).

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
  evaluation_config = flag_defs.config_from_flagfiles(
      evaluation.EvaluationConfig, scale_files("evaluate"), classifier).validate()
  runs = []
  for stage, _ in STAGES:
    for path in paper.files(stage):
      if stage in ("shared", "split", "appendix_a"):
        name = "shared" if stage == "shared" else (
            _name(path) if stage == "split" else "appendix_a/" + _name(path))
        config = flag_defs.config_from_flagfiles(config_lib.TrainConfig, layered(path, stage))
        config.validate()
        for k in range(paper.seeds_per_model()):  # seed, seed + 1, ...: the first is the teacher
          seed = config.seed + k
          runs.append(Run(name if k == 0 else f"{name}_seed{seed}", stage, "train", path,
                          dataclasses.replace(config, seed=seed), evaluation_config,
                          condition=name))
      elif stage == "regression":
        config = flag_defs.config_from_flagfiles(regression.RegressionConfig,
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
        config = flag_defs.config_from_flagfiles(
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


def _check_plan(paper, runs, workdir):
  """Refuses a workdir made with other settings; records this plan otherwise."""
  mine = {"scale": paper.scale, "runs": [r.describe() for r in runs]}
  path = os.path.join(workdir, "plan.json")
  saved = files.read_json(path)
  if saved is not None:
    if saved.get("scale") != paper.scale:
      why = f"--scale={saved.get('scale')}"
    else:
      theirs = {r["name"]: r for r in saved.get("runs", [])}
      changed = [r.name for r in runs if ledger.differences(theirs.get(r.name), r)] or [
          n for n in theirs if n not in {r.name for r in runs}]
      why = f"other settings for {changed[0]}" if changed else None
    if why:
      raise UsageError(f"--workdir={workdir} holds a reproduction made with {why}; use a new "
                       "--workdir, or the same flags to continue it.")
  files.write_json(path, mine)


class Progress:
  """Stage, run and ETA: logged at every run boundary and kept in W/progress.json."""

  def __init__(self, workdir, runs, pace=1.0):
    self.path = os.path.join(workdir, "progress.json")
    self.runs = runs
    self.default_pace = pace  # measured / estimated seconds known before this call (the ledger's)
    self.began = time.time()
    self.estimated_done = 0.0   # estimates of the runs finished in this call
    self.actual_done = 0.0      # and their wall time

  def pace(self):
    """Measured over estimated seconds of this call's finished runs, in [0.25, 4]; before any,
    the pace known before this call (the ledger's records', or 1)."""
    if self.estimated_done > 0:
      return min(max(self.actual_done / self.estimated_done, 0.25), 4.0)
    return self.default_pace

  def eta(self, remaining):
    """Remaining estimated seconds, scaled by how fast this call's finished runs really went."""
    return sum(r.estimate_seconds() for r in remaining) * self.pace()

  def show(self, index, run, remaining, state):
    stage_title = dict(STAGES)[run.stage]
    eta = self.eta(remaining)
    logging.info("[run %d/%d | stage %s] %s: %s; elapsed %s, ETA %s", index + 1, len(self.runs),
                 run.stage, run.name, state, files.format_seconds(time.time() - self.began),
                 files.format_seconds(eta))
    files.write_json(self.path, {"stage": run.stage, "stage_title": stage_title, "run": run.name,
                                 "run_index": index + 1, "num_runs": len(self.runs),
                                 "state": state,
                                 "elapsed_seconds": round(time.time() - self.began, 1),
                                 "eta_seconds": round(eta, 1),
                                 "remaining": [r.name for r in remaining]})

  def finished(self, estimate, seconds, resumed):
    """Counts a finished run's estimated and measured seconds towards the pace."""
    if not resumed:  # a resumed run did only part of its work: no measure of the estimate
      self.estimated_done += estimate
      self.actual_done += seconds


class RunClock:
  """The wall seconds of one run, summed over calls, kept current in W/timing.json while it runs.

  A daemon thread rewrites the run's entry every `every` seconds, so a call killed without warning
  (SIGKILL, a preempted machine) loses at most that much of the run's time; `stop` writes the final
  value and returns it.
  """

  def __init__(self, path, timing, name, every=60.0):
    self.path, self.timing, self.name = path, timing, name
    self.before = timing.get(name, 0.0)
    self.began = time.time()
    self._stopping = threading.Event()
    self._thread = threading.Thread(target=self._tick, args=(every,), daemon=True)
    self._thread.start()

  def _write(self):
    self.timing[self.name] = round(self.before + time.time() - self.began, 1)
    files.write_json(self.path, self.timing)

  def _tick(self, every):
    while not self._stopping.wait(every):
      self._write()

  def stop(self):
    self._stopping.set()
    self._thread.join()
    self._write()
    return self.timing[self.name]


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


def _teacher_missing(run, workdir):
  """Whether a regression's teacher has no trained model in `workdir` (e.g. recorded elsewhere)."""
  return run.kind == "regression" and not os.path.exists(
      os.path.join(workdir, "runs", run.teacher, "metrics.json"))


def cost_seconds(run, workdir):
  """The cost model's wall seconds for running `run` here: with its teacher's training when the
  workdir lacks that model."""
  extra = run.teacher_run.estimate_seconds() if _teacher_missing(run, workdir) else 0.0
  return run.estimate_seconds() + extra


def execute(run, workdir):
  """Runs (or continues) one run of the plan."""
  folder = run.folder(workdir)
  if run.kind == "train":
    if not os.path.exists(os.path.join(folder, "metrics.json")):
      vae_training.train_and_evaluate(run.config, folder)
    evaluation.evaluate_workdir(folder, run.evaluation)
  elif run.kind == "regression":
    teacher = os.path.join(workdir, "runs", run.teacher)
    if _teacher_missing(run, workdir):  # its record is in the ledger, its model is not here
      logging.info("%s: training its teacher %s again in this workdir (same settings and seed).",
                   run.name, run.teacher)
      vae_training.train_and_evaluate(run.teacher_run.config, teacher)
    regression.run_regression(run.config, teacher, folder)
  else:
    competition.run_competition(run.config, folder)


def make_record(run, paper, workdir, wall_seconds=None, code=None):
  """The ledger record of a finished run of `workdir` (`tfdis.reproduce.ledger`)."""
  folder = run.folder(workdir)
  result = report.run_result(run, folder)
  return ledger.make_record(run, paper.scale, result, report.run_figures(run, folder, result),
                            wall_seconds, code)


class _Terminated(BaseException):
  """SIGTERM outside a training loop, raised like KeyboardInterrupt."""


def _raise_terminated(signum, frame):
  del signum, frame
  raise _Terminated()


def _shard_text(paper):
  return f", shard {paper.shard_index}/{paper.num_shards}" if paper.num_shards > 1 else ""


def listing(paper, workdir=""):
  """Text: this shard's runs, their estimated times and whether each is finished; no run starts.

  Finished: its record is in --ledger (checked as `reproduce` would), else its result is in
  `workdir`. Estimates are the cost model's, and scaled by the ledger's measured pace.
  """
  runs = plan(paper)
  records = ledger.read_records(paper.ledger, runs) if paper.ledger else {}
  pace = ledger.pace(records.values())
  mine = shard_runs(paper, runs)
  lines = [f"Scale {paper.scale}{_shard_text(paper)}: {len(mine)} of the plan's {len(runs)} runs "
           f"(pace measured/estimated {pace:.2f} from {len(records)} records)",
           "| run | stage | estimated | state |", "| --- | --- | --- | --- |"]
  todo = 0.0
  for run in mine:
    if run.name in records:
      state = "recorded"
    elif workdir and run.done(workdir):
      state = "finished in the workdir"
    else:
      state = "to run"
      todo += cost_seconds(run, workdir) if workdir else run.estimate_seconds()
    lines.append(f"| {run.name} | {run.stage} | {files.format_seconds(run.estimate_seconds())} | "
                 f"{state} |")
  total = sum(r.estimate_seconds() for r in mine)
  lines.append(f"Estimated: {files.format_seconds(total)} for these runs, "
               f"{files.format_seconds(todo)} of it to run ({files.format_seconds(todo * pace)} "
               "at the measured pace).")
  return "\n".join(lines)


def reproduce(paper, workdir):
  """Runs every unfinished run of the plan (of this shard, within --max_hours), then the report.

  Args:
    paper: PaperConfig.
    workdir: folder of the whole reproduction; created if missing.

  Returns:
    The results dict written to <workdir>/report/results.json; or, when this call ends before
    every run of the plan is finished (--max_hours, or other shards' runs missing from the
    ledger), {'remaining': [run names], 'estimated_seconds': ...} without a report.
  """
  runs = plan(paper)
  files.prepare(workdir)
  tf.config.experimental.enable_op_determinism()
  with files.lock(workdir, "binaries.reproduce"):
    _check_plan(paper, runs, workdir)
    timing_path = os.path.join(workdir, "timing.json")
    timing = files.read_json(timing_path, {})
    records = ledger.read_records(paper.ledger, runs) if paper.ledger else {}
    done = (lambda r: r.name in records) if paper.ledger else (lambda r: r.done(workdir))
    mine = shard_runs(paper, runs)
    todo = [r for r in mine if not done(r)]
    pace = ledger.pace(records.values())
    logging.info("Scale %s%s: %d runs, %d finished already, %d to run (estimated %s%s).",
                 paper.scale, _shard_text(paper), len(mine), len(mine) - len(todo), len(todo),
                 files.format_seconds(sum(cost_seconds(r, workdir) for r in todo)),
                 f"; {files.format_seconds(pace * sum(cost_seconds(r, workdir) for r in todo))} "
                 f"at the pace of the ledger's records, x{pace:.2f}" if records else "")
    progress = Progress(workdir, runs, pace)
    budget = paper.max_hours * 3600.0
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    current, stopped = None, []
    try:
      for k, run in enumerate(todo):
        current = run
        index = runs.index(run)
        estimate = cost_seconds(run, workdir)
        if budget and time.time() - progress.began + estimate * progress.pace() > budget:
          stopped = todo[k:]
          break
        progress.show(index, run, todo[k:], f"running (estimated {files.format_seconds(estimate)})")
        began = time.time()
        resumed = os.path.exists(run.folder(workdir))
        clock = RunClock(timing_path, timing, run.name)
        try:
          if not run.done(workdir):  # with a ledger: finished here but not recorded yet
            execute(run, workdir)
        except UsageError as e:
          raise UsageError(f"{run.name} ({run.flagfile}): {e}") from None
        finally:
          clock.stop()
        if paper.ledger:
          ledger.write_record(paper.ledger, make_record(run, paper, workdir, timing[run.name]))
        progress.finished(estimate, time.time() - began, resumed)
        progress.show(index, run, todo[k + 1:],
                      f"finished in {files.format_seconds(time.time() - began)}")
    except (KeyboardInterrupt, _Terminated):
      raise UsageError(f"Interrupted during {current.name if current else 'set-up'}; finished runs "
                       f"are kept in {workdir}" + (f" and {paper.ledger}" if paper.ledger else "") +
                       ". Run the same command again to continue.") from None
    finally:
      signal.signal(signal.SIGTERM, previous)
    if stopped:
      return _stop(workdir, progress, stopped,
                   f"--max_hours={paper.max_hours:g} would be exceeded by {stopped[0].name}")
    if paper.ledger:
      records = ledger.read_records(paper.ledger, runs)  # with other shards' records
    else:  # every run of this workdir, unless --stages left some out
      records = {r.name: make_record(r, paper, workdir, timing.get(r.name), code={})
                 for r in runs if r.done(workdir)}
    missing = [r for r in runs if r.name not in records]
    if missing:
      others = "other shards" + (" or stages" if paper.stages.strip() else "")
      where = "in the ledger" if paper.ledger else "finished in this workdir"
      return _stop(workdir, progress, missing,
                   f"this shard's runs are finished; {len(missing)} runs of {others} are not "
                   f"{where} yet", other_shards=True)
    results = report.write_report(workdir, paper, runs, records)
    files.write_json(progress.path, {"state": "finished", "num_runs": len(runs),
                                     "elapsed_seconds": round(time.time() - progress.began, 1),
                                     "eta_seconds": 0.0,
                                     "report": os.path.join(workdir, "report", "REPORT.md")})
    logging.info("All %d runs finished; report in %s (wall seconds per run: %s).", len(runs),
                 os.path.join(workdir, "report", "REPORT.md"),
                 paper.ledger or timing_path)
  return results


def _stop(workdir, progress, remaining, why, other_shards=False):
  """Ends a call cleanly before the plan is finished: logs what is left and its estimated time."""
  estimate = sum(cost_seconds(r, workdir) for r in remaining) * progress.pace()
  names = ", ".join(r.name for r in remaining[:5]) + (", ..." if len(remaining) > 5 else "")
  then = ("when every shard has finished, run the same command without --num_shards/"
          "--shard_index/--stages to write the report" if other_shards else
          "run the same command again to continue")
  logging.info("Stopped: %s. Left: %d run%s (%s), estimated %s; %s.", why, len(remaining),
               "" if len(remaining) == 1 else "s", names, files.format_seconds(estimate), then)
  files.write_json(progress.path, {"state": "stopped", "why": why, "num_runs": len(progress.runs),
                                   "elapsed_seconds": round(time.time() - progress.began, 1),
                                   "eta_seconds": round(estimate, 1),
                                   "remaining": [r.name for r in remaining]})
  return {"remaining": [r.name for r in remaining], "estimated_seconds": round(estimate, 1)}
