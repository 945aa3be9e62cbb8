"""Reproduces the paper: every experiment in dependency order, then report/REPORT.md.

  python -m binaries.reproduce --flagfile=flags/paper.cfg --scale=quick --workdir=runs/paper

--scale: smoke (about a minute; checks the pipeline), quick (about 30 minutes on 2 CPU cores),
full (the paper's settings). Killed at any point, the same command continues where it stopped,
without redoing finished runs. Progress: the log, and <workdir>/progress.json (stage, run, ETA).
Writes <workdir>/report/REPORT.md, results.json and figures/; see tfdis.reproduce.

Over days and machines (docs/reproduce-the-paper.md):

  python -m binaries.reproduce --flagfile=flags/paper.cfg --scale=full --workdir=/tmp/paper \
      --ledger=reports/full/ledger [--num_shards=K --shard_index=i] [--max_hours=7.5] [--stages=competition] [--list_runs]

records each finished run in the ledger, skips recorded runs, stops cleanly within --max_hours,
and writes the report from the records once the ledger holds every run. --fit_cost_model refits
the cost model (tfdis/reproduce/cost_model.json) to the ledger's wall times.
"""
from binaries import common  # first: it sets the TF log level before TensorFlow loads

from absl import app
from absl import flags

from binaries import flag_defs
from tfdis.reproduce import plan
from tfdis.reproduce import runner
from tfdis.reproduce.config import PaperConfig

flag_defs.define_flags("reproduce")
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS):
  """Library seam for tests: the config from flags, reproduced (or, --list_runs, listed;
  --fit_cost_model, the cost model fitted to the ledger, then listed)."""
  paper = flag_defs.config_from_flags(PaperConfig, flags_obj)
  if paper.fit_cost_model:
    print(runner.fit_cost_model(paper))
  if paper.list_runs or paper.fit_cost_model:
    print(plan.listing(paper, flags_obj.workdir or ""))
    return None
  return runner.reproduce(paper, flags_obj.workdir)


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=common.parse_flags)
