"""Measures a trained run: ELBO, label preservation and style preservation, model vs entangled.

  python -m binaries.evaluate --workdir=runs/shared [--transform=rotation|reflection]

Writes <workdir>/evaluation.json and grid_model.png, grid_entangled.png, grids.png.
"""
from binaries import common  # pylint: disable=unused-import  (sets TF log level first)

from absl import app
from absl import flags

from tfdis.experiments import evaluation
from tfdis import flag_defs

flag_defs.define_flags("evaluate")
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS):
  """Library seam for tests: the config from flags, evaluated."""
  return evaluation.evaluate_workdir(
      flags_obj.workdir, flag_defs.config_from_flags(evaluation.EvaluationConfig, flags_obj))


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main)
