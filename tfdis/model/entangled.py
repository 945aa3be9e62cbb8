"""The entangled generator of Proposition 1 (paper Sec. 1.2, Fig. 1).

From a trained pair (p, q) and label-dependent orthogonal transforms T_y (`tfdis.transforms`):

```none
μ'_p(y, z)   = μ_p(y, T_y z)                       p'(x | y, z) = p(x | y, T_y z)
q'(z | x, y) = T_y^{-1} q(z | x, y) = T_yᵀ q(z | x, y)     (z' = T_yᵀ w, w ~ q)
```

Because T_y is orthogonal, T_yᵀ N(μ, diag σ²) is N(T_yᵀ μ, T_yᵀ diag σ² T_y), its KL to
p(z) = N(0, I) equals that of q, and the decoder sees T_y z' = w, so the ELBO of (p', q') equals
that of (p, q) example by example, while μ'_p no longer preserves style across labels. (For the
paper's reflections T_y = T_y^{-1}; for rotations the inverse is needed for the ELBO to match.)
"""
import tensorflow as tf
import tensorflow_probability as tfp

from tfdis.model import transforms as transforms_lib
from tfdis.model import vae

tfd = tfp.distributions


class EntangledModel:
  """(p', q') built from a ConditionalVAE and transforms [G, D, D]; the same interface for metrics."""

  def __init__(self, model, transforms):
    self.model = model
    self.transforms = tf.convert_to_tensor(transforms, tf.float32)  # [G, D, D]
    self.latent_dim = model.latent_dim
    self.num_classes = model.num_classes
    self.image_shape = model.image_shape

  def decode_mean(self, labels, z):
    """μ'_p(y, z) = μ_p(y, T_y z): [B, H, W, C]."""
    return self.model.decode_mean(labels, transforms_lib.apply(self.transforms, labels, z))

  def encode(self, images, labels):
    """q'(z | x, y) = T_yᵀ q(z | x, y): full-covariance Gaussian, batch [B], event [D]."""
    q = self.model.encode(images, labels)
    t_inv = tf.linalg.matrix_transpose(tf.gather(self.transforms, tf.cast(labels, tf.int32)))
    scale = t_inv * q.stddev()[:, None, :]                       # [B, D, D] = T_yᵀ diag σ
    return tfd.MultivariateNormalLinearOperator(
        loc=tf.einsum("bij,bj->bi", t_inv, q.mean()),
        scale=tf.linalg.LinearOperatorFullMatrix(scale))

  def elbo_terms(self, images, labels, noise):
    """Per-example ELBO of (p', q'), same contract as ConditionalVAE.elbo_terms."""
    labels = tf.cast(labels, tf.int32)
    decode = lambda z: self.model.decode(labels, transforms_lib.apply(self.transforms, labels, z))
    return vae.elbo_terms(images, labels, self.encode(images, labels), decode, noise,
                          self.model.prior_z(), self.model.prior_y())
