"""Label-dependent orthogonal transforms T_y of the style code z.

Shu, Zhao & Kochenderfer, "Rethinking Style and Content Disentanglement in
VAEs", Section 1.2 (Proposition 1 and the rigid-transformation variant after
it) and Appendix A (Figures 5 and 6): a set of distribution-preserving, distinct
transforms {T_i} turns a style-preserving generator p*(x | y, z) into an
entangled one p'(x | y, z) = p*(x | y, T_y(z)) with exactly the same density over
images. For z ~ N(0, I) every orthogonal matrix preserves the distribution, so the
transforms here are stacks of orthogonal matrices, one per label:

```none
transforms:  T  float32 [G, D, D],  T[g] orthogonal, G = number of labels
apply:       T_y z  for a batch, labels int32 [B], z float32 [B, D] -> [B, D]
```

Families (all return a float32 tf.Tensor [G, D, D]):

* `random_rotations`: independent Haar-distributed rotations in SO(D), one per
  label (QR of a Gaussian matrix, signs of R's diagonal moved into Q, then one
  column flipped if det = -1). The paper's "label-dependent rotations".
* `reflections`: the paper's T_i = (-1)^{1[i < 5]} I (Appendix A); for a label
  count other than 10 the split is at num_labels // 2.
* `identity`: T_i = I, the untransformed control.
* `same_rotation`: one Haar rotation shared by every label. It preserves the
  distribution but is *not* label-dependent, so it must not change style
  preservation -- a control for the rotation experiments.

Generating a family is the sampling step (numpy, seeded); `apply` is the pure
maths.

`fractional_power(T, a)` gives T^a, the point a of the way along the shortest
path of rotations from I (a = 0) to T (a = 1): each plane T turns by its
principal angle θ in [0, π] is turned by a θ instead (the regression's
dose-response in the angle, paper Sec. 3; numpy only). It is defined only for det T = +1: a reflection (det -1) is
joined to I by no continuous path of orthogonal matrices, so it is refused.
"""
from typing import Callable, Dict

import numpy as np
import tensorflow as tf

from tfdis.errors import UsageError


def _haar_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
  """One Haar-distributed rotation matrix in SO(dim), float64 [dim, dim]."""
  gaussian = rng.standard_normal((dim, dim))
  q, r = np.linalg.qr(gaussian)
  # QR is unique only up to the signs of R's diagonal; fixing them makes Q Haar on O(D).
  q = q * np.sign(np.diag(r))[None, :]
  if np.linalg.det(q) < 0:
    q[:, 0] = -q[:, 0]  # Reflect one axis: Haar on O(D) restricted to det +1 is Haar on SO(D).
  return q


def _check_sizes(num_labels: int, dim: int) -> None:
  if int(num_labels) < 1 or int(dim) < 1:
    raise ValueError(
        f"num_labels and dim must be positive, got num_labels={num_labels}, dim={dim}.")


def random_rotations(num_labels: int, dim: int, seed: int) -> tf.Tensor:
  """Independent Haar rotations, one per label.

  Args:
    num_labels: G, number of labels (transforms).
    dim: D, dimension of z. Must be >= 2 when num_labels > 1, since SO(1) = {1}
      has no distinct rotations.
    seed: integer seed; the same seed gives the same transforms.

  Returns:
    float32 [G, D, D]; every T[g] is orthogonal with det +1, and the T[g] are
    distinct (with probability one).
  """
  _check_sizes(num_labels, dim)
  if dim < 2 and num_labels > 1:
    raise ValueError(
        f"random_rotations needs dim >= 2 for distinct rotations (SO(1) is trivial), got dim={dim}.")
  rng = np.random.default_rng(seed)
  stack = np.stack([_haar_rotation(rng, dim) for _ in range(num_labels)])
  return tf.constant(stack, tf.float32)


def same_rotation(num_labels: int, dim: int, seed: int) -> tf.Tensor:
  """One Haar rotation repeated for every label: float32 [G, D, D], T[g] = T[0]."""
  _check_sizes(num_labels, dim)
  rotation = _haar_rotation(np.random.default_rng(seed), dim)
  return tf.constant(np.broadcast_to(rotation, (num_labels, dim, dim)), tf.float32)


def reflections(num_labels: int, dim: int, seed: int = 0) -> tf.Tensor:
  """The paper's label-dependent reflection T_i = (-1)^{1[i < G // 2]} I.

  For G = 10 (MNIST, SVHN) this is exactly Appendix A's T_i = (-1)^{1[i < 5]} I:
  labels 0..4 get -I, labels 5..9 get +I.

  Args:
    num_labels: G.
    dim: D.
    seed: unused (deterministic family); accepted so every family has one signature.

  Returns:
    float32 [G, D, D].
  """
  del seed
  _check_sizes(num_labels, dim)
  signs = np.where(np.arange(num_labels) < num_labels // 2, -1.0, 1.0)  # [G]
  return tf.constant(signs[:, None, None] * np.eye(dim)[None], tf.float32)


def identity(num_labels: int, dim: int, seed: int = 0) -> tf.Tensor:
  """T_i = I for every label: float32 [G, D, D]. `seed` is unused."""
  del seed
  _check_sizes(num_labels, dim)
  return tf.eye(dim, batch_shape=[num_labels], dtype=tf.float32)


def _check_orthogonal(matrices: np.ndarray, what: str) -> None:
  gram = np.einsum("...ji,...jk->...ik", matrices, matrices)
  error = np.abs(gram - np.eye(matrices.shape[-1])).max(initial=0.0)
  if error > 1e-4:
    raise ValueError(f"{what} is not orthogonal (|T^T T - I| reaches {error:.2g}); give a stack "
                     "of orthogonal matrices.")


def _power_of_one(matrix: np.ndarray, a: float) -> np.ndarray:
  """T^a of one rotation T, float64 [D, D] (see `fractional_power`), in numpy alone.

  S = (T + T^T) / 2 is symmetric with eigenvalues cos θ_k, and each eigenspace E of S is
  invariant under T: there T^T T = I and T + T^T = 2 cos θ I give T = cos θ I + sin θ J with
  J² = -I, so T^a = cos(a θ) I + sin(a θ) J on E. For 0 < θ < π, J = (T - cos θ I) / sin θ;
  θ = 0 keeps E fixed; θ = π (T = -I on E, of even dimension for a rotation) pairs E's basis
  vectors into planes turned by a π, one valid choice.
  """
  dim = matrix.shape[0]
  left, _, right = np.linalg.svd(matrix)
  matrix = left @ right  # the nearest orthogonal matrix: a float32 T is orthogonal to ~1e-7 only
  cosines, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))  # ascending
  power = np.zeros_like(matrix)
  i = 0
  while i < dim:
    j = i + 1
    while j < dim and cosines[j] - cosines[i] < 1e-7:  # one eigenspace E of S
      j += 1
    basis = vectors[:, i:j]                            # [D, dim E], orthonormal
    projector = basis @ basis.T
    cosine = float(np.clip(cosines[i:j].mean(), -1.0, 1.0))
    theta = np.arccos(cosine)
    if np.sin(theta) > 1e-7:
      turn = (matrix - cosine * np.eye(dim)) @ projector / np.sin(theta)  # J on E
      power += np.cos(a * theta) * projector + np.sin(a * theta) * turn
    elif cosine > 0:
      power += projector
    else:
      c, s = np.cos(a * np.pi), np.sin(a * np.pi)
      for k in range(0, basis.shape[1] - 1, 2):
        u, v = basis[:, k], basis[:, k + 1]
        power += c * (np.outer(u, u) + np.outer(v, v)) + s * (np.outer(v, u) - np.outer(u, v))
    i = j
  return power


def fractional_power(transforms, a: float) -> tf.Tensor:
  """T^a of rotations T: the rotation a of the way from I to T along the shortest path.

  T is a set of planes turned by principal angles θ_k in [0, π] and fixed axes (found from the
  eigenspaces of (T + T^T) / 2, `_power_of_one`); T^a turns each plane by a θ_k and keeps the
  fixed axes. Eigenvalues -1 (half turns, θ = π) have no unique principal power: they are
  paired into planes turned by a π, one valid choice. So T^0 = I, T^1 = T, T^a T^b = T^(a + b), T^a is a rotation, and
  ‖T^a - I‖_F = (Σ_k 8 sin²(a θ_k / 2))^½ grows with a in [0, 1].

  Args:
    transforms: float [..., D, D], each matrix a rotation (orthogonal, det +1).
    a: the fraction; any real number (a in [0, 1] interpolates between I and T).

  Returns:
    float [..., D, D] tf.Tensor, in the dtype of `transforms` (computed in float64).

  Raises:
    ValueError: a matrix is not orthogonal, or is a reflection (det -1), which no continuous
      path of orthogonal matrices joins to I, so T^a has no meaning between them.
  """
  transforms = tf.convert_to_tensor(transforms)
  matrices = transforms.numpy().astype(np.float64)
  _check_orthogonal(matrices, "fractional_power's T")
  flat = matrices.reshape((-1,) + matrices.shape[-2:])
  determinants = np.linalg.det(flat)
  if np.any(determinants < 0):
    raise ValueError(f"fractional_power's T[{int(np.argmax(determinants < 0))}] is a reflection "
                     "(det -1), which no path of rotations joins to I; use rotations "
                     "(--transform=rotation, same_rotation or identity).")
  powers = np.stack([_power_of_one(m, float(a)) for m in flat]) if len(flat) else flat
  return tf.constant(powers.reshape(matrices.shape), transforms.dtype)


def distance_from_identity(transforms) -> np.ndarray:
  """‖T - I‖_F of each matrix of float [..., D, D]: float64 [...]."""
  matrices = np.asarray(transforms, np.float64)
  return np.linalg.norm(matrices - np.eye(matrices.shape[-1]), axis=(-2, -1))


def apply(transforms: tf.Tensor, labels: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
  """Computes T_{y_b} z_b for every example of a batch.

  Args:
    transforms: float [G, D, D].
    labels: int [B], each in [0, G).
    z: float [B, D].

  Returns:
    float [B, D], row b equal to transforms[labels[b]] @ z[b].
  """
  transforms = tf.convert_to_tensor(transforms)
  z = tf.convert_to_tensor(z, transforms.dtype)
  labels = tf.convert_to_tensor(labels)
  per_example = tf.gather(transforms, labels)  # [B, D, D]
  return tf.einsum("bij,bj->bi", per_example, z)


TRANSFORMS: Dict[str, Callable[[int, int, int], tf.Tensor]] = {
    "identity": identity,
    "random_rotations": random_rotations,
    "reflections": reflections,
    "same_rotation": same_rotation,
    # The names the binaries' --transform flags use.
    "rotation": random_rotations,
    "reflection": reflections,
}


def by_name(name: str, num_labels: int, dim: int, seed: int = 0) -> tf.Tensor:
  """Builds the family called `name` (a key of TRANSFORMS): float32 [G, D, D]."""
  if name not in TRANSFORMS:
    raise UsageError(
        f"Unknown transform family {name!r}; use one of {sorted(TRANSFORMS)}.")
  return TRANSFORMS[name](num_labels, dim, seed)
