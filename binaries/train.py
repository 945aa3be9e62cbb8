"""Trains the conditional VAE and writes metrics, sample grids and a SavedModel.

  python -m binaries.train --flagfile=flags/shared.cfg --workdir=runs/shared

Re-running the same command resumes from the workdir's last checkpoint.
"""
from binaries import common  # first: it sets the TF log level before TensorFlow loads

from absl import app
from absl import flags
import tensorflow as tf

from binaries import flag_defs
from tfdis import files
from tfdis.training import config as config_lib
from tfdis.training import vae_training

flag_defs.define_flags("train")
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS, datasets_override=None):
  """Library seam for tests: the config from flags, trained and evaluated."""
  tf.config.experimental.enable_op_determinism()
  with files.lock(flags_obj.workdir, "binaries.train"):
    return vae_training.train_and_evaluate(
        flag_defs.config_from_flags(config_lib.TrainConfig, flags_obj), flags_obj.workdir,
        datasets_override)


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=common.parse_flags)
