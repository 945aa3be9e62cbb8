"""The regression experiment of paper Sec. 3 (Fig. 3): disentangled vs entangled targets.

  python -m binaries.regress --flagfile=flags/regress.cfg --teacher=runs/shared \
      --workdir=runs/regress_rotation

Writes <workdir>/regression.json, curves.csv, regression.png and tensorboard/ (see
tfdis.regression). Re-running the same command skips the seeds already finished.
"""
from binaries import common  # pylint: disable=unused-import  (sets TF log level first)

from absl import app
from absl import flags
import tensorflow as tf

from tfdis import flag_defs
from tfdis.experiments import regression

_HELP = {
    "transform": "T_y of the entangled target: rotation, reflection, same_rotation (control), "
                 "identity (control).",
    "transform_seed": "Seed of the random rotations.",
    "encoder_split": "Label-routed encoder layers: none, all, or indices from z (0 = head).",
    "decoder_split": "Label-routed decoder layers: none, all, or indices from z (0 = first).",
    "num_seeds": "Seeds (initialisation and batch order) per pair; seeds are seed, seed+1, ...",
    "seed": "Seed of the z draws and the first training seed.",
    "num_steps": "Adam steps per network.",
    "batch_size": "Training batch size.",
    "learning_rate": "Adam learning rate.",
    "eval_every": "Steps between evaluations of the loss curves.",
    "log_evals": "Extra evaluations at log-spaced steps in [1, num_steps] (resolve the start).",
    "train_examples": "Training images used (0 = the whole training split).",
    "eval_examples": "Held-out (test split) images, and training images for the train curve.",
    "fraction": "Convergence is the first step that covers this fraction of L(0) - L_final.",
    "final_window": "L_final is the mean of this many last evaluations.",
    "log_every": "Steps between progress lines.",
    "jit_compile": "XLA-compile the training and evaluation steps.",
}
if "teacher" not in flags.FLAGS:
  flags.DEFINE_string("teacher", None, "Workdir of the trained VAE whose q*(z | x, y) gives z.")
flag_defs.define_fields(regression.RegressionConfig, _HELP)
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS):
  """Library seam for tests: the config from flags, run."""
  tf.config.experimental.enable_op_determinism()
  return regression.run_regression(flag_defs.config_from_flags(regression.RegressionConfig),
                                   flags_obj.teacher, flags_obj.workdir)


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main)
