"""Label-routed ("split") dense and convolution kernels.

Shu et al., "Rethinking Style and Content Disentanglement in VAEs", Section 2
("split" parameterisation, Fig. 2) and Appendix A (splitting single layers, Fig. 4): a split
network is ten independent networks {w^(i)}, one per digit class, and example
(x, y) is processed by w^(y). We hold the G per-class weights of one layer as a
single tensor with a leading group axis G and route each example to the slice
of its label:

```none
y_b = x_b @ kernel[labels_b] + bias[labels_b]           # routed_dense
y_b = conv2d(x_b, kernel[labels_b]) + bias[labels_b]    # routed_conv2d
```

Every public function computes the same value by one of four strategies:

* `"gather"`: `tf.gather(kernel, labels)` then a batched matmul (`tf.einsum`).
  The simplest; it copies one kernel per example (a [B, in, out] tensor for
  dense, many times the shared layer's cost). Convolutions first become
  patches (strided slices), so one kernel copy serves H'W' positions; under
  XLA this is the fastest conv strategy.
* `"partition"`: `tf.dynamic_partition` by label, one ordinary matmul / conv
  per group, `tf.dynamic_stitch` back. Fast on CPU without XLA; under XLA every
  group is padded to the whole batch, so it costs about G times more.
* `"sorted"`: counting-sort the examples by label into fixed-size tiles
  (each group padded up to a multiple of SORTED_TILE[kind] examples; at most
  min(B, (B + G (tile - 1)) / tile) tiles), gather one kernel per tile and run
  one batched matmul. All shapes are static, so it suits XLA. Convolutions
  become patches + matmul; transposed convolutions become a per-pixel matmul
  followed by an (unrouted) overlap-add.
* `"masked"`: one ordinary matmul / conv whose input is the one-hot-masked
  copy of x over the G groups (G times the FLOPs, but one big op).

Every public function also takes `layout`, what the caller promises about the batch:

* `"any"` (default): labels in any order and any number per label (evaluation, arbitrary
  labels, batch size 1); one of the four strategies above routes them.
* `"balanced"`: B = G n examples, n of each label, grouped by label in group order
  (labels = [0]*n + [1]*n + ... + [G-1]*n), as `tfdis.data.balanced` builds training batches.
  Routing is then a reshape: a dense layer is one batched matmul
  (`einsum('gbi,gio->gbo')`, run as `tf.matmul`) over [G, n, in]. A convolution (and a
  transposed one) takes `balanced_form`, one of BALANCED_CONV_FORMS:
  - `"slices"` (BALANCED_CONV_FORM, the default): G ordinary convolutions, group g's static
    slice [n, H, W, C] of the batch with kernel[g], stacked back;
  - `"grouped"`: under XLA one grouped convolution, the n examples of each label stacked along
    channels (`feature_group_count=G`); TF's CPU kernels have no gradient for grouped
    convolutions outside XLA, so there patches (transposed: per-pixel products and an
    overlap-add) and one batched matmul [G, n H'W', K] @ [G, K, F].
  No gather, partition, stitch or sort; `strategy` is not used. The labels are checked to be
  that layout in eager mode and in `tf.function` (an error names the fix), not under XLA.

```none
balanced dense:  y[g, b] = x[g, b] @ kernel[g] + bias[g]        x as [G, n, in]
```

`strategy="auto"` picks `AUTO_STRATEGY[(kind, xla)]` (or, for convolutions
with <= IMAGE_SIDE_CHANNELS channels on the image side,
`AUTO_STRATEGY_IMAGE_SIDE[(kind, xla)]`), where kind is "dense",
"conv" or "conv_transpose" and xla says whether the op is being traced inside
a `tf.function(jit_compile=True)` (also nested, e.g. Keras `jit_compile=True`).
The XLA test reads TF's own flag for this (`control_flow_util.
GraphOrParentsInXlaContext`, the one TF uses to make control flow XLA-safe), so
callers need no extra argument; pass a strategy name to override it. The table
was set from `benchmarks.layers` (its measurements: BUILD.md).
Under XLA every new batch size recompiles.

Labels outside [0, G) raise `tf.errors.InvalidArgumentError` in eager mode and
in `tf.function`; under XLA the check is compiled away.
"""
import math

import tensorflow as tf
# pylint: disable-next=g-direct-tensorflow-import
from tensorflow.python.ops import control_flow_util

STRATEGIES = ("gather", "partition", "sorted", "masked")
LAYOUTS = ("any", "balanced")

# Fastest strategy per (layer kind, under XLA) in benchmarks.layers (B=256,
# MNIST conv-VAE shapes, forward + backward): without XLA, partition wins
# everywhere except a conv with C=1 input channel (masked); under XLA, partition
# pads every group to the whole batch, while gather wins for convolutions,
# 64-example tiles for dense and 4-example tiles for transposed convolutions
# except a transposed conv with F=1 output channel (gather).
AUTO_STRATEGY = {
    ("dense", False): "partition",
    ("dense", True): "sorted",
    ("conv", False): "partition",
    ("conv", True): "gather",
    ("conv_transpose", False): "partition",
    ("conv_transpose", True): "sorted",
}

# Layers whose image-side channel count (conv input C, transposed-conv output
# F) is at most IMAGE_SIDE_CHANNELS, e.g. the first and last layer of an MNIST
# VAE, use this table instead: a single conv over G*C masked input channels
# is then cheap, and under XLA so is the per-example kernel gather.
IMAGE_SIDE_CHANNELS = 4
AUTO_STRATEGY_IMAGE_SIDE = {
    ("conv", False): "masked",
    ("conv", True): "gather",
    ("conv_transpose", False): "partition",
    ("conv_transpose", True): "gather",
}

# Forms of a balanced-layout convolution (see the module docstring). "slices" is the default:
# fastest in benchmarks.layers (MNIST conv-VAE shapes, forward + backward) with and without XLA
# on the CPU of BUILD.md, which has the table ("Label-routed layers").
BALANCED_CONV_FORMS = ("slices", "grouped")
BALANCED_CONV_FORM = "slices"

# Examples per tile for the "sorted" strategy, by layer kind. A group of n
# examples fills ceil(n / tile) tiles, so padding costs up to G (tile - 1)
# rows and kernel copies cost one kernel per tile. Set from benchmarks.layers;
# the routed functions take `sorted_tile=` to override it per call.
SORTED_TILE = {"dense": 64, "conv": 4, "conv_transpose": 4}


def in_xla_context():
  """True while tracing inside `tf.function(jit_compile=True)` (or nested)."""
  if tf.executing_eagerly():
    return False
  return bool(control_flow_util.GraphOrParentsInXlaContext(
      tf.compat.v1.get_default_graph()))


def resolve_strategy(strategy, kind, image_side_channels=None):
  """Maps "auto" to a concrete strategy for layer `kind`; validates names.

  Args:
    strategy: "auto" or one of STRATEGIES.
    kind: "dense", "conv" or "conv_transpose".
    image_side_channels: conv input channels / transposed-conv output channels
      (None for dense).
  """
  if strategy == "auto":
    key = (kind, in_xla_context())
    if (image_side_channels is not None and
        image_side_channels <= IMAGE_SIDE_CHANNELS):
      return AUTO_STRATEGY_IMAGE_SIDE[key]
    return AUTO_STRATEGY[key]
  if strategy not in STRATEGIES:
    raise ValueError(f"Unknown routed strategy {strategy!r}; use 'auto' or "
                     f"one of {STRATEGIES}.")
  return strategy


def _check_labels(labels, num_groups):
  """Casts labels to int32 [B] and asserts 0 <= labels < num_groups."""
  labels = tf.cast(labels, tf.int32)
  labels = tf.reshape(labels, [-1])
  if in_xla_context():
    return labels  # Asserts are not compiled by XLA.
  deps = [
      tf.debugging.assert_non_negative(
          labels, message="Routed layer got a negative label; pass class "
          f"indices in [0, {num_groups}) (num_groups={num_groups})."),
      tf.debugging.assert_less(
          labels, tf.constant(num_groups, tf.int32),
          message=f"Routed layer got a label >= num_groups={num_groups}; "
          f"pass class indices in [0, {num_groups}) or build the layer with "
          "more groups."),
  ]
  with tf.control_dependencies(deps):
    return tf.identity(labels)


def check_layout(layout):
  """Raises ValueError unless `layout` is one of LAYOUTS."""
  if layout not in LAYOUTS:
    raise ValueError(f"Unknown routed layout {layout!r}; use one of {LAYOUTS} ('balanced' only "
                     "for batches of B/G examples per label grouped in label order).")


def balanced_labels(num_groups, batch_size):
  """The labels of a balanced batch: int32 [B], [0]*n + [1]*n + ... + [G-1]*n, n = B / G."""
  per_group = batch_size // num_groups
  if per_group * num_groups != batch_size or per_group < 1:
    raise ValueError(f"A balanced batch needs a batch size that is a positive multiple of the "
                     f"{num_groups} groups, got {batch_size}; use layout='any' or another "
                     "batch size.")
  return tf.repeat(tf.range(num_groups, dtype=tf.int32), per_group)


def _check_balanced(x, labels, num_groups):
  """Checks labels [B] are the balanced layout; returns (x, examples per group n).

  The batch size must be static. Eager and tf.function assert the labels equal
  `balanced_labels(G, B)`; XLA does not compile asserts.
  """
  batch = x.shape[0]
  if batch is None:
    raise ValueError("layout='balanced' needs a static batch size (it reshapes the batch to "
                     "[G, B/G, ...]); trace with a fixed batch size or use layout='any'.")
  want = balanced_labels(num_groups, batch)  # raises for a batch that is no multiple of G
  labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
  if in_xla_context():
    return x, batch // num_groups
  check = tf.debugging.assert_equal(
      labels, want, message=f"layout='balanced' needs labels grouped by label in group order, "
      f"{batch // num_groups} of each of the {num_groups} groups (tfdis.data.balanced builds "
      "such batches); pass layout='any' for other labels.")
  with tf.control_dependencies([check]):  # x is read only after the labels are checked
    return tf.identity(x), batch // num_groups


def _pair(value):
  if isinstance(value, int):
    return (value, value)
  return tuple(int(v) for v in value)


def _same_padding(size, kernel, stride):
  """(before, after, out) padding of TF "SAME" along one spatial axis."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2, out


def _conv_transpose_size(size, kernel, stride, padding):
  """Output length of keras.layers.Conv2DTranspose (output_padding=None)."""
  if padding == "same":
    return size * stride
  return size * stride + max(kernel - stride, 0)


def _restore_batch(y, x):
  """Re-attaches x's static batch size to y (lost by dynamic_stitch)."""
  return tf.ensure_shape(y, [x.shape[0]] + y.shape[1:].as_list())


# ---------------------------------------------------------------------------
# Routed matmul over positions: x[B, P, K] @ kernel[labels][K, N] -> [B, P, N].
# ---------------------------------------------------------------------------


def _matmul_gather(x, labels, kernel):
  w = tf.gather(kernel, labels)  # [B, K, N]
  return tf.einsum("bpk,bkn->bpn", x, w)


def _matmul_partition(x, labels, kernel):
  num_groups, k, n = kernel.shape
  p = x.shape[1]
  batch_index = tf.range(tf.shape(x)[0])
  parts = tf.dynamic_partition(x, labels, num_groups)
  indices = tf.dynamic_partition(batch_index, labels, num_groups)
  outs = [tf.reshape(tf.matmul(tf.reshape(xg, [-1, k]), wg), [-1, p, n])
          for xg, wg in zip(parts, tf.unstack(kernel, num=num_groups))]
  return _restore_batch(tf.dynamic_stitch(indices, outs), x)


def _matmul_masked(x, labels, kernel):
  num_groups, k, n = kernel.shape
  p = x.shape[1]
  onehot = tf.one_hot(labels, num_groups, dtype=x.dtype)  # [B, G]
  xg = x[:, :, None, :] * onehot[:, None, :, None]  # [B, P, G, K]
  y = tf.matmul(tf.reshape(xg, [-1, num_groups * k]),
                tf.reshape(kernel, [num_groups * k, n]))
  return tf.reshape(y, [-1, p, n])


def tile_slots(labels, num_groups, tile, batch):
  """Slot of each example in the tiled layout and the group of each tile.

  Examples are laid out group by group, each group padded up to a multiple of
  `tile`; returns slot [B] (int32), tile_group [num_tiles] and num_tiles.
  """
  onehot = tf.one_hot(labels, num_groups, dtype=tf.int32)  # [B, G]
  counts = tf.reduce_sum(onehot, axis=0)  # [G]
  rank = tf.reduce_sum(tf.cumsum(onehot, axis=0, exclusive=True) * onehot,
                       axis=1)  # [B] position within its group
  padded = (counts + tile - 1) // tile * tile  # [G]
  ends = tf.cumsum(padded)  # [G]
  slot = tf.gather(ends - padded, labels) + rank  # [B]
  # Non-empty tiles are at most B and at most (B + G (tile - 1)) / tile.
  if isinstance(batch, int):
    num_tiles = min(batch, (batch + num_groups * (tile - 1)) // tile)
  else:
    num_tiles = tf.minimum(batch, (batch + num_groups * (tile - 1)) // tile)
  starts = tf.range(num_tiles) * tile
  tile_group = tf.reduce_sum(
      tf.cast(starts[:, None] >= ends[None, :], tf.int32), axis=1)
  tile_group = tf.minimum(tile_group, num_groups - 1)  # empty tail tiles
  return slot, tile_group, num_tiles


def _matmul_sorted(x, labels, kernel, tile):
  num_groups, k, n = kernel.shape
  p = x.shape[1]
  batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
  slot, tile_group, num_tiles = tile_slots(labels, num_groups, tile, batch)
  x_tiles = tf.scatter_nd(slot[:, None], x, tf.stack([num_tiles * tile, p, k]))
  x_tiles = tf.reshape(x_tiles, [num_tiles, tile * p, k])
  w_tiles = tf.gather(kernel, tile_group)  # [num_tiles, K, N]
  y_tiles = tf.reshape(tf.matmul(x_tiles, w_tiles), [-1, p, n])
  return tf.gather(y_tiles, slot)  # [B, P, N]


_MATMULS = {
    "gather": _matmul_gather,
    "partition": _matmul_partition,
    "masked": _matmul_masked,
}


def _routed_matmul(x, labels, kernel, strategy, kind, sorted_tile=None):
  """x[B, P, K] @ kernel[labels][K, N] -> [B, P, N]."""
  if strategy == "sorted":
    return _matmul_sorted(x, labels, kernel, sorted_tile or SORTED_TILE[kind])
  return _MATMULS[strategy](x, labels, kernel)


def _add_bias(y, labels, bias):
  """y[B, ..., N] + bias[labels] broadcast over the middle axes."""
  if bias is None:
    return y
  b = tf.gather(bias, labels)  # [B, N]
  return y + tf.reshape(b, [-1] + [1] * (len(y.shape) - 2) + [bias.shape[-1]])


# ---------------------------------------------------------------------------
# Public functions.
# ---------------------------------------------------------------------------


def routed_dense(x, labels, kernel, bias=None, strategy="auto", sorted_tile=None,
                 layout="any"):
  """Per-label dense layer.

  Args:
    x: float [B, in].
    labels: int [B], values in [0, G).
    kernel: [G, in, out]; group g is an ordinary Dense kernel.
    bias: [G, out] or None.
    strategy: "auto" or one of STRATEGIES.
    sorted_tile: examples per tile of the "sorted" strategy (default SORTED_TILE["dense"]).
    layout: "any", or "balanced" (labels grouped, B/G each; see the module docstring).

  Returns:
    [B, out] with row b equal to x[b] @ kernel[labels[b]] + bias[labels[b]].
  """
  check_layout(layout)
  if layout == "balanced":
    x = tf.convert_to_tensor(x)
    num_groups, _, out = kernel.shape
    x, n = _check_balanced(x, labels, num_groups)
    # einsum('gbi,gio->gbo') as a batched matmul: the same under XLA, and without XLA its
    # gradient needs no transposed copies of the kernel (einsum's does).
    y = tf.matmul(tf.reshape(x, [num_groups, n, -1]), kernel)  # [G, n, out]
    if bias is not None:
      y += bias[:, None, :]
    return tf.reshape(y, [num_groups * n, out])
  strategy = resolve_strategy(strategy, "dense")
  labels = _check_labels(labels, kernel.shape[0])
  x = tf.convert_to_tensor(x)
  y = _routed_matmul(x[:, None, :], labels, kernel, strategy, "dense", sorted_tile)
  y = y[:, 0, :]  # [B, out]
  return _add_bias(y, labels, bias)


def _partition_apply(op, x, labels, kernel):
  """Runs op(x_g, kernel[g]) on each label group and stitches the results.

  One dummy zero example per group is appended so no group is empty: TF's CPU
  conv ops (and their gradients) return an empty tensor shaped like their
  *input* for a batch of 0, which breaks dynamic_stitch, and grappler removes
  any reshape meant to fix it. The extra G examples cost ~G/B of the compute.
  """
  num_groups = kernel.shape[0]
  batch = tf.shape(x)[0]
  x_aug = tf.concat([x, tf.zeros([num_groups] + x.shape[1:], x.dtype)], 0)
  labels_aug = tf.concat([labels, tf.range(num_groups)], 0)
  parts = tf.dynamic_partition(x_aug, labels_aug, num_groups)
  indices = tf.dynamic_partition(tf.range(batch + num_groups), labels_aug,
                                 num_groups)
  outs = [op(xg, wg) for xg, wg in zip(parts, tf.unstack(kernel,
                                                          num=num_groups))]
  return _restore_batch(tf.dynamic_stitch(indices, outs)[:batch], x)


def _conv_patches(x, kernel_size, strides, padding):
  """im2col by strided slices: [B,H,W,C] -> [B,H',W',kh*kw*C], (i,j,c) order."""
  (kh, kw), (sh, sw) = kernel_size, strides
  _, h, w, _ = x.shape
  if padding == "same":
    ph0, ph1, ho = _same_padding(h, kh, sh)
    pw0, pw1, wo = _same_padding(w, kw, sw)
    x = tf.pad(x, [[0, 0], [ph0, ph1], [pw0, pw1], [0, 0]])
  else:
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
  cols = [x[:, i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw, :]
          for i in range(kh) for j in range(kw)]
  return tf.concat(cols, axis=-1)


def _to_groups(y, num_groups, n):
  """[B, ...] -> [G, n, ...]."""
  return tf.reshape(y, [num_groups, n] + y.shape[1:].as_list())


def _stack_channels(x, num_groups, n):
  """[G n, H, W, C] -> [n, H, W, G C]: example b of each group side by side along channels."""
  _, h, w, c = x.shape
  x = tf.transpose(tf.reshape(x, [num_groups, n, h, w, c]), [1, 2, 3, 0, 4])
  return tf.reshape(x, [n, h, w, num_groups * c])


def _unstack_channels(y, num_groups, n):
  """[n, H, W, G F] -> [G, n, H, W, F]."""
  _, h, w, gf = y.shape
  y = tf.reshape(y, [n, h, w, num_groups, gf // num_groups])
  return tf.transpose(y, [3, 0, 1, 2, 4])


def _add_group_bias(y, bias):
  """y [G, n, ..., F] + bias[g] -> [G n, ..., F]."""
  if bias is not None:
    y += tf.reshape(bias, [bias.shape[0]] + [1] * (len(y.shape) - 2) + [bias.shape[-1]])
  return tf.reshape(y, [-1] + y.shape[2:].as_list())


def _check_balanced_form(form):
  """Maps None to BALANCED_CONV_FORM; raises ValueError for an unknown form."""
  form = BALANCED_CONV_FORM if form is None else form
  if form not in BALANCED_CONV_FORMS:
    raise ValueError(f"Unknown balanced_form {form!r}; use one of {BALANCED_CONV_FORMS}.")
  return form


def _per_slice(x, kernel, num_groups, n, conv):
  """conv(x_g [n, H, W, C], kernel[g]) for each group's static slice -> [G, n, H', W', F]."""
  slices = tf.unstack(_to_groups(x, num_groups, n), num=num_groups)
  return tf.stack([conv(xg, wg) for xg, wg in zip(slices, tf.unstack(kernel, num=num_groups))])


def _balanced_conv2d(x, labels, kernel, bias, strides, padding, form):
  num_groups, kh, kw, c, f = kernel.shape
  x, n = _check_balanced(x, labels, num_groups)
  conv_strides = [1, strides[0], strides[1], 1]
  if form == "slices":
    return _add_group_bias(_per_slice(
        x, kernel, num_groups, n,
        lambda xg, wg: tf.nn.conv2d(xg, wg, conv_strides, padding.upper())), bias)
  if in_xla_context():  # One grouped convolution (no CPU gradient for it outside XLA).
    w = tf.reshape(tf.transpose(kernel, [1, 2, 3, 0, 4]), [kh, kw, c, num_groups * f])
    y = tf.nn.conv2d(_stack_channels(x, num_groups, n), w, conv_strides,
                     padding.upper())  # [n, H', W', G F]
    return _add_group_bias(_unstack_channels(y, num_groups, n), bias)
  cols = _conv_patches(x, (kh, kw), strides, padding)  # [B, H', W', K]
  _, ho, wo, k = cols.shape
  y = tf.matmul(tf.reshape(cols, [num_groups, n * ho * wo, k]),
                tf.reshape(kernel, [num_groups, k, f]))  # [G, n H' W', F]
  return _add_group_bias(tf.reshape(y, [num_groups, n, ho, wo, f]), bias)


def routed_conv2d(x, labels, kernel, bias=None, strides=1, padding="same",
                  strategy="auto", sorted_tile=None, layout="any", balanced_form=None):
  """Per-label 2-D convolution (no dilation).

  Args:
    x: float [B, H, W, C] (H, W, C static).
    labels: int [B], values in [0, G).
    kernel: [G, kh, kw, C, F]; group g is an ordinary Conv2D kernel.
    bias: [G, F] or None.
    strides: int or (sh, sw).
    padding: "same" or "valid", as in keras.layers.Conv2D.
    strategy: "auto" or one of STRATEGIES.
    sorted_tile: examples per tile of the "sorted" strategy (default SORTED_TILE["conv"]).
    layout: "any", or "balanced" (labels grouped, B/G each; see the module docstring).
    balanced_form: with layout "balanced", one of BALANCED_CONV_FORMS (default
      BALANCED_CONV_FORM).

  Returns:
    [B, H', W', F], the shape keras.layers.Conv2D gives.
  """
  check_layout(layout)
  form = _check_balanced_form(balanced_form)
  if layout == "balanced":
    return _balanced_conv2d(tf.convert_to_tensor(x), labels, kernel, bias, _pair(strides),
                            padding.lower(), form)
  num_groups, kh, kw, c, f = kernel.shape
  strategy = resolve_strategy(strategy, "conv", c)
  labels = _check_labels(labels, num_groups)
  strides, padding = _pair(strides), padding.lower()
  x = tf.convert_to_tensor(x)
  conv_strides = [1, strides[0], strides[1], 1]
  if strategy == "partition":
    y = _partition_apply(
        lambda xg, wg: tf.nn.conv2d(xg, wg, conv_strides, padding.upper()),
        x, labels, kernel)
  elif strategy == "masked":
    onehot = tf.one_hot(labels, num_groups, dtype=x.dtype)  # [B, G]
    xg = x[:, :, :, None, :] * onehot[:, None, None, :, None]  # [B,H,W,G,C]
    xg = tf.reshape(xg, [-1] + x.shape[1:3].as_list() + [num_groups * c])
    w = tf.reshape(tf.transpose(kernel, [1, 2, 0, 3, 4]),
                   [kh, kw, num_groups * c, f])
    y = tf.nn.conv2d(xg, w, conv_strides, padding.upper())
  else:
    cols = _conv_patches(x, (kh, kw), strides, padding)  # [B, H', W', K]
    _, ho, wo, k = cols.shape
    y = _routed_matmul(tf.reshape(cols, [-1, ho * wo, k]), labels,
                       tf.reshape(kernel, [num_groups, k, f]), strategy, "conv",
                       sorted_tile)
    y = tf.reshape(y, [-1, ho, wo, f])
  return _add_bias(y, labels, bias)


def _overlap_add(cols, in_size, kernel_size, strides, padding):
  """col2im: [B,H,W,Rh,sh,Rw,sw,F] per-pixel kernel products -> [B,H',W',F].

  Pixel (h, w) adds its (i, j) product at output (h*sh + i - pad_h,
  w*sw + j - pad_w), where i = r*sh + a (kernel zero-padded to Rh*sh rows).
  """
  (h, w), (kh, kw), (sh, sw) = in_size, kernel_size, strides
  _, _, _, rh, _, rw, _, f = cols.shape
  total = None
  for r in range(rh):
    for q in range(rw):
      term = tf.pad(cols[:, :, :, r, :, q, :, :],
                    [[0, 0], [r, rh - 1 - r], [q, rw - 1 - q],
                     [0, 0], [0, 0], [0, 0]])  # [B, U, V, sh, sw, F]
      total = term if total is None else total + term
  u, v = h + rh - 1, w + rw - 1
  full = tf.reshape(tf.transpose(total, [0, 1, 3, 2, 4, 5]),
                    [-1, u * sh, v * sw, f])
  out_h = _conv_transpose_size(h, kh, sh, padding)
  out_w = _conv_transpose_size(w, kw, sw, padding)
  if padding == "same":
    pad_h = max(kh - sh, 0) // 2
    pad_w = max(kw - sw, 0) // 2
  else:
    pad_h = pad_w = 0
  full = tf.pad(full, [[0, 0], [0, max(pad_h + out_h - u * sh, 0)],
                       [0, max(pad_w + out_w - v * sw, 0)], [0, 0]])
  return full[:, pad_h:pad_h + out_h, pad_w:pad_w + out_w, :]


def _pixel_kernel(kernel, strides):
  """[G, kh, kw, F, C] -> [G, C, Rh sh Rw sw F]: the per-pixel products of a transposed conv."""
  num_groups, kh, kw, f, c = kernel.shape
  (sh, sw) = strides
  rh, rw = math.ceil(kh / sh), math.ceil(kw / sw)
  wp = tf.pad(kernel, [[0, 0], [0, rh * sh - kh], [0, rw * sw - kw],
                       [0, 0], [0, 0]])  # [G, Rh*sh, Rw*sw, F, C]
  return tf.reshape(tf.transpose(wp, [0, 4, 1, 2, 3]), [num_groups, c, rh * sh * rw * sw * f])


def _balanced_conv2d_transpose(x, labels, kernel, bias, strides, padding, form):
  num_groups, kh, kw, f, c = kernel.shape
  x, n = _check_balanced(x, labels, num_groups)
  _, h, w, _ = x.shape
  (sh, sw) = strides
  out_h = _conv_transpose_size(h, kh, sh, padding)
  out_w = _conv_transpose_size(w, kw, sw, padding)
  if form == "slices":
    return _add_group_bias(_per_slice(
        x, kernel, num_groups, n,
        lambda xg, wg: tf.nn.conv2d_transpose(xg, wg, [n, out_h, out_w, f], [1, sh, sw, 1],
                                              padding.upper())), bias)
  if in_xla_context():  # One grouped transposed convolution.
    wt = tf.reshape(tf.transpose(kernel, [1, 2, 3, 0, 4]), [kh, kw, f, num_groups * c])
    y = tf.nn.conv2d_transpose(_stack_channels(x, num_groups, n), wt,
                               [n, out_h, out_w, num_groups * f], [1, sh, sw, 1],
                               padding.upper())  # [n, H', W', G F]
    return _add_group_bias(_unstack_channels(y, num_groups, n), bias)
  rh, rw = math.ceil(kh / sh), math.ceil(kw / sw)
  cols = tf.matmul(tf.reshape(x, [num_groups, n * h * w, c]),
                   _pixel_kernel(kernel, strides))  # [G, n h w, Rh sh Rw sw F]
  cols = tf.reshape(cols, [-1, h, w, rh, sh, rw, sw, f])
  y = _overlap_add(cols, (h, w), (kh, kw), (sh, sw), padding)  # [B, H', W', F]
  return _add_group_bias(_to_groups(y, num_groups, n), bias)


def routed_conv2d_transpose(x, labels, kernel, bias=None, strides=1, padding="same",
                            strategy="auto", sorted_tile=None, layout="any", balanced_form=None):
  """Per-label 2-D transposed convolution (no dilation, no output_padding).

  Args:
    x: float [B, H, W, C] (H, W, C static).
    labels: int [B], values in [0, G).
    kernel: [G, kh, kw, F, C]; group g is an ordinary Conv2DTranspose kernel.
    bias: [G, F] or None.
    strides: int or (sh, sw).
    padding: "same" or "valid", as in keras.layers.Conv2DTranspose.
    strategy: "auto" or one of STRATEGIES.
    sorted_tile: examples per tile of the "sorted" strategy (default
      SORTED_TILE["conv_transpose"]).
    layout: "any", or "balanced" (labels grouped, B/G each; see the module docstring).
    balanced_form: with layout "balanced", one of BALANCED_CONV_FORMS (default
      BALANCED_CONV_FORM).

  Returns:
    [B, H', W', F] with H' = H*sh ("same") or H*sh + max(kh - sh, 0)
    ("valid"), exactly as keras.layers.Conv2DTranspose.
  """
  check_layout(layout)
  form = _check_balanced_form(balanced_form)
  if layout == "balanced":
    return _balanced_conv2d_transpose(tf.convert_to_tensor(x), labels, kernel, bias,
                                      _pair(strides), padding.lower(), form)
  num_groups, kh, kw, f, c = kernel.shape
  strategy = resolve_strategy(strategy, "conv_transpose", f)
  labels = _check_labels(labels, num_groups)
  (sh, sw), padding = _pair(strides), padding.lower()
  x = tf.convert_to_tensor(x)
  _, h, w, _ = x.shape
  out_h = _conv_transpose_size(h, kh, sh, padding)
  out_w = _conv_transpose_size(w, kw, sw, padding)
  conv_strides = [1, sh, sw, 1]
  if strategy == "partition":
    y = _partition_apply(
        lambda xg, wg: tf.nn.conv2d_transpose(
            xg, wg, tf.stack([tf.shape(xg)[0], out_h, out_w, f]),
            conv_strides, padding.upper()), x, labels, kernel)
  elif strategy == "masked":
    onehot = tf.one_hot(labels, num_groups, dtype=x.dtype)  # [B, G]
    xg = x[:, :, :, None, :] * onehot[:, None, None, :, None]  # [B,H,W,G,C]
    xg = tf.reshape(xg, [-1, h, w, num_groups * c])
    wt = tf.reshape(tf.transpose(kernel, [1, 2, 3, 0, 4]),
                    [kh, kw, f, num_groups * c])
    y = tf.nn.conv2d_transpose(
        xg, wt, tf.stack([tf.shape(x)[0], out_h, out_w, f]), conv_strides,
        padding.upper())
    y = tf.ensure_shape(y, [x.shape[0], out_h, out_w, f])
  else:
    rh, rw = math.ceil(kh / sh), math.ceil(kw / sw)
    wp = _pixel_kernel(kernel, (sh, sw))
    cols = _routed_matmul(tf.reshape(x, [-1, h * w, c]), labels, wp, strategy,
                          "conv_transpose", sorted_tile)
    cols = tf.reshape(cols, [-1, h, w, rh, sh, rw, sw, f])
    y = _overlap_add(cols, (h, w), (kh, kw), (sh, sw), padding)
  return _add_bias(y, labels, bias)
