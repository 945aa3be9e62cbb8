"""How the reproduction runs: resumably, with progress, signals and a time budget, then the report.

`reproduce` runs the plan's runs (tfdis.reproduce.plan) of this shard that are not finished yet,
one after the other, in dependency order, and writes the report (tfdis.reproduce.report) once
every run of the plan is finished.

Resuming: a run whose result file exists is skipped (`Run.done`); an unfinished one continues from
its own checkpoints (binaries.train, .regress and .compete all resume). Results are written whole
(temporary file, then rename) and last, so a run killed at any point is either finished or resumed.
`W/plan.json` records the settings of every run; a later call with other settings is refused
rather than mixing two plans in one folder. `W/progress.json` holds the stage, run and ETA while
running; `W/timing.json` the wall seconds of each run, summed over calls and rewritten every
minute while the run runs (`RunClock`), so a call killed without warning loses at most a minute.

When every run is finished, `report.write_report` writes W/report/REPORT.md, results.json and figures/,
from the runs' records (`tfdis.reproduce.ledger`, made from the runs' result files).

Over days and machines (--ledger, --num_shards, --max_hours, --stages): see tfdis.reproduce.plan.
"""
import os
import signal
import threading
import time

from absl import logging
import tensorflow as tf

from tfdis import files
from tfdis.errors import UsageError
from tfdis.experiments import competition
from tfdis.experiments import evaluation
from tfdis.experiments import regression
from tfdis.reproduce import cost
from tfdis.reproduce import figures
from tfdis.reproduce import ledger
from tfdis.reproduce import plan
from tfdis.reproduce import report
from tfdis.reproduce.config import STAGES
from tfdis.training import vae_training

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


def execute(run, workdir):
  """Runs (or continues) one run of the plan."""
  folder = run.folder(workdir)
  if run.kind == "train":
    if not os.path.exists(os.path.join(folder, "metrics.json")):
      vae_training.train_and_evaluate(run.config, folder)
    evaluation.evaluate_workdir(folder, run.evaluation)
  elif run.kind == "regression":
    teacher = os.path.join(workdir, "runs", run.teacher)
    if plan.teacher_missing(run, workdir):  # its record is in the ledger, its model is not here
      logging.info("%s: training its teacher %s again in this workdir (same settings and seed).",
                   run.name, run.teacher)
      vae_training.train_and_evaluate(run.teacher_run.config, teacher)
    regression.run_regression(run.config, teacher, folder)
  else:
    competition.run_competition(run.config, folder)


def run_result(run, folder):
  """What the report reads from a finished run's folder: its result files, without checkpoints.

  train: {evaluation, metrics}; regression: {regression}; competition: {winrate, typical:
  {condition: the typical seed's result}}.
  """
  read = lambda name: files.read_json(os.path.join(folder, name))
  if run.kind == "train":
    return {"evaluation": read("evaluation.json"), "metrics": read("metrics.json")}
  if run.kind == "regression":
    return {"regression": read("regression.json")}
  table = read("winrate.json")
  return {"winrate": table, "typical": {
      name: files.read_json(competition.result_path(folder, name, c["typical_seed"]))
      for name, c in table["conditions"].items()}}


def make_record(run, paper, workdir, wall_seconds=None, code=None):
  """The ledger record of a finished run of `workdir` (`tfdis.reproduce.ledger`)."""
  folder = run.folder(workdir)
  result = run_result(run, folder)
  return ledger.make_record(run, paper.scale, result, figures.run_figures(run, folder, result),
                            wall_seconds, code, host_rate=cost.host_rate())


class _Terminated(BaseException):
  """SIGTERM outside a training loop, raised like KeyboardInterrupt."""


def _raise_terminated(signum, frame):
  del signum, frame
  raise _Terminated()


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
  runs = plan.plan(paper)
  files.prepare(workdir)
  tf.config.experimental.enable_op_determinism()
  with files.lock(workdir, "binaries.reproduce"):
    _check_plan(paper, runs, workdir)
    timing_path = os.path.join(workdir, "timing.json")
    timing = files.read_json(timing_path, {})
    records = ledger.read_records(paper.ledger, runs) if paper.ledger else {}
    done = (lambda r: r.name in records) if paper.ledger else (lambda r: r.done(workdir))
    mine = plan.shard_runs(paper, runs)
    todo = [r for r in mine if not done(r)]
    pace = cost.pace(runs, records)
    left = sum(plan.cost_seconds(r, workdir) for r in todo)
    logging.info("Scale %s%s: %d runs, %d finished already, %d to run (estimated %s%s).",
                 paper.scale, plan.shard_text(paper), len(mine), len(mine) - len(todo), len(todo),
                 files.format_seconds(left), f"; {files.format_seconds(pace * left)} at the pace "
                 f"of the ledger's records, x{pace:.2f}" if records else "")
    progress = Progress(workdir, runs, pace)
    budget = paper.max_hours * 3600.0
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    current, stopped = None, []
    try:
      for k, run in enumerate(todo):
        current = run
        index = runs.index(run)
        estimate = plan.cost_seconds(run, workdir)
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
    return _report(paper, runs, workdir, timing, progress)


def _report(paper, runs, workdir, timing, progress):
  """The report, when every run of the plan is finished (here or in the ledger); else `_stop`."""
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
               paper.ledger or os.path.join(workdir, "timing.json"))
  return results


def _stop(workdir, progress, remaining, why, other_shards=False):
  """Ends a call cleanly before the plan is finished: logs what is left and its estimated time."""
  estimate = sum(plan.cost_seconds(r, workdir) for r in remaining) * progress.pace()
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


def fit_cost_model(paper, path=None):
  """Fits the cost model (`tfdis.reproduce.cost`) to the wall times of --ledger's records and
  writes it to `path` (default cost.MODEL_PATH, what the plan reads); returns a one-line summary.

  The reference rate is this host's (`cost.host_rate`): fit on the host the ledger ran on, or on
  records that carry their host's rate.
  """
  runs = plan.plan(paper)
  records = ledger.read_records(paper.ledger, runs)
  model = cost.fit(runs, records, cost.host_rate(), ledger_name=paper.ledger.rstrip("/"))
  written = os.path.relpath(cost.save(model, path or cost.MODEL_PATH))
  return (f"Cost model fitted to {model.records} records of {paper.ledger} at "
          f"{model.reference_rate_gflops:.0f} GFLOP/s, written to {written}: " +
          ", ".join(f"{k} {v:.4g}" for k, v in model.coefficients.items()))
