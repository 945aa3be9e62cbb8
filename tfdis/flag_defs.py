"""Flags shared by the binaries, defined once so binaries imported into one process never clash.

Each TrainConfig field is one flag of the same name; `train_config_from_flags` reads them back.
"""
import dataclasses

from absl import flags

from tfdis.experiments import evaluation
from tfdis.model import vae as model_lib
from tfdis.model import networks
from tfdis.training import config as config_lib
from tfdis.training import steps

FLAGS = flags.FLAGS

_HELP = {
    "dataset": "mnist | fashion_mnist | svhn_cropped | idx:<folder of MNIST-style IDX files>.",
    "tfds_dir": "Where TFDS prepares datasets (default ~/.cache/tfdis/tensorflow_datasets).",
    "architecture": "Encoder/decoder architecture.",
    "hidden_units": "Width of the hidden dense layers.",
    "num_hidden_layers": "Hidden dense layers of each MLP network (the conv nets ignore it).",
    "latent_dim": "Dimension D of z.",
    "likelihood": "p(x | y, z): Bernoulli on [0, 1] intensities or Gaussian.",
    "encoder_uses_label": "Feed one-hot y to the encoder (false: the paper's 'y masked').",
    "encoder_split": "Label-routed encoder layers: none, all, or indices counted from z (0 = head).",
    "decoder_split": "Label-routed decoder layers: none, all, or indices counted from z (0 = first).",
    "latent_transform": "App. B competition: the decoder reads T_y z (none, rotation, reflection).",
    "transform_seed": "Seed of the random rotations T_y.",
    "batch_size": "Global training batch size.",
    "num_steps": "Total optimisation steps (a resumed run continues up to this many).",
    "learning_rate": "Adam learning rate.",
    "seed": "Seed of initialisation, data order and sampling.",
    "strategy": "tf.distribute strategy: default, mirrored (all local devices), multi_worker.",
    "jit_compile": "XLA-compile the training step.",
    "log_every": "Steps between progress lines and TensorBoard scalars.",
    "checkpoint_every": "Steps between checkpoints.",
    "eval_batch_size": "Batch size for the test-set ELBO.",
    "grid_columns": "Shared z columns in samples.png.",
}
_ENUMS = {"architecture": networks.ARCHITECTURES, "likelihood": model_lib.LIKELIHOODS,
          "strategy": steps.STRATEGIES, "latent_transform": config_lib.LATENT_TRANSFORMS}


_EVALUATION_HELP = {
    "transform": "T_y of the entangled counterpart: rotation (random, seeded) or reflection.",
    "transform_seed": "Seed of the random rotations.",
    "num_z": "Shared z columns for SP (M).",
    "lp_samples_per_class": "Samples per label for LP.",
    "num_bootstrap": "Bootstrap resamples for the SP interval.",
    "seed": "Seed of the ELBO noise and of the z draws.",
    "elbo_examples": "Test examples for the ELBO (0 = the whole test split).",
    "classifier_dir": "Cache of the LP digit classifier (default ~/.cache/tfdis/classifiers).",
    "classifier_epochs": "Epochs to train the LP classifier when it is not cached.",
    "classifier_steps_per_epoch": "Steps per classifier epoch (0 = the whole training split).",
    "grid_columns": "Shared z columns in the grids.",
}
_ENUMS["transform"] = ("rotation", "reflection", "same_rotation", "identity")


def define_fields(config_class, helps):
  """One flag per dataclass field; a name another binary defined already is shared, not redefined."""
  if "workdir" not in FLAGS:
    flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and results.")
  for field in dataclasses.fields(config_class):
    name, default, help_ = field.name, field.default, helps[field.name]
    if name in FLAGS:
      continue
    if name in _ENUMS:
      flags.DEFINE_enum(name, default, _ENUMS[name], help_)
    elif field.type is bool:
      flags.DEFINE_bool(name, default, help_)
    elif field.type is int:
      flags.DEFINE_integer(name, default, help_)
    elif field.type is float:
      flags.DEFINE_float(name, default, help_)
    else:
      flags.DEFINE_string(name, default, help_)


def config_from_flags(config_class):
  return config_class(**{f.name: getattr(FLAGS, f.name) for f in dataclasses.fields(config_class)})


def define_train_flags():
  """Defines --workdir and one flag per TrainConfig field (idempotent)."""
  define_fields(config_lib.TrainConfig, _HELP)


def train_config_from_flags():
  """TrainConfig from the parsed flags."""
  return config_from_flags(config_lib.TrainConfig)


def define_evaluation_flags():
  """Defines --workdir and one flag per EvaluationConfig field (idempotent)."""
  define_fields(evaluation.EvaluationConfig, _EVALUATION_HELP)


def evaluation_config_from_flags():
  """EvaluationConfig from the parsed flags."""
  return config_from_flags(evaluation.EvaluationConfig)
