"""Batched Morpho-MNIST morphometrics of digit images, in TensorFlow.

The paper (Shu et al., Section 1.2 "Style preservation", Figures 1-6) judges by
eye whether mu_p(i, z) and mu_p(j, z) share a style. `tfdis.metrics.style_preservation`
measures it instead, with the morphometrics of Morpho-MNIST (Castro, Tan, Kainz,
Konukoglu & Glocker, "Morpho-MNIST: Quantitative Assessment and Diagnostics for
Representation Learning", JMLR 2019; reference code `morphomnist/morpho.py` and
`measure.py` of github.com/dccastro/Morpho-MNIST). Their `measure_image` defaults
are ours: threshold 0.5, upscaling 4, bound_frac 0.02.

```none
grey    g [B, H, W] in [0, 1]           (colour: ITU-R 601 luma of RGB)
hires   h = pyramid_expand(g, s)        [B, sH, sW], s = scale = 4:
                                        cubic spline resize, then Gaussian sigma = s/3
binary  b = h >= min(h) + 0.5 (max(h) - min(h))     (per image)
moments on h (intensity weighted, pixel coordinates x = column, y = row down):
        u11 = E_h[(x - x_c)(y - y_c)],  u02 = E_h[(y - y_c)^2]
slant     = atan(-u11 / u02)                         radians; > 0 leans right, like "/"
area      = sum(b) / s^2                             pixels of the original image
thickness = 2 mean_{p in skeleton} EDT_b(p) / s      pixels
width     = (right - left) / s,   height = (bottom - top) / s
```

* slant: exactly Morpho-MNIST's `np.arctan(-moments.horizontal_shear)` with
  horizontal_shear = u11 / u02. Since y points down, a digit whose top is to the
  right of its bottom has u11 < 0 and a positive slant. A shape sheared by
  x -> x - tan(theta) (y - y_c) from one with u11 = 0 has slant exactly theta.
* area: Morpho-MNIST's `binary_image.sum() / scale ** 2` at their threshold 0.5
  of the per-image intensity range, computed on the 4x upscaled image.
* width, height: Morpho-MNIST's `bounding_parallelogram` on the intensity image h:
  the sheared ("de-slanted") horizontal cumulative intensity of
  x + 0.5 - shear (y - y_c) and the vertical one of y, each cut at the quantiles
  bound_frac / 2 and 1 - bound_frac / 2 by linear interpolation. This is the
  bounding box of the de-slanted digit with 1% of the ink trimmed on each side
  (so a uniform w-pixel bar measures about 0.98 w); bound_frac = 0 gives the
  full extent.
* thickness: Morpho-MNIST takes 2 x the mean distance transform along the
  skimage `medial_axis` skeleton. A thinning skeleton is sequential, so here the
  skeleton is approximated by the ridge of the exact Euclidean distance
  transform (EDT, distance from a foreground pixel centre to the nearest
  background pixel centre, computed by two separable brute-force passes): a
  foreground pixel is on the ridge when its EDT is >= both neighbours along at
  least two of the four directions (horizontal, vertical, two diagonals), and it
  is not a boundary pixel (EDT 1; the staircase of a digitised edge makes those
  spurious maxima). On a straight stroke this keeps the centre line and drops its
  flanks (which are maxima only along the stroke), and it keeps the corner
  bisectors, as the medial axis does. A stroke of hires width n pixels measures
  n / s (even n) or (n + 1) / s (odd n), as in Morpho-MNIST.

Colour images ([B, H, W, 3]) are measured on their grey version; with
`colour=True`, `measure` adds colour statistics on the native-resolution
foreground mask (g >= midpoint of its range): `contrast` (mean grey of the
foreground minus that of the background) and the mean red, green and blue of the
foreground and of the background.

Blank images (constant intensity) have undefined moments: their slant, width and
height are NaN. Everything is a pure function of tensors; `measure` runs under
`tf.function(jit_compile=True)`.
"""
import functools
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

MEASUREMENTS: Tuple[str, ...] = ("slant", "thickness", "width", "height", "area")
COLOUR_MEASUREMENTS: Tuple[str, ...] = (
    "contrast", "foreground_red", "foreground_green", "foreground_blue",
    "background_red", "background_green", "background_blue")


def to_grey(images: tf.Tensor) -> tf.Tensor:
  """Grey intensities of [B, H, W, 1] or RGB [B, H, W, 3] images -> float32 [B, H, W]."""
  images = tf.convert_to_tensor(images, tf.float32)
  if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(
        f"Expected images of shape [B, H, W, 1] or [B, H, W, 3], got {images.shape}.")
  if images.shape[-1] == 3:
    images = tf.image.rgb_to_grayscale(images)
  return images[..., 0]


def _cubic_bspline(t: np.ndarray) -> np.ndarray:
  """The cubic B-spline beta_3 at offsets t."""
  t = np.abs(t)
  return np.where(t < 1, 2.0 / 3.0 - t * t + 0.5 * t ** 3,
                  np.where(t < 2, (2.0 - t) ** 3 / 6.0, 0.0))


def _symmetric(index: int, size: int) -> int:
  """scipy.ndimage's "reflect" boundary: ... b a | a b c d | d c ..."""
  index = index % (2 * size)
  return 2 * size - 1 - index if index >= size else index


def _mirror(index: int, size: int) -> int:
  """scipy.ndimage's "mirror" boundary: ... c b | a b c d | c b ..."""
  period = 2 * size - 2
  index = abs(index) % period if period else 0
  return period - index if index >= size else index


@functools.lru_cache(maxsize=None)
def upscale_matrices(size: int, scale: int) -> Tuple[np.ndarray, np.ndarray]:
  """The two 1-D linear steps of `upscale`: float32 [sN, N] and [sN, sN], N = size.

  skimage's `pyramid_expand(order=3)` is cubic B-spline interpolation (spline
  prefilter, mirrored edges) at half-pixel-centred positions (p + 0.5) / s - 0.5,
  then a Gaussian with sigma = 2 s / 6, truncated at 4 sigma, symmetric edges. The
  prefilter's infinite response is cut after a margin of 16 mirrored samples (its
  pole is 2 - sqrt(3) = 0.27, 0.27^16 < 1e-9).
  """
  out = scale * size
  margin = 16
  extended = np.arange(-margin, size + margin)  # [E]
  mirror = np.zeros((len(extended), size))  # [E, size]
  mirror[np.arange(len(extended)), [_mirror(i, size) for i in extended]] = 1.0
  collocation = _cubic_bspline(extended[:, None] - extended[None, :])  # [E, E]
  coefficients = np.linalg.solve(collocation, mirror)  # [E, size]: spline prefilter.
  positions = (np.arange(out) + 0.5) / scale - 0.5  # [out]
  resize = _cubic_bspline(positions[:, None] - extended[None, :]) @ coefficients  # [out, size]
  sigma = 2.0 * scale / 6.0
  radius = int(4.0 * sigma + 0.5)
  offsets = np.arange(-radius, radius + 1)
  kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
  kernel /= kernel.sum()
  smooth = np.zeros((out, out))
  for p in range(out):
    for o, w in zip(offsets, kernel):
      smooth[p, _symmetric(p + o, out)] += w
  return resize.astype(np.float32), smooth.astype(np.float32)


def upscale(grey: tf.Tensor, scale: int = 4) -> tf.Tensor:
  """Morpho-MNIST's upscaling (skimage `pyramid_expand`, order 3), batched.

  Args:
    grey: float32 [B, H, W].
    scale: integer factor s >= 1.

  Returns:
    float32 [B, sH, sW]: cubic-spline resize clipped to the input's range [0, 1]
    (skimage's resize clips), then Gaussian smoothing with sigma = s / 3. Both
    linear steps are separable: R_H g R_W^T, then S_H (.) S_W^T, with (R, S) =
    `upscale_matrices`. scale = 1 returns `grey`.
  """
  grey = tf.convert_to_tensor(grey, tf.float32)
  if scale == 1:
    return grey
  resize_h, smooth_h = (tf.constant(m) for m in upscale_matrices(grey.shape[1], scale))
  resize_w, smooth_w = (tf.constant(m) for m in upscale_matrices(grey.shape[2], scale))
  resized = tf.einsum("ph,bhw,qw->bpq", resize_h, grey, resize_w)  # [B, sH, sW]
  resized = tf.clip_by_value(resized, 0.0, 1.0)
  return tf.einsum("ph,bhw,qw->bpq", smooth_h, resized, smooth_w)


def binarise(images: tf.Tensor, threshold: float = 0.5) -> tf.Tensor:
  """bool [B, H, W]: pixels >= min + threshold (max - min), per image of float [B, H, W]."""
  lo = tf.reduce_min(images, axis=[1, 2], keepdims=True)
  hi = tf.reduce_max(images, axis=[1, 2], keepdims=True)
  return images >= lo + threshold * (hi - lo)


def _coordinates(images: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  x = tf.range(tf.shape(images)[2], dtype=images.dtype)[None, None, :]  # [1, 1, W]
  y = tf.range(tf.shape(images)[1], dtype=images.dtype)[None, :, None]  # [1, H, 1]
  return x, y


def central_moments(images: tf.Tensor) -> Dict[str, tf.Tensor]:
  """Intensity-weighted centroid and second central moments of float [B, H, W].

  Returns:
    dict of float [B]: "x_c", "y_c" (centroid, in pixels, x = column, y = row),
    "u20" = E[(x - x_c)^2], "u11" = E[(x - x_c)(y - y_c)], "u02" = E[(y - y_c)^2].
  """
  x, y = _coordinates(images)
  mass = tf.reduce_sum(images, axis=[1, 2])
  x_c = tf.reduce_sum(x * images, axis=[1, 2]) / mass
  y_c = tf.reduce_sum(y * images, axis=[1, 2]) / mass
  dx = x - x_c[:, None, None]
  dy = y - y_c[:, None, None]

  def expect(f):
    return tf.reduce_sum(f * images, axis=[1, 2]) / mass

  return {"x_c": x_c, "y_c": y_c, "u20": expect(dx * dx), "u11": expect(dx * dy),
          "u02": expect(dy * dy)}


def slant_from_moments(moments: Dict[str, tf.Tensor]) -> tf.Tensor:
  """Morpho-MNIST slant atan(-u11 / u02) in radians, float [B]."""
  return tf.atan(-moments["u11"] / moments["u02"])


def distance_transform(binary: tf.Tensor) -> tf.Tensor:
  """Exact Euclidean distance transform of bool [B, H, W] -> float32 [B, H, W].

  Each foreground (True) pixel gets the distance between its centre and the
  nearest background pixel centre (as scipy.ndimage.distance_transform_edt);
  background pixels get 0. Outside the image is not background. Two separable
  brute-force passes, O(H W (H + W)) per image, one image at a time.
  """
  binary = tf.convert_to_tensor(binary, tf.bool)
  height, width = binary.shape[1], binary.shape[2]
  far = float((height + width) ** 2)
  cols = tf.range(width, dtype=tf.float32)
  rows = tf.range(height, dtype=tf.float32)
  dx2 = (cols[:, None] - cols[None, :]) ** 2  # [W, W]
  dy2 = (rows[:, None] - rows[None, :]) ** 2  # [H, H]

  def one_image(foreground):  # [H, W] -> [H, W]
    background = tf.logical_not(foreground)
    # Squared distance to the nearest background pixel in the same row.
    row_d2 = tf.reduce_min(tf.where(background[:, None, :], dx2[None], far), axis=-1)  # [H, W]
    # Then min over rows y' of row_d2[y', x] + (y - y')^2.
    d2 = tf.reduce_min(row_d2[None, :, :] + dy2[:, :, None], axis=1)  # [H, W]
    return tf.sqrt(d2)

  return tf.map_fn(one_image, binary, fn_output_signature=tf.float32)


def _shift(x: tf.Tensor, dy: int, dx: int) -> tf.Tensor:
  """out[b, i, j] = x[b, i + dy, j + dx], zero outside; x float [B, H, W]."""
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1]])
  height, width = x.shape[1], x.shape[2]
  return padded[:, 1 + dy:1 + dy + height, 1 + dx:1 + dx + width]


def ridge(distance: tf.Tensor) -> tf.Tensor:
  """Skeleton approximation: bool [B, H, W], pixels > 0 that are local maxima of
  the distance map float [B, H, W] along at least two of the four directions."""
  count = tf.zeros_like(distance)
  for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
    is_max = tf.logical_and(distance >= _shift(distance, dy, dx),
                            distance >= _shift(distance, -dy, -dx))
    count += tf.cast(is_max, distance.dtype)
  return tf.logical_and(distance > 0, count >= 2)


def thickness_from_binary(binary: tf.Tensor, scale: int = 4) -> tf.Tensor:
  """2 x mean EDT along the skeleton / scale, float32 [B], of bool [B, H, W].

  The skeleton is `ridge` without the boundary pixels (EDT = 1, next to the
  background), whose pixel staircase makes spurious maxima; an image whose
  strokes are all one pixel thin keeps them.
  """
  distance = distance_transform(binary)
  deepest = tf.reduce_max(distance, axis=[1, 2], keepdims=True)
  interior = tf.logical_or(distance > 1.0, distance >= deepest)
  skeleton = tf.cast(tf.logical_and(ridge(distance), interior), tf.float32)
  mean_radius = tf.reduce_sum(distance * skeleton, axis=[1, 2]) / tf.reduce_sum(
      skeleton, axis=[1, 2])
  return 2.0 * mean_radius / float(scale)


def _interp_quantile(cdf: tf.Tensor, quantile: float) -> tf.Tensor:
  """np.interp(quantile, cdf[b], arange(N)) for nondecreasing float cdf [B, N] -> [B]."""
  n = cdf.shape[1]
  above = tf.reduce_sum(tf.cast(cdf < quantile, tf.int32), axis=1)  # First index with cdf >= q.
  hi = tf.clip_by_value(above, 1, n - 1)
  lo = hi - 1
  c_lo = tf.gather(cdf, lo, batch_dims=1)
  c_hi = tf.gather(cdf, hi, batch_dims=1)
  frac = tf.math.divide_no_nan(quantile - c_lo, c_hi - c_lo)
  inside = tf.cast(lo, cdf.dtype) + frac
  return tf.where(above <= 0, 0.0, tf.where(above >= n, float(n - 1), inside))


def bounding_parallelogram(images: tf.Tensor, moments: Dict[str, tf.Tensor],
                           bound_frac: float = 0.02) -> Dict[str, tf.Tensor]:
  """Morpho-MNIST's de-slanted bounding box of the intensity float [B, H, W].

  Returns:
    dict of float [B] in pixels of `images`: "left", "right" (in the sheared
    coordinate x + 0.5 - shear (y - y_c)), "top", "bottom".
  """
  height, width = images.shape[1], images.shape[2]
  batch = tf.shape(images)[0]
  mass = tf.reduce_sum(images, axis=[1, 2])
  shear = moments["u11"] / moments["u02"]  # [B]
  x, y = _coordinates(images)
  sheared_x = x + 0.5 - shear[:, None, None] * (y - moments["y_c"][:, None, None])  # [B, H, W]
  # hcdf[t] = mass with sheared_x < t, for t = 0..W-1: a histogram over bins
  # k = floor(sheared_x) + 1 (clipped to [0, W]), cumulated.
  bins = tf.clip_by_value(tf.floor(sheared_x) + 1.0, 0.0, float(width))
  bins = tf.cast(bins, tf.int32) + (width + 1) * tf.range(batch)[:, None, None]
  hist = tf.math.unsorted_segment_sum(
      tf.reshape(images, [-1]), tf.reshape(bins, [-1]), batch * (width + 1))
  hist = tf.reshape(hist, [batch, width + 1])
  hcdf = tf.cumsum(hist, axis=1)[:, :width] / mass[:, None]  # [B, W]
  row_mass = tf.reduce_sum(images, axis=2)  # [B, H]
  vcdf = tf.cumsum(row_mass, axis=1, exclusive=True) / mass[:, None]  # [B, H], mass with y < t
  half = bound_frac / 2.0
  return {"left": _interp_quantile(hcdf, half), "right": _interp_quantile(hcdf, 1.0 - half),
          "top": _interp_quantile(vcdf, half), "bottom": _interp_quantile(vcdf, 1.0 - half)}


def colour_statistics(images: tf.Tensor, threshold: float = 0.5) -> Dict[str, tf.Tensor]:
  """Colour and contrast of RGB float [B, H, W, 3] (or grey [B, H, W, 1]) images.

  Returns:
    dict of float32 [B], keys COLOUR_MEASUREMENTS: the foreground is the native
    resolution grey image binarised at `threshold`; channel means are NaN for an
    empty foreground or background.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  grey = to_grey(images)
  foreground = tf.cast(binarise(grey, threshold), tf.float32)  # [B, H, W]
  background = 1.0 - foreground
  rgb = images if images.shape[-1] == 3 else tf.repeat(images, 3, axis=-1)

  def mean_over(mask, values):  # mask [B, H, W], values [B, H, W] -> [B]
    return tf.reduce_sum(mask * values, axis=[1, 2]) / tf.reduce_sum(mask, axis=[1, 2])

  stats = {"contrast": mean_over(foreground, grey) - mean_over(background, grey)}
  for c, name in enumerate(("red", "green", "blue")):
    stats["foreground_" + name] = mean_over(foreground, rgb[..., c])
    stats["background_" + name] = mean_over(background, rgb[..., c])
  return {name: stats[name] for name in COLOUR_MEASUREMENTS}


def measure(images: tf.Tensor, scale: int = 4, threshold: float = 0.5, bound_frac: float = 0.02,
            colour: bool = False) -> Dict[str, tf.Tensor]:
  """All morphometrics of a batch of digit images.

  Args:
    images: float [B, H, W, 1] or RGB [B, H, W, 3], intensities in [0, 1], the
      digit bright on a dark background (as MNIST).
    scale: upscaling factor before measuring (Morpho-MNIST: 4).
    threshold: binarisation threshold as a fraction of each image's range (0.5).
    bound_frac: ink fraction trimmed from the bounding box, both sides together (0.02).
    colour: also return COLOUR_MEASUREMENTS.

  Returns:
    dict name -> float32 [B], names MEASUREMENTS (+ COLOUR_MEASUREMENTS), in
    that order; slant in radians, the others in pixels of the input image.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  hires = upscale(to_grey(images), scale)  # [B, sH, sW]
  binary = binarise(hires, threshold)
  moments = central_moments(hires)
  box = bounding_parallelogram(hires, moments, bound_frac)
  s = float(scale)
  result = {
      "slant": slant_from_moments(moments),
      "thickness": thickness_from_binary(binary, scale),
      "width": (box["right"] - box["left"]) / s,
      "height": (box["bottom"] - box["top"]) / s,
      "area": tf.reduce_sum(tf.cast(binary, tf.float32), axis=[1, 2]) / (s * s),
  }
  if colour:
    result.update(colour_statistics(images, threshold))
  return result


def measure_stack(images: tf.Tensor, names: Sequence[str] = MEASUREMENTS,
                  **kwargs) -> tf.Tensor:
  """`measure` stacked as float32 [B, K], column k = names[k]; kwargs go to `measure`.

  Colour statistics are computed when any name is in COLOUR_MEASUREMENTS.
  """
  unknown = [n for n in names if n not in MEASUREMENTS + COLOUR_MEASUREMENTS]
  if unknown:
    raise ValueError(f"Unknown measurements {unknown}; use names from "
                     f"{MEASUREMENTS + COLOUR_MEASUREMENTS}.")
  kwargs.setdefault("colour", any(n in COLOUR_MEASUREMENTS for n in names))
  values = measure(images, **kwargs)
  return tf.stack([values[n] for n in names], axis=1)
