"""SavedModel export with the serving signatures `encode(x, y)`, `decode(y, z)`, `sample(y)`.

A fresh process loads the export with plain `tf.saved_model.load(path)`; no tfdis import needed:

  loaded = tf.saved_model.load(path)
  loaded.signatures["decode"](y=labels, z=codes)["images"]      # μ_p(y, z)  [B, H, W, C]
  loaded.signatures["encode"](x=images, y=labels)["loc"]        # μ_q(x, y)  [B, D]
  loaded.signatures["sample"](y=labels)["images"]   # the generator's mean at z ~ N(0, I)

Every signature checks its inputs before the model reads them and raises
`tf.errors.InvalidArgumentError` naming the bad input: labels y outside [0, num_classes), codes z
that are NaN or inf, images x that are not finite or lie outside [0, 1].

`export_saved_model` writes into a sibling folder `path + ".tmp"` and swaps it in only once the save
has finished, so a failed export leaves an earlier export at `path` intact.
"""
import os
import shutil

import numpy as np
import tensorflow as tf

from tfdis.errors import UsageError
from tfdis.errors import write_failure


def _checked_labels(y, num_classes):
  """Returns labels y [B] int32, to be read only after they are checked to lie in [0, K)."""
  in_range = tf.reduce_all((y >= 0) & (y < num_classes))
  check = tf.debugging.Assert(in_range, [
      f"Labels y must be integers in [0, {num_classes}) (one per class of the exported model); "
      "got smallest and largest", tf.reduce_min(y), tf.reduce_max(y)])
  with tf.control_dependencies([check]):
    return tf.identity(y)


def _checked_codes(z):
  """Returns codes z [B, D], to be read only after they are checked to be finite."""
  return tf.debugging.assert_all_finite(
      z, "Codes z must be finite; replace NaN or inf entries (e.g. draw z from N(0, I))")


def _checked_images(x):
  """Returns images x [B, H, W, C], to be read only after they are checked to lie in [0, 1]."""
  # NaN fails both comparisons, ±inf one of them, so this also refuses non-finite pixels.
  in_range = tf.reduce_all((x >= 0.0) & (x <= 1.0))
  check = tf.debugging.Assert(in_range, [
      "Images x must be finite float32 in [0, 1] (e.g. divide uint8 pixels by 255); "
      "got smallest and largest", tf.reduce_min(x), tf.reduce_max(x)])
  with tf.control_dependencies([check]):
    return tf.identity(x)


class _ServingModule(tf.Module):
  """Holds the model's variables and the three serving functions."""

  def __init__(self, model):
    super().__init__()
    self.model = model
    h, w, c = model.image_shape
    d = model.latent_dim
    self.encode = tf.function(self._encode, autograph=False, input_signature=[
        tf.TensorSpec([None, h, w, c], tf.float32, name="x"),
        tf.TensorSpec([None], tf.int32, name="y")])
    self.decode = tf.function(self._decode, autograph=False, input_signature=[
        tf.TensorSpec([None], tf.int32, name="y"), tf.TensorSpec([None, d], tf.float32, name="z")])
    self.sample = tf.function(self._sample, autograph=False, input_signature=[
        tf.TensorSpec([None], tf.int32, name="y")])

  def _encode(self, x, y):
    x = _checked_images(x)
    y = _checked_labels(y, self.model.num_classes)
    q = self.model.encode(x, y)
    return {"loc": q.mean(), "scale": q.stddev()}

  def _decode(self, y, z):
    y = _checked_labels(y, self.model.num_classes)
    z = _checked_codes(z)
    return {"images": self.model.decode_mean(y, z)}

  def _sample(self, y):
    y = _checked_labels(y, self.model.num_classes)
    z = tf.random.normal([tf.shape(y)[0], self.model.latent_dim])
    return {"images": self.model.generator_mean(y, z), "z": z}


def _saved_model_bytes(module, signatures, weights):
  """The bytes the SavedModel of `module` takes, measured by writing it to memory (ram://).

  The graphs of the signatures are written beside the weights, so the weights alone would
  understate what a full disk must make room for; if even the in-memory write fails, the weights'
  size is the (lower) answer.
  """
  where = f"ram://tfdis_export_size_{os.getpid()}"
  try:
    tf.saved_model.save(module, where, signatures=signatures)
    return sum(tf.io.gfile.stat(f"{root.rstrip('/')}/{name}").length
               for root, _, names in tf.io.gfile.walk(where) for name in names)
  except (tf.errors.OpError, OSError):
    return sum(int(np.prod(w.shape)) * tf.as_dtype(w.dtype).size for w in weights)
  finally:
    if tf.io.gfile.exists(where):
      tf.io.gfile.rmtree(where)


def export_saved_model(model, path):
  """Writes `model` (a built ConditionalVAE) as a SavedModel at `path`; returns `path`.

  The SavedModel is written to `path + ".tmp"` first and renamed to `path` only when complete; if
  writing fails (e.g. the disk is full), the partial folder is removed, a UsageError names the
  cause and the size the SavedModel takes, and whatever was at `path` before is left as it was.
  """
  target = os.path.normpath(path)
  staging, previous = target + ".tmp", target + ".old"
  if os.path.isdir(previous):
    # Left by an export interrupted between its two renames: it holds the last complete export.
    if os.path.exists(target):
      shutil.rmtree(previous)
    else:
      os.rename(previous, target)
  if os.path.exists(staging):
    shutil.rmtree(staging)
  module = _ServingModule(model)
  signatures = {"encode": module.encode.get_concrete_function(),
                "decode": module.decode.get_concrete_function(),
                "sample": module.sample.get_concrete_function()}
  try:
    tf.saved_model.save(module, staging, signatures=signatures)
  except BaseException as e:
    shutil.rmtree(staging, ignore_errors=True)
    if not isinstance(e, (tf.errors.OpError, OSError)):
      raise
    size = _saved_model_bytes(module, signatures, model.weights)
    kept = "the earlier export there is intact" if os.path.exists(target) else "nothing was kept"
    raise UsageError(f"Could not write the SavedModel to {target} ({write_failure(e)}); it takes "
                     f"about {size / 2**20:.1f} MiB: free space and run the same command again "
                     f"({kept}).") from None
  if os.path.exists(target):
    os.rename(target, previous)
  try:
    os.rename(staging, target)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    if os.path.exists(previous):
      os.rename(previous, target)
    raise
  shutil.rmtree(previous, ignore_errors=True)
  return path
