"""The regression experiment of paper Sec. 3 (Fig. 3): disentangled vs entangled targets.

  python -m binaries.regress --flagfile=flags/regress.cfg --teacher=runs/shared \
      --workdir=runs/regress_rotation

Writes <workdir>/regression.json, curves.csv, regression.png and tensorboard/ (see
tfdis.regression). Re-running the same command skips the seeds already finished.
"""
from binaries import common  # first: it sets the TF log level before TensorFlow loads

from absl import app
from absl import flags
import tensorflow as tf

from binaries import flag_defs
from tfdis import files
from tfdis.experiments import regression

flag_defs.define_flags("regress")
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS):
  """Library seam for tests: the config from flags, run."""
  tf.config.experimental.enable_op_determinism()
  with files.lock(flags_obj.workdir, "binaries.regress"):
    return regression.run_regression(
        flag_defs.config_from_flags(regression.RegressionConfig, flags_obj), flags_obj.teacher,
        flags_obj.workdir)


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=common.parse_flags)
