"""Label x z sample grids (paper Figs. 1, 2, 4, 5, 6) and other image tilings, as arrays and PNG.

The paper's grid: the image at row i, column j is μ_p(i, z_j) for codes z_1..z_M shared by every
row. A style-preserving decoder shows one style per column; an entangled one does not.
"""
import numpy as np

from tfdis import files


def label_z_grid(decode_mean, num_classes, z):
  """Decodes every label with the same codes.

  Args:
    decode_mean: callable (labels int32 [B], z float32 [B, D]) -> images [B, H, W, C] in [0, 1].
    num_classes: K, the number of rows.
    z: float32 [M, D], the shared codes (one per column).

  Returns:
    float32 [K, M, H, W, C]: entry [i, j] is μ_p(i, z_j).
  """
  z = np.asarray(z, np.float32)
  num_z = z.shape[0]
  labels = np.repeat(np.arange(num_classes, dtype=np.int32), num_z)  # [K*M], row-major
  codes = np.tile(z, (num_classes, 1))                               # [K*M, D]
  images = np.asarray(decode_mean(labels, codes))
  return images.reshape((num_classes, num_z) + images.shape[1:])


def tile(images, pad=1, pad_value=1.0):
  """Tiles [R, C, H, W, ch] images into one [R*(H+pad)-pad, C*(W+pad)-pad, ch] array."""
  images = np.asarray(images, np.float32)
  rows, cols, height, width, channels = images.shape
  out = np.full((rows * (height + pad) - pad, cols * (width + pad) - pad, channels), pad_value,
                np.float32)
  for r in range(rows):
    for c in range(cols):
      top, left = r * (height + pad), c * (width + pad)
      out[top:top + height, left:left + width] = images[r, c]
  return out


PNG_SCALE = 2   # save_png enlarges each pixel this many times
SIDE_BY_SIDE_GAP = 4  # pixels between the two tiles of side_by_side


def side_by_side(left, right, gap=SIDE_BY_SIDE_GAP):
  """Joins two tiled images [H, W, ch] horizontally with a white gap (for model vs entangled)."""
  height = max(left.shape[0], right.shape[0])
  pad = lambda a: np.pad(a, ((0, height - a.shape[0]), (0, 0), (0, 0)), constant_values=1.0)
  spacer = np.ones((height, gap, left.shape[2]), np.float32)
  return np.concatenate([pad(left), spacer, pad(right)], axis=1)


def save_png(image, path, scale=PNG_SCALE):
  """Writes a [H, W, 1 or 3] array in [0, 1] as a PNG, each pixel enlarged `scale` times."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import image as mpimg  # pylint: disable=g-import-not-at-top
  image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
  image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
  with files.whole_file(path) as tmp:
    if image.shape[-1] == 1:
      mpimg.imsave(tmp, image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
      mpimg.imsave(tmp, image)
  return path
