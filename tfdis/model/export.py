"""SavedModel export with the serving signatures `encode(x, y)`, `decode(y, z)`, `sample(y)`.

A fresh process loads the export with plain `tf.saved_model.load(path)`; no tfdis import needed:

  loaded = tf.saved_model.load(path)
  loaded.signatures["decode"](y=labels, z=codes)["images"]      # μ_p(y, z)  [B, H, W, C]
  loaded.signatures["encode"](x=images, y=labels)["loc"]        # μ_q(x, y)  [B, D]
  loaded.signatures["sample"](y=labels)["images"]   # the generator's mean at z ~ N(0, I)
"""
import tensorflow as tf


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
    q = self.model.encode(x, y)
    return {"loc": q.mean(), "scale": q.stddev()}

  def _decode(self, y, z):
    return {"images": self.model.decode_mean(y, z)}

  def _sample(self, y):
    z = tf.random.normal([tf.shape(y)[0], self.model.latent_dim])
    return {"images": self.model.generator_mean(y, z), "z": z}


def export_saved_model(model, path):
  """Writes `model` (a built ConditionalVAE) as a SavedModel at `path`; returns `path`."""
  module = _ServingModule(model)
  signatures = {"encode": module.encode.get_concrete_function(),
                "decode": module.decode.get_concrete_function(),
                "sample": module.sample.get_concrete_function()}
  tf.saved_model.save(module, path, signatures=signatures)
  return path
