"""Measures a trained run: ELBO, label preservation and style preservation, model vs entangled.

  python -m binaries.evaluate --workdir=runs/shared [--transform=rotation|reflection]
  python -m binaries.evaluate --generator=<SavedModel | .keras | grid folder> --output_dir=<dir>

Writes <workdir>/evaluation.json and grid_model.png, grid_entangled.png, grids.png; with
--generator (anyone's generator, tfdis.metrics.generator), the same into --output_dir.
"""
from binaries import common  # first: it sets the TF log level before TensorFlow loads

from absl import app
from absl import flags

from tfdis.experiments import evaluation
from binaries import flag_defs
from tfdis import files
from tfdis.errors import UsageError

flag_defs.define_flags("evaluate")
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS):
  """Library seam for tests: the config from flags, evaluated."""
  config = flag_defs.config_from_flags(evaluation.EvaluationConfig, flags_obj)
  if config.generator:
    if flags_obj.workdir:
      raise UsageError("Give --workdir (a tfdis run) or --generator (anyone's generator, written "
                       "to --output_dir), not both.")
    with files.lock(config.output_dir, "binaries.evaluate", flag="--output_dir"):
      return evaluation.evaluate_generator(config)
  with files.lock(flags_obj.workdir, "binaries.evaluate", create=False):
    return evaluation.evaluate_workdir(flags_obj.workdir, config)


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=common.parse_flags)
