"""Evaluate a trained run: ELBO, label preservation (LP) and style preservation (SP), with intervals.

The paper judges disentanglement by eye (Sec. 1, Figs. 1-6); this module measures it, for a
trained model μ_p and for its entangled counterpart μ'_p(y, z) = μ_p(y, T_y z) (Proposition 1,
`tfdis.entangled`), and draws their label x z grids side by side.

  ELBO  mean test-set ELBO (Eq. 1, nats), 95% normal interval over examples.
  LP    fraction of μ_p(y, z), z ~ N(0, I), that a digit classifier calls y; Wilson 95% interval.
  SP    mean over Morpho-MNIST measurements and label pairs of the rank correlation across shared z
        (`tfdis.style_preservation`); percentile bootstrap 95% interval over z.

`evaluate_workdir` writes `evaluation.json` (keys `elbo`, `lp`, `sp` for the model and the same
under `entangled`) and `grid_model.png`, `grid_entangled.png`, `grids.png` into the workdir.
"""
import dataclasses
import json
import math
import os

from absl import logging
import numpy as np
import tensorflow as tf

from tfdis.metrics import classifier as classifier_lib
from tfdis.data import datasets as data
from tfdis.model import entangled
from tfdis import grids
from tfdis.metrics import label_preservation
from tfdis.metrics import morphometrics
from tfdis.metrics import style_preservation
from tfdis.training import vae_training
from tfdis.model import transforms as transforms_lib
from tfdis.errors import UsageError


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

  def validate(self):
    if self.transform not in ("rotation", "reflection"):
      raise UsageError(f"--transform={self.transform!r} is not rotation or reflection.")
    for name in ("num_z", "lp_samples_per_class", "num_bootstrap", "classifier_epochs",
                 "grid_columns"):
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    if self.num_z < 3:
      raise UsageError(f"--num_z={self.num_z} is too few for a rank correlation; use at least 3.")
    return self


def _finite_or_none(x):
  x = float(x)
  return x if math.isfinite(x) else None


def _jsonable(obj):
  if isinstance(obj, dict):
    return {k: _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return _jsonable(obj.tolist())
  if isinstance(obj, (float, np.floating)):
    return _finite_or_none(obj)
  if isinstance(obj, np.integer):
    return int(obj)
  return obj


def elbo_summary(per_example):
  """Mean with a 95% normal interval over examples, for a per-example array [N]."""
  per_example = np.asarray(per_example, np.float64)
  mean = per_example.mean()
  half = 1.959964 * per_example.std(ddof=1) / math.sqrt(len(per_example)) if len(
      per_example) > 1 else float("nan")
  return {"value": mean, "interval": [mean - half, mean + half]}


def measurement_names(image_shape):
  """The style measurements for images of `image_shape`: Morpho-MNIST's, plus colour statistics
  (contrast, foreground and background RGB means) for colour data such as SVHN."""
  names = morphometrics.MEASUREMENTS
  if image_shape[-1] == 3:
    names += morphometrics.COLOUR_MEASUREMENTS
  return names


def measure_generator(generator, test_images, test_labels, classify, config):
  """ELBO, LP and SP of one generator (a ConditionalVAE or an EntangledModel).

  Returns:
    (dict with keys elbo, lp, sp, per-example ELBO array [N]).
  """
  # Not XLA: TFP's full-matrix KL of the entangled q' does not compile.
  terms = vae_training.elbo_per_example(generator, test_images, test_labels, 1000, config.seed,
                                        jit_compile=False)
  lp = label_preservation.compute_label_preservation(
      generator.decode_mean, classify, generator.num_classes, config.lp_samples_per_class,
      generator.latent_dim, seed=config.seed + 1)
  sp = style_preservation.compute_style_preservation(
      generator.decode_mean, generator.num_classes, config.num_z, generator.latent_dim,
      seed=config.seed + 2, names=measurement_names(generator.image_shape),
      num_bootstrap=config.num_bootstrap)
  result = {
      "elbo": dict(elbo_summary(terms["elbo"]), kl=float(terms["kl"].mean()),
                   log_likelihood=float(terms["log_likelihood"].mean())),
      "lp": {"value": lp.value, "interval": list(lp.interval), "per_class": lp.per_class,
             "per_class_interval": lp.per_class_interval},
      "sp": {"value": sp.value, "interval": list(sp.interval),
             "per_measurement": {name: {"value": v, "interval": list(iv)} for name, v, iv in zip(
                 sp.names, sp.per_measurement, sp.per_measurement_interval)},
             "pair_matrix": sp.pair_matrix, "degenerate": sp.degenerate,
             "degenerate_entries": [list(e) for e in sp.degenerate_entries],
             "num_z": sp.num_z},
  }
  return result, terms["elbo"]


def load_classifier(dataset, config):
  """The cached digit classifier of `dataset` (trained on its real training split on first use)."""
  model, metadata = classifier_lib.load_or_train(
      dataset, cache_dir=config.classifier_dir or None, epochs=config.classifier_epochs,
      steps_per_epoch=config.classifier_steps_per_epoch or None)
  return (lambda images: classifier_lib.predict_labels(model, images)), metadata


def evaluate_workdir(workdir, config):
  """Measures the run in `workdir` and its entangled counterpart; writes evaluation.json and grids."""
  config.validate()
  model, train_config = vae_training.restore_model(workdir)
  test_images, test_labels = data.load_arrays(train_config.dataset, "test",
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
  results.update(transform=config.transform, workdir=os.path.abspath(workdir),
                 dataset=train_config.dataset, classifier=classifier_metadata,
                 config=dataclasses.asdict(config))

  z = np.random.default_rng([config.seed, 7]).standard_normal(
      (config.grid_columns, model.latent_dim)).astype(np.float32)
  tiles = {}
  for name, generator in (("model", model), ("entangled", twin)):
    decode = lambda y, codes, g=generator: g.decode_mean(tf.constant(y), tf.constant(codes)).numpy()
    tiles[name] = grids.tile(grids.label_z_grid(decode, model.num_classes, z))
    grids.save_png(tiles[name], os.path.join(workdir, f"grid_{name}.png"))
  grids.save_png(grids.side_by_side(tiles["model"], tiles["entangled"]),
                 os.path.join(workdir, "grids.png"))

  results = _jsonable(results)
  path = os.path.join(workdir, "evaluation.json")
  with open(path + ".tmp", "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(path + ".tmp", path)
  logging.info("ELBO %.2f | LP %.3f | SP %.3f [%s]; entangled SP %s; written to %s",
               results["elbo"]["value"], results["lp"]["value"],
               results["sp"]["value"] if results["sp"]["value"] is not None else float("nan"),
               results["sp"]["interval"], results["entangled"]["sp"]["value"], path)
  return results
