"""Reproduces the paper: every experiment in dependency order, then report/REPORT.md.

  python -m binaries.reproduce --flagfile=flags/paper.cfg --scale=quick --workdir=runs/paper

--scale: smoke (about a minute; checks the pipeline), quick (about 30 minutes on 2 CPU cores),
full (the paper's settings). Killed at any point, the same command continues where it stopped,
without redoing finished runs. Progress: the log, and <workdir>/progress.json (stage, run, ETA).
Writes <workdir>/report/REPORT.md, results.json and figures/; see tfdis.reproduce.
"""
from binaries import common  # pylint: disable=unused-import  (sets TF log level first)

from absl import app
from absl import flags

from tfdis import flag_defs
from tfdis.reproduce import plan as reproduce

_HELP = {
    "scale": "smoke | quick | full (required): how long to train; see tfdis.reproduce.",
    "shared": "Flagfile of the shared model (Fig. 1; the regression's teacher).",
    "split": "Comma list of flagfiles of the split models (Fig. 2).",
    "appendix_a": "Comma list of flagfiles of the layer-split models (Fig. 4).",
    "regression": "Comma list of binaries.regress flagfiles (Fig. 3).",
    "competition": "Comma list of binaries.compete flagfiles (Figs. 5, 6; all variants run).",
    "competition_seeds": "Seeds per competition condition (0: the scale's, full 20, quick 2).",
    "classifier_dir": "Cache of the LP digit classifier (default ~/.cache/tfdis/classifiers).",
}
flag_defs.define_fields(reproduce.PaperConfig, _HELP)
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS):
  """Library seam for tests: the config from flags, reproduced."""
  del flags_obj
  return reproduce.reproduce(flag_defs.config_from_flags(reproduce.PaperConfig), FLAGS.workdir)


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main)
