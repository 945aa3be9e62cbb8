"""The results ledger of a reproduction: one small, self-describing record per finished run.

`binaries.reproduce --ledger=L` writes, as each run of the plan (`tfdis.reproduce.plan`) finishes,
`L/<run name>.json` (e.g. `L/appendix_a/encoder_split_decoder_l0.json`):

```none
record_version     RECORD_VERSION of the code that wrote it (what makes records compatible)
name, run          the run's name and its settings (Run.describe: stage, kind, flagfile, teacher,
                   config, evaluation config) -- what plan.json holds for it
scale, seed, condition, teacher
code               git commit (and whether the tree had changes) of the code that ran it; for
                   information only
host, finished_at  the machine and the UTC time the record was written
host_rate_gflops   the machine's single-core matmul rate (`cost.host_rate`), which the cost model
                   normalises wall times by; absent from records written before it existed
threads            the process's TensorFlow threads (TF_NUM_INTRAOP_THREADS and
                   TF_NUM_INTEROP_THREADS, None when unset: TF's default) and os.cpu_count();
                   results agree bit for bit only between equal thread settings
wall_seconds       the run's wall time (summed over the calls that ran it in one workdir)
estimated_seconds  the plan's cost model for it (records calibrate --max_hours: `pace`)
result             the run's result files without checkpoints (`runner.run_result`): train:
                   evaluation.json and metrics.json; regression: regression.json; competition:
                   winrate.json and its typical seeds' results
figures            the images the report draws from this run (`figures.run_figures`), PNG in
                   base64; only the runs the report shows carry any
```

The report is built from the records alone (`report.write_report`), so shards on other machines,
or the same machine on another day with a fresh workdir, fill one ledger and report as one
process would. A run whose record is there is skipped; deleting a record re-runs exactly that run.

Compatibility (`read_records`): a record is used only when its record_version is this code's
RECORD_VERSION and its settings are the plan's run's (the plan.json comparison: a config field
added to the library since counts as its default). The git commit is not compared: a ledger is
filled over days of commits, and RECORD_VERSION is raised whenever a change alters what a record's
numbers mean (a metric, a test, the record layout). Anything else is refused with one line naming
the file: records are never mixed in silently.

Records are written whole (`workdir.write_json`: a temporary file, then a rename) under distinct
names, and no file is shared between writers, so any number of processes can fill one folder.
"""
import base64
import collections
import dataclasses
import datetime
import json
import os
import platform
import re
import subprocess

from tfdis import files
from tfdis.errors import UsageError

RECORD_VERSION = 1
SUFFIX = ".json"


def record_path(ledger, name):
  """The record file of run `name` (names may hold '/': records mirror runs/)."""
  return os.path.join(ledger, name + SUFFIX)


def differences(saved, run):
  """Names of what differs between a run description `saved` (plan.json, a record) and `run`.

  A config field the description lacks (added to the library after it was written) counts as its
  default, so upgrading the library does not orphan a run made with the same flags; except where
  the config class's ABSENT_FIELD_VALUES says what such runs were made with. [] when alike.
  """
  mine = json.loads(json.dumps(run.describe()))
  if saved is None:
    return ["everything (no description)"]
  if set(saved) != set(mine):
    return sorted(set(saved) ^ set(mine))
  differ = []
  for key in mine:
    if key in ("config", "evaluation") and mine[key] is not None and saved[key] is not None:
      obj = run.config if key == "config" else run.evaluation
      defaults = json.loads(json.dumps(dict(dataclasses.asdict(type(obj)()),
                                            **getattr(type(obj), "ABSENT_FIELD_VALUES", {}))))
      differ += [f"{key}.{f}" for f in files.differing_fields(saved[key], mine[key],
                                                              defaults=defaults)]
    elif saved[key] != mine[key]:
      differ.append(key)
  return differ


def git_commit():
  """{commit, changed}: the project's git HEAD and whether its tracked files differ from it.

  Outside a git checkout (a snapshot made by `git archive`, how long runs are started), the
  commit `git archive` wrote into tfdis/ARCHIVE_COMMIT (.gitattributes: export-subst), with
  changed None (unknown); "unknown" when neither is there.
  """
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  git = lambda *args: subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                                     timeout=30, check=False)
  try:
    head = git("rev-parse", "--show-toplevel", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
  except (OSError, subprocess.SubprocessError):
    head = None
  lines = head.stdout.split() if head is not None and head.returncode == 0 else []
  if len(lines) == 2 and os.path.realpath(lines[0]) == os.path.realpath(root):
    return {"commit": lines[1], "changed": bool(status.stdout.strip())}
  try:
    with open(os.path.join(root, "tfdis", "ARCHIVE_COMMIT")) as f:
      stamp = f.read().strip()
  except OSError:
    stamp = ""
  if re.fullmatch(r"[0-9a-f]{40}", stamp):
    return {"commit": stamp, "changed": None}
  return {"commit": "unknown", "changed": None}


def threads():
  """The TF thread settings this process runs with (see the module docstring)."""
  return {"intra_op": os.environ.get("TF_NUM_INTRAOP_THREADS"),
          "inter_op": os.environ.get("TF_NUM_INTEROP_THREADS"), "cpus": os.cpu_count()}


def make_record(run, scale, result, figures, wall_seconds=None, code=None, host_rate=None):
  """The record of a finished run (see the module docstring).

  Args:
    run: tfdis.reproduce.plan.Run.
    scale: the plan's --scale.
    result: runner.run_result(run, folder).
    figures: figures.run_figures(run, folder, result): {key: PNG bytes}.
    wall_seconds: the run's wall time, if known.
    code: git_commit() (computed when None).
    host_rate: the machine's matmul rate in GFLOP/s (`cost.host_rate`), if measured.
  """
  return {
      "record_version": RECORD_VERSION, "name": run.name, "run": run.describe(), "scale": scale,
      "seed": run.config.seed, "condition": run.condition, "teacher": run.teacher,
      "code": git_commit() if code is None else code, "host": platform.node(),
      "threads": threads(), "host_rate_gflops": host_rate and round(host_rate, 1),
      "finished_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
      "wall_seconds": wall_seconds, "estimated_seconds": round(run.estimate_seconds(), 1),
      "result": result,
      "figures": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(figures.items())}}


def figure_bytes(record, key):
  """The PNG bytes of figure `key` of a record."""
  return base64.b64decode(record["figures"][key])


def write_record(ledger, record):
  """Writes `record` whole into the ledger; returns its path."""
  path = record_path(ledger, record["name"])
  files.write_json(path, record)
  return path


def record_files(ledger):
  """{run name: path} of every record in the folder (temporary files of a killed writer aside)."""
  found = {}
  for folder, _, names in os.walk(ledger):
    for name in names:
      if name.endswith(SUFFIX) and not name.endswith(".tmp" + SUFFIX):
        path = os.path.join(folder, name)
        found[os.path.relpath(path, ledger)[:-len(SUFFIX)].replace(os.sep, "/")] = path
  return found


def read_records(ledger, runs):
  """{run name: record} of the ledger's records, each checked against the plan's `runs`.

  Raises:
    UsageError naming the first record that another plan, other settings or another record
    version wrote, and the two ways out.
  """
  by_name = {r.name: r for r in runs}
  records = {}
  for name, path in sorted(record_files(ledger).items()):
    fix = "use another --ledger folder for this plan, or delete that record to run it again"
    record = files.read_json(path)
    if not isinstance(record, dict) or record.get("record_version") != RECORD_VERSION:
      version = record.get("record_version") if isinstance(record, dict) else None
      raise UsageError(f"{path} is a record of version {version}, not {RECORD_VERSION} (what "
                       f"this code writes: its numbers may mean something else); {fix}.")
    if name not in by_name or record.get("name") != name:
      raise UsageError(f"{path} records run {record.get('name')!r}, which this plan does not "
                       f"have (other flagfiles or --model_seeds?); {fix}.")
    differ = differences(record.get("run"), by_name[name])
    if differ:
      raise UsageError(f"{path} was made with other settings than this plan's {name} "
                       f"(differing: {', '.join(differ[:4])}); {fix}.")
    records[name] = record
  return records


def pace(records, default=1.0):
  """Measured over estimated wall time of `records` (the cost model's correction), in [0.25, 4].

  Records without a wall time are left out; with none, `default`.
  """
  pairs = [(r["wall_seconds"], r["estimated_seconds"]) for r in records
           if r.get("wall_seconds") and r.get("estimated_seconds")]
  if not pairs:
    return default
  return min(max(sum(w for w, _ in pairs) / sum(e for _, e in pairs), 0.25), 4.0)


def _threads_text(threads):
  if not threads:
    return "not recorded"
  intra, inter = threads.get("intra_op"), threads.get("inter_op")
  text = "TF default" if intra is None and inter is None else (
      f"intra-op {intra or 'default'}, inter-op {inter or 'default'}")
  return f"{text}, {threads.get('cpus')} CPUs"


def machine_time(runs, records):
  """What the runs took, from their records: total and per-stage wall time, hosts, threads.

  Wall time is a run's start to its record, summed over the calls that ran it (pauses and the
  time other processes held the CPU included); runs that shared a machine each count in full.
  A record without a wall time counts as a run but adds no seconds.
  """
  stages = {}
  for run in runs:
    record = records[run.name]
    row = stages.setdefault(run.stage, {"runs": 0, "wall_seconds": 0.0, "estimated_seconds": 0.0,
                                        "unknown_wall": 0})
    row["runs"] += 1
    row["estimated_seconds"] += record.get("estimated_seconds") or 0.0
    if record.get("wall_seconds") is None:
      row["unknown_wall"] += 1
    else:
      row["wall_seconds"] += record["wall_seconds"]
  hosts = collections.Counter(records[r.name].get("host") or "not recorded" for r in runs)
  threads = collections.Counter(_threads_text(records[r.name].get("threads")) for r in runs)
  return {
      "runs": len(runs),
      "wall_seconds": round(sum(r["wall_seconds"] for r in stages.values()), 1),
      "estimated_seconds": round(sum(r["estimated_seconds"] for r in stages.values()), 1),
      "stages": {k: dict(v, wall_seconds=round(v["wall_seconds"], 1),
                         estimated_seconds=round(v["estimated_seconds"], 1))
                 for k, v in stages.items()},
      "hosts": dict(sorted(hosts.items())),
      "threads": dict(sorted(threads.items())),
  }


MACHINE_TIME_HEADING = "## Machine time"


def machine_time_lines(spent):
  """The report's "Machine time" section (markdown lines) of `machine_time`'s dict."""
  ratio = lambda wall, estimate: f"{wall / estimate:.2f}" if estimate and wall else "n/a"
  listing = lambda counts: "; ".join(f"{k} ({n} runs)" for k, n in counts.items())
  unknown = sum(r["unknown_wall"] for r in spent["stages"].values())
  lines = [MACHINE_TIME_HEADING, "",
           f"Total: **{files.format_seconds(spent['wall_seconds'])}** of wall time over "
           f"{spent['runs']} runs ({spent['wall_seconds'] / 3600:.1f} h; the plan's cost model: "
           f"{files.format_seconds(spent['estimated_seconds'])}, measured / model "
           f"{ratio(spent['wall_seconds'], spent['estimated_seconds'])}). A run's wall time is "
           "the time from its start to its record, summed over the calls that ran it (pauses and "
           "time other processes held the CPU included); runs that shared a machine each count in "
           "full. Hosts: " + listing(spent["hosts"]) + ". Threads per process: " +
           listing(spent["threads"]) + "." +
           (f" Runs without a recorded wall time: {unknown}." if unknown else "") +
           " This section is the only part of the report that depends on the calls that made "
           "it; everything above is a function of the results alone.", "",
           "| stage | runs | wall time | cost model | measured / model |",
           "| --- | --- | --- | --- | --- |"]
  for stage, row in spent["stages"].items():
    lines.append(f"| {stage} | {row['runs']} | {files.format_seconds(row['wall_seconds'])} | "
                 f"{files.format_seconds(row['estimated_seconds'])} | "
                 f"{ratio(row['wall_seconds'], row['estimated_seconds'])} |")
  return lines
