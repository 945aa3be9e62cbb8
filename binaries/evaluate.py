"""Measures a trained run: ELBO, label preservation and style preservation, model vs entangled.

  python -m binaries.evaluate --workdir=runs/shared [--transform=rotation|reflection]
  python -m binaries.evaluate --generator=<SavedModel | .keras | grid folder> --output_dir=<dir>
  python -m binaries.evaluate --calibrate --output_dir=reports/calibration

Writes <workdir>/evaluation.json and grid_model.png, grid_entangled.png, grids.png; with
--generator (anyone's generator, tfdis.metrics.generator), the same into --output_dir. Prints, per
generator, LP and raw SP with their intervals, SP on correctly labelled samples, ΔSP against fresh
label-dependent rotations of z and where SP sits on the real-digit calibration
(reports/calibration), or why its style scores are undefined (LP at chance, too few correct
columns).
"""
from binaries import common  # first: it sets the TF log level before TensorFlow loads

from absl import app
from absl import flags

from tfdis.experiments import evaluation
from binaries import flag_defs
from tfdis import files
from tfdis.errors import UsageError
from tfdis.metrics import calibration
from tfdis.metrics import scores

flag_defs.define_flags("evaluate")
FLAGS = flags.FLAGS


def print_summary(results):
  """Prints LP, raw SP, SP on correct samples, ΔSP and the calibrated scale of every generator
  evaluated, or why its style scores are undefined."""
  parts = [("model", results)]
  for key in ("entangled", "reference"):
    if results.get(key):
      parts.append((key, results[key]))
  scale = calibration.locate_text if results.get("dataset", "mnist") == "mnist" else None
  for name, part in parts:
    print("\n".join(scores.summary_lines(part, name, scale)))
  untrained = results.get("untrained")
  if untrained:
    for seed, lp, sp, interval, style in zip(
        untrained["init_seeds"], untrained["lp"]["per_init"], untrained["sp"]["per_init"],
        untrained["sp"]["per_init_interval"], untrained["style_per_init"]):
      sp = {"value": sp, "interval": interval, "num_z": style["sp_on_correct"]["num_z"]}
      print("\n".join(scores.summary_lines(dict(style, lp={"value": lp}, sp=sp),
                                           f"untrained (init seed {seed})")))


def run(flags_obj=FLAGS):
  """Library seam for tests: the config from flags, evaluated, its summary printed."""
  config = flag_defs.config_from_flags(evaluation.EvaluationConfig, flags_obj)
  if config.calibrate:
    table = evaluation.run_calibration(config)
    print(calibration.markdown(table), end="")
    return table
  if config.generator:
    if flags_obj.workdir:
      raise UsageError("Give --workdir (a tfdis run) or --generator (anyone's generator, written "
                       "to --output_dir), not both.")
    with files.lock(config.output_dir, "binaries.evaluate", flag="--output_dir"):
      results = evaluation.evaluate_generator(config)
  else:
    with files.lock(flags_obj.workdir, "binaries.evaluate", create=False):
      results = evaluation.evaluate_workdir(flags_obj.workdir, config)
  print_summary(results)
  return results


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=common.parse_flags)
