"""TrainConfig: everything that defines one training run of the conditional VAE (Sec. 1, Eq. 1).

One field per flag of binaries.train. `RESUMABLE_FIELDS` may change between a run and its
resumption (a run can be continued further, logged differently or on other devices); every other
field defines the model, the data or the numbers, and a workdir made with other values is refused.
"""
import dataclasses
import math
import os

from tfdis.data import datasets
from tfdis.errors import UsageError
from tfdis.errors import check_integer_fields
from tfdis.model import vae
from tfdis.training import steps

NUM_CLASSES = datasets.NUM_CLASSES
LATENT_TRANSFORMS = ("none", "rotation", "reflection")
# Fields that may change between a run and its resumption without changing the model.
RESUMABLE_FIELDS = ("num_steps", "log_every", "checkpoint_every", "strategy", "track_every",
                    "track_lp", "classifier_dir", "divergence_per_dim")


@dataclasses.dataclass
class TrainConfig:
  """Everything that defines a training run (the flags of binaries.train, one to one)."""
  dataset: str = "mnist"
  tfds_dir: str = ""
  architecture: str = "mlp"
  hidden_units: int = 512
  num_hidden_layers: int = 2
  latent_dim: int = 16
  likelihood: str = "bernoulli"
  encoder_uses_label: bool = True
  encoder_split: str = "none"
  decoder_split: str = "none"
  latent_transform: str = "none"
  transform_seed: int = 0
  batch_size: int = 128
  # Batches of batch_size / K examples of each label, grouped by label (tfdis.data.balanced); the
  # routed layers then run the balanced layout of kernels/routed.py.
  balanced_batches: bool = False
  num_steps: int = 10000
  learning_rate: float = 1e-3
  # adam or sgd (plain, no momentum): steps.OPTIMIZERS.
  optimizer: str = "adam"
  # Train on (255 x + u) / 256, u ~ U[0, 1) drawn afresh each step (steps.dequantize_batch); the
  # test ELBO then reads the test images dequantised once (steps.dequantize_test).
  dequantize: bool = False
  seed: int = 0
  strategy: str = "default"
  jit_compile: bool = True
  log_every: int = 500
  checkpoint_every: int = 2000
  eval_batch_size: int = 1000
  grid_columns: int = 20
  track_every: int = 0
  track_lp: bool = True
  classifier_dir: str = ""
  # A batch whose |ELBO| exceeds this many nats per data dimension (784 for MNIST) stops training
  # as diverged, with the last good checkpoint kept; 0 turns the check off (NaN still stops).
  divergence_per_dim: float = 100.0

  def validate(self):
    """Raises UsageError naming the first bad field and how to fix it."""
    positive = ("hidden_units", "num_hidden_layers", "latent_dim", "batch_size", "num_steps",
                "log_every", "checkpoint_every", "eval_batch_size", "grid_columns")
    for name in positive:
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    check_integer_fields(self)  # the rest of the integer kind: >= 0
    if self.latent_dim < 2:
      raise UsageError(f"--latent_dim={self.latent_dim} is too small: evaluation measures the "
                       "model against its entangled twin, whose random rotations T_y of z need "
                       "2 or more dimensions; give --latent_dim=2 or more.")
    self._check_memory()
    if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
      raise UsageError(f"--learning_rate={self.learning_rate} must be a positive finite number.")
    if not (self.divergence_per_dim >= 0 and math.isfinite(self.divergence_per_dim)):
      raise UsageError(f"--divergence_per_dim={self.divergence_per_dim} must be a finite number "
                       ">= 0 (0 turns the check off).")
    if self.likelihood not in vae.LIKELIHOODS:
      raise UsageError(f"--likelihood={self.likelihood!r} is not one of {vae.LIKELIHOODS}.")
    if self.latent_transform not in LATENT_TRANSFORMS:
      raise UsageError(f"--latent_transform={self.latent_transform!r} is not one of "
                       f"{LATENT_TRANSFORMS}.")
    if self.optimizer not in steps.OPTIMIZERS:
      raise UsageError(f"--optimizer={self.optimizer!r} is not one of {steps.OPTIMIZERS}.")
    if self.strategy not in steps.STRATEGIES:
      raise UsageError(f"--strategy={self.strategy!r} is not one of {steps.STRATEGIES}.")
    datasets.check_name(self.dataset)
    return self

  def memory_lower_bound(self):
    """({flag: bytes}, total bytes): what training surely needs, from the flags alone.

    Counts only the layers every architecture has (the encoder's Dense(h) -> Dense(2D) head, the
    decoder's Dense(D + K) -> Dense(h) input and an output of at least 28 x 28 values), the MLP's
    hidden h x h layers, at 16 bytes a parameter (float32 weights, gradients and Adam's two
    moments), and the z of one batch (mean, scale, sample); each byte is attributed to the flag
    that grows it, so a refusal can name the flag to lower.
    """
    h, d, n, k = self.hidden_units, self.latent_dim, self.num_hidden_layers, NUM_CLASSES
    pixels = 28 * 28
    hidden = 2 * (n - 1) * h * h + 2 * pixels * h if self.architecture == "mlp" else pixels * h
    parts = {"latent_dim": 16 * (3 * d * h) + 4 * 3 * d * max(self.batch_size,
                                                              self.eval_batch_size),
             "hidden_units": 16 * (hidden + k * h)}
    return parts, sum(parts.values())

  def _check_memory(self):
    """Refuses a model that cannot fit in this machine's memory, before anything is built."""
    parts, needed = self.memory_lower_bound()
    try:
      available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not known on this system: no check
      return
    if needed > available:
      flag = max(parts, key=parts.get)
      raise UsageError(f"--latent_dim={self.latent_dim}, --hidden_units={self.hidden_units}: "
                       f"training needs at least {needed / 2**30:,.1f} GiB (weights, gradients, "
                       f"Adam's moments and activations), more than this machine's "
                       f"{available / 2**30:,.1f} GiB of memory; lower --{flag}.")

  def model_kwargs(self, image_shape, num_classes):
    """ConditionalVAE arguments of this config for data of `image_shape` with `num_classes`."""
    return dict(image_shape=image_shape, num_classes=num_classes, latent_dim=self.latent_dim,
                architecture=self.architecture, hidden_units=self.hidden_units,
                likelihood=self.likelihood, encoder_uses_label=self.encoder_uses_label,
                encoder_split=self.encoder_split, decoder_split=self.decoder_split,
                num_hidden_layers=self.num_hidden_layers,
                latent_transform=self.latent_transform, transform_seed=self.transform_seed)
