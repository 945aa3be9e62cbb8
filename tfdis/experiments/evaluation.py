"""Evaluate a trained run: ELBO, label preservation (LP) and style preservation (SP), with intervals.

The paper judges disentanglement by eye (Sec. 1, Figs. 1-6); this module measures it, for a
trained model μ_p and for its entangled counterpart μ'_p(y, z) = μ_p(y, T_y z) (Proposition 1,
`tfdis.model.entangled`), and draws their label x z grids side by side.

  ELBO  mean test-set ELBO (Eq. 1, nats), 95% normal interval over examples.
  LP    fraction of μ_p(y, z), z ~ N(0, I), that a digit classifier calls y; Wilson 95% interval
        over the decoded samples.
  SP    mean over Morpho-MNIST measurements and label pairs of the rank correlation across shared z
        (`tfdis.metrics.style_preservation`); percentile bootstrap 95% interval over the z columns.

The intervals are those of `tfdis.metrics.stats`. Beside raw SP each generator gets the style
scores of `tfdis.metrics.scores`: SP on correctly labelled samples, the null ΔSP against fresh
label-dependent rotations of z (interval over z columns and rotation draws), and whether style is
defined at all (not where LP is at chance); `binaries.evaluate` prints them. `calibrated` places
SP on correct samples on the real-digit scale of `tfdis.metrics.calibration` (MNIST only).

Untrained baseline: the same architecture measured at initialisation (`measure_untrained`), over
`untrained_inits` initialisations (seeds seed, seed + 1, ... of the run: the first is the trained
run's own starting point). An SP that an untrained network reaches is no evidence of what training
did; the reproduction report shows every SP claim beside it. Its intervals are 95% t intervals over
the initialisations (the unit resampled is the initialisation).

`evaluate_workdir` writes `evaluation.json` (keys `elbo`, `lp`, `sp` for the model, the same under
`entangled`, and `untrained`) and `grid_model.png`, `grid_entangled.png`, `grids.png` into the
workdir. `evaluate_generator` measures anyone's generator (a SavedModel, a .keras file or a folder
of grid images; `tfdis.metrics.generator`) the same way into `--output_dir`: `lp`, `sp` and, for
a generator, `reference` (the generator through T_y; `tfdis.metrics.scores`).
"""
import dataclasses
import os
import warnings

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfdis import grids
from tfdis import files
from tfdis.data import datasets
from tfdis.errors import UsageError
from tfdis.errors import check_integer_fields
from tfdis.metrics import calibration
from tfdis.metrics import classifier as classifier_lib
from tfdis.metrics import generator as generator_lib
from tfdis.metrics import scores
from tfdis.metrics import stats
from tfdis.model import entangled
from tfdis.model import transforms as transforms_lib
from tfdis.model import vae
from tfdis.training import vae_training


@dataclasses.dataclass
class EvaluationConfig:
  """What binaries.evaluate measures and how precisely."""
  transform: str = "rotation"
  transform_seed: int = 0
  num_z: int = 200
  lp_samples_per_class: int = 100
  num_bootstrap: int = 1000
  seed: int = 0
  elbo_examples: int = 0
  classifier_dir: str = ""
  classifier_epochs: int = 6
  classifier_steps_per_epoch: int = 0
  grid_columns: int = 20
  untrained_inits: int = 5
  # Anyone's generator instead of a --workdir run (tfdis.metrics.generator).
  generator: str = ""
  generator_signature: str = ""
  num_classes: int = 10
  dataset: str = "mnist"
  output_dir: str = ""
  # The SP calibration on real digits instead of a model (tfdis.metrics.calibration).
  calibrate: bool = False

  def validate(self):
    check_integer_fields(self)
    if self.transform not in ("rotation", "reflection"):
      raise UsageError(f"--transform={self.transform!r} is not rotation or reflection.")
    for name in ("num_z", "lp_samples_per_class", "num_bootstrap", "classifier_epochs",
                 "grid_columns", "num_classes"):
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    if self.num_z < 3:
      raise UsageError(f"--num_z={self.num_z} is too few for a rank correlation; use at least 3.")
    return self


def elbo_summary(per_example):
  """Mean with a 95% normal interval over examples, for a per-example array [N]."""
  mean, (low, high) = stats.normal_interval(per_example)
  return {"value": mean, "interval": [low, high]}


def measure_generator(generator, test_images, test_labels, classify, config):
  """ELBO, LP and SP of one generator (a ConditionalVAE or an EntangledModel).

  Returns:
    (dict with keys elbo, lp, sp, per-example ELBO array [N]).
  """
  # Not XLA: TFP's full-matrix KL of the entangled q' does not compile.
  terms = vae_training.elbo_per_example(generator, test_images, test_labels, 1000, config.seed,
                                 jit_compile=False)
  result = scores.lp_and_sp(generator.decode_mean, generator.num_classes, generator.latent_dim,
                            generator.image_shape, classify, config.num_z,
                            config.lp_samples_per_class, config.num_bootstrap, config.seed)
  result["elbo"] = dict(elbo_summary(terms["elbo"]), kl=float(terms["kl"].mean()),
                        log_likelihood=float(terms["log_likelihood"].mean()))
  return result, terms["elbo"]


def measure_untrained(train_config, image_shape, num_classes, classify, config):
  """LP and SP of `train_config`'s architecture, untrained, over `config.untrained_inits` inits.

  Initialisation k uses seed train_config.seed + k, drawn as training draws it; LP and SP are
  measured exactly as for the trained model (same z, same classifier).

  Returns:
    {"init_seeds": [...], "lp": {value, interval, per_init}, "sp": {value, interval, per_init,
    per_init_interval}, "style_per_init": [{sp_on_correct, null, style}]}: value is the mean over
    initialisations, interval its 95% t interval over them; an SP that is undefined for an
    initialisation (an output constant across z) is None there and left out of the mean. The
    style scores of each initialisation are those of `tfdis.metrics.scores` (None, with the
    reason, where its LP is at chance).
  """
  seeds = [train_config.seed + k for k in range(config.untrained_inits)]
  lps, sps, sp_intervals, styles = [], [], [], []
  for seed in seeds:
    keras.utils.set_random_seed(seed)
    model = vae.ConditionalVAE(**train_config.model_kwargs(image_shape, num_classes)).build_all()
    with warnings.catch_warnings():  # an untrained output may be constant across z: SP undefined
      warnings.simplefilter("ignore")
      scored = files.jsonable(scores.lp_and_sp(
          model.decode_mean, num_classes, model.latent_dim, image_shape, classify, config.num_z,
          config.lp_samples_per_class, config.num_bootstrap, config.seed))
    lps.append(float(scored["lp"]["value"]))
    sps.append(scored["sp"]["value"])
    sp_intervals.append(scored["sp"]["interval"] if sps[-1] is not None else [None, None])
    styles.append({"sp_on_correct": scored["sp_on_correct"], "null": scored["null"],
                   "style": scored["style"]})
  return {"init_seeds": seeds, "lp": dict(stats.mean_over_runs(lps), per_init=lps),
          "sp": dict(stats.mean_over_runs(sps), per_init=sps, per_init_interval=sp_intervals),
          "style_per_init": styles}


def save_grids(folder, decoders, num_classes, latent_dim, config):
  """grid_<name>.png (label x z, shared z seeded by config.seed) per decoder, and grids.png.

  Args:
    folder: where the PNGs go.
    decoders: {name: decode_mean(y, z)}, two of them: grids.png shows them side by side.
    num_classes, latent_dim: K, D.
    config: EvaluationConfig (seed, grid_columns).
  """
  z = np.random.default_rng([config.seed, 7]).standard_normal(
      (config.grid_columns, latent_dim)).astype(np.float32)
  tiles = {}
  for name, decode_mean in decoders.items():
    decode = lambda y, codes, d=decode_mean: np.asarray(d(tf.constant(y), tf.constant(codes)))
    tiles[name] = grids.tile(grids.label_z_grid(decode, num_classes, z))
    grids.save_png(tiles[name], os.path.join(folder, f"grid_{name}.png"))
  grids.save_png(grids.side_by_side(*tiles.values()), os.path.join(folder, "grids.png"))


def evaluate_generator(config):
  """Measures `config.generator` (anyone's generator, see tfdis.metrics.generator) into
  `config.output_dir`: evaluation.json (lp, sp, and for a generator the T_y reference) and the
  label x z grids (grid_model.png; with the reference, grid_reference.png and grids.png)."""
  config.validate()
  if not config.output_dir:
    raise UsageError("--output_dir is required with --generator; give a folder for "
                     "evaluation.json and the grids.")
  files.prepare(config.output_dir, flag="--output_dir")
  path = config.generator
  if not os.path.exists(path):
    raise UsageError(f"--generator={path} does not exist; give a SavedModel folder, a .keras file "
                     "or a folder of grid images.")
  datasets.check_name(config.dataset)
  expected_shape = tuple(datasets.info(config.dataset).image_shape)
  if generator_lib.is_grid_folder(path):
    grid = generator_lib.read_grid_folder(path)
    _check_image_shape(grid.shape[2:], expected_shape, path, config.dataset)
    classify, classifier_metadata = load_classifier(config.dataset, config)
    logging.info("Measuring the grid of %d labels x %d shared z in %s ...", grid.shape[0],
                 grid.shape[1], path)
    results = scores.score_grid(grid, classify, config.num_bootstrap, config.seed)
    grids.save_png(grids.tile(grid[:, :config.grid_columns]),
                   os.path.join(config.output_dir, "grid_model.png"))
  else:
    generator = generator_lib.load(path, config.num_classes, config.generator_signature)
    _check_image_shape(generator.image_shape, expected_shape, path, config.dataset)
    classify, classifier_metadata = load_classifier(config.dataset, config)
    logging.info("Measuring %s and its reference through T_y (%s) ...", generator.name,
                 config.transform)
    results = scores.score_generator(generator, classify, config.num_z,
                                     config.lp_samples_per_class, config.num_bootstrap,
                                     config.seed, config.transform, config.transform_seed)
    family = transforms_lib.by_name(config.transform, generator.num_classes, generator.latent_dim,
                                    config.transform_seed)
    save_grids(config.output_dir, {
        "model": generator.decode_mean,
        "reference": lambda y, z: generator.decode_mean(y, transforms_lib.apply(family, y, z))},
               generator.num_classes, generator.latent_dim, config)
  settings = dataclasses.asdict(config)
  if generator_lib.is_grid_folder(path):  # a grid has no z to draw, rotate or decode
    settings = {k: v for k, v in settings.items() if k not in _NOT_FOR_GRIDS}
  results = files.jsonable(dict(results, generator=os.path.abspath(path), dataset=config.dataset,
                                classifier=classifier_metadata, config=settings))
  add_calibrated(results, config.dataset)
  out = os.path.join(config.output_dir, "evaluation.json")
  files.write_json(out, results)
  logging.info("%s; written to %s", result_line(results), out)
  return results


def run_calibration(config):
  """Writes the SP calibration on real MNIST test digits (`tfdis.metrics.calibration.calibrate`,
  its default sizes) into `config.output_dir`: table.json, table.md and curve.png."""
  if not config.output_dir:
    raise UsageError("--output_dir is required with --calibrate; give the folder for table.json, "
                     "table.md and curve.png (the committed one is reports/calibration).")
  images, labels = datasets.load_arrays("mnist", "test")
  logging.info("Calibrating SP on real MNIST test digits ...")
  table = calibration.calibrate(images, labels, seed=config.seed)
  calibration.write_calibration(table, config.output_dir)
  return table


def add_calibrated(results, dataset, table=None):
  """Adds `calibrated` to every generator of `results` with style scores (the model, its
  entangled twin or reference, each untrained initialisation): where its SP on correct samples
  sits on the real-MNIST calibration (`calibration.placement`: sp, rho, where), None where its
  style scores are undefined or the data is not MNIST (the scale is MNIST digits')."""
  table = table if table is not None else calibration.read_table()
  parts = [results] + [results[k] for k in ("entangled", "reference") if results.get(k)]
  parts += (results.get("untrained") or {}).get("style_per_init", [])
  for part in parts:
    if "style" not in part:
      continue
    defined = part["style"]["defined"] and dataset == "mnist"
    part["calibrated"] = (calibration.placement(part["sp_on_correct"]["value"], table)
                          if defined else None)
  return results


# EvaluationConfig fields that measuring a grid folder does not read.
_NOT_FOR_GRIDS = ("calibrate", "transform", "transform_seed", "num_z", "lp_samples_per_class",
                  "elbo_examples", "untrained_inits", "generator_signature", "num_classes")


def result_line(results):
  """'LP v [lo, hi] | SP v [lo, hi] | reference SP v [lo, hi] (z through T_y)' of a summary."""
  def text(summary):
    return "{:.3f} [{:.3f}, {:.3f}]".format(summary["value"], *summary["interval"])
  line = f"LP {text(results['lp'])} | SP {text(results['sp'])}"
  if "reference" in results:
    line += (f" | reference SP {text(results['reference']['sp'])} (z through T_y, "
             f"{results['reference']['transform']})")
  return line


def _check_image_shape(shape, expected, path, dataset):
  if tuple(shape) != tuple(expected):
    raise generator_lib.GeneratorError(
        f"{path} makes images of shape {tuple(shape)}, but the {dataset} classifier that reads "
        f"them takes {tuple(expected)}; give the --dataset the generator was trained on.")


def load_classifier(dataset, config):
  """The cached digit classifier of `dataset` (trained on its real training split on first use)."""
  model, metadata = classifier_lib.load_or_train(
      dataset, cache_dir=config.classifier_dir or None, epochs=config.classifier_epochs,
      steps_per_epoch=config.classifier_steps_per_epoch or None)
  return (lambda images: classifier_lib.predict_labels(model, images)), metadata


def evaluate_workdir(workdir, config):
  """Measures the run in `workdir` and its entangled counterpart; writes evaluation.json and grids."""
  config.validate()
  model, train_config, step = vae_training.restore_model(workdir, with_step=True)
  test_images, test_labels = datasets.load_arrays(train_config.dataset, "test",
                                              train_config.tfds_dir or None)
  if config.elbo_examples:
    test_images, test_labels = test_images[:config.elbo_examples], test_labels[:config.elbo_examples]
  classify, classifier_metadata = load_classifier(train_config.dataset, config)
  transforms = transforms_lib.by_name(config.transform, model.num_classes, model.latent_dim,
                                      config.transform_seed)
  twin = entangled.EntangledModel(model, transforms)

  logging.info("Measuring the model ...")
  results, model_elbo = measure_generator(model, test_images, test_labels, classify, config)
  logging.info("Measuring its entangled counterpart (%s) ...", config.transform)
  results["entangled"], twin_elbo = measure_generator(twin, test_images, test_labels, classify,
                                                      config)
  results["entangled"]["max_abs_elbo_difference"] = float(np.abs(model_elbo - twin_elbo).max())
  if config.untrained_inits:
    logging.info("Measuring the same architecture untrained (%d initialisations) ...",
                 config.untrained_inits)
    results["untrained"] = measure_untrained(train_config, model.image_shape, model.num_classes,
                                             classify, config)
  results.update(steps=step, transform=config.transform, workdir=os.path.abspath(workdir),
                 dataset=train_config.dataset, classifier=classifier_metadata,
                 config=dataclasses.asdict(config))

  save_grids(workdir, {"model": model.decode_mean, "entangled": twin.decode_mean},
             model.num_classes, model.latent_dim, config)

  results = add_calibrated(files.jsonable(results), train_config.dataset)
  path = os.path.join(workdir, "evaluation.json")
  files.write_json(path, results)
  logging.info("ELBO %.2f | LP %.3f | SP %.3f [%s]; entangled SP %s; written to %s",
               results["elbo"]["value"], results["lp"]["value"],
               results["sp"]["value"] if results["sp"]["value"] is not None else float("nan"),
               results["sp"]["interval"], results["entangled"]["sp"]["value"], path)
  return results
