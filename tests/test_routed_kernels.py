"""Tests for kernels/routed.py against G ordinary Keras layers routed by mask.

Every strategy must equal the reference forward and in its gradients w.r.t. x,
kernel and bias, in eager, tf.function and tf.function(jit_compile=True).
Sizes are tiny and distinct (G=3, B=5, ...) so a swapped axis fails.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from kernels import routed

STRATEGIES = routed.STRATEGIES
MODES = ("eager", "function", "xla")
G = 3


def _run(fn, mode, args, signature=None):
  if mode == "eager":
    return fn(*args)
  return tf.function(fn, jit_compile=(mode == "xla"),
                     input_signature=signature)(*args)


def _reference(make_layer, x, labels, kernel, bias):
  """Sum over g of mask_g * keras_layer_g(x); layer g holds kernel[g] etc."""
  layers = []
  for g in range(G):
    layer = make_layer()
    layer.build(x.shape)
    layer.kernel.assign(kernel[g])
    layer.bias.assign(bias[g])
    layers.append(layer)
  xv = tf.constant(x)
  upstream = None
  with tf.GradientTape() as tape:
    tape.watch(xv)
    y = 0.
    for g, layer in enumerate(layers):
      mask = tf.cast(tf.equal(labels, g), tf.float32)
      y += tf.reshape(mask, [-1] + [1] * (len(x.shape) - 1)) * layer(xv)
    upstream = np.random.RandomState(7).normal(size=y.shape).astype("float32")
    loss = tf.reduce_sum(y * upstream)
  grads = tape.gradient(loss, [xv] + [l.kernel for l in layers] +
                        [l.bias for l in layers])
  dx = grads[0]
  dk = np.stack([g.numpy() for g in grads[1:1 + G]])
  db = np.stack([g.numpy() for g in grads[1 + G:]])
  return y.numpy(), upstream, dx.numpy(), dk, db


def _routed_with_grads(fn, upstream):
  def forward_backward(x, labels, kernel, bias):
    with tf.GradientTape() as tape:
      tape.watch([x, kernel, bias])
      y = fn(x, labels, kernel, bias)
      loss = tf.reduce_sum(y * upstream)
    grads = tape.gradient(loss, [x, kernel, bias])
    # Gather-based strategies give tf.IndexedSlices for kernel and bias.
    return (y,) + tuple(tf.convert_to_tensor(g) for g in grads)
  return forward_backward


def _check(fn, make_layer, x_shape, kernel_shape, bias_shape, labels, mode,
           unknown_batch=False):
  rng = np.random.RandomState(0)
  x = rng.normal(size=x_shape).astype("float32")
  kernel = rng.normal(size=kernel_shape).astype("float32")
  bias = rng.normal(size=bias_shape).astype("float32")
  labels = np.asarray(labels, np.int32)
  want = _reference(make_layer, x, labels, kernel, bias)
  y_ref, upstream = want[0], want[1]
  signature = None
  if unknown_batch:
    signature = [tf.TensorSpec([None] + list(x_shape[1:]), tf.float32),
                 tf.TensorSpec([None], tf.int32),
                 tf.TensorSpec(kernel_shape, tf.float32),
                 tf.TensorSpec(bias_shape, tf.float32)]
  got = _run(_routed_with_grads(fn, upstream), mode,
             [tf.constant(x), tf.constant(labels), tf.constant(kernel),
              tf.constant(bias)], signature)
  y, dx, dk, db = [t.numpy() for t in got]
  assert y.shape == y_ref.shape
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dx, want[2], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dk, want[3], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(db, want[4], rtol=1e-5, atol=1e-5)


# label sets: group 1 absent; batch size 1.
LABELS = {"absent_group": [2, 0, 0, 2, 2], "batch1": [1]}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("case", sorted(LABELS))
def test_dense_matches_keras_layers(case, strategy, mode):
  labels = LABELS[case]
  b = len(labels)
  _check(lambda x, l, k, bb: routed.routed_dense(x, l, k, bb, strategy),
         lambda: keras.layers.Dense(6), (b, 4), (G, 4, 6), (G, 6), labels, mode)


@pytest.mark.parametrize("mode", ("function", "xla"))
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_dense_unknown_batch(strategy, mode):
  _check(lambda x, l, k, bb: routed.routed_dense(x, l, k, bb, strategy),
         lambda: keras.layers.Dense(6), (5, 4), (G, 4, 6), (G, 6),
         [1, 0, 1, 1, 0], mode, unknown_batch=True)


# (kernel_size, strides, padding, input HxW).
CONV_CASES = {
    "k3_s2_same": ((3, 2), (2, 2), "same", (7, 6)),
    "k2_s1_valid": ((2, 3), (1, 1), "valid", (5, 4)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv2d_matches_keras_layers(case, strategy, mode):
  ksize, strides, padding, (h, w) = CONV_CASES[case]
  labels = LABELS["absent_group"]
  _check(lambda x, l, k, bb: routed.routed_conv2d(
      x, l, k, bb, strides, padding, strategy),
         lambda: keras.layers.Conv2D(4, ksize, strides, padding),
         (len(labels), h, w, 2), (G,) + ksize + (2, 4), (G, 4), labels, mode)


CONV_T_CASES = {
    "k4_s2_same": ((4, 3), (2, 2), "same", (3, 2)),
    "k3_s2_valid": ((3, 3), (2, 1), "valid", (2, 3)),
    "k2_s3_valid": ((2, 2), (3, 3), "valid", (2, 2)),  # kernel < stride
    "k3_s3_same": ((3, 2), (3, 2), "same", (2, 3)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("case", sorted(CONV_T_CASES))
def test_conv2d_transpose_matches_keras_layers(case, strategy, mode):
  ksize, strides, padding, (h, w) = CONV_T_CASES[case]
  labels = LABELS["absent_group"]
  _check(lambda x, l, k, bb: routed.routed_conv2d_transpose(
      x, l, k, bb, strides, padding, strategy),
         lambda: keras.layers.Conv2DTranspose(4, ksize, strides, padding),
         (len(labels), h, w, 2), (G,) + ksize + (4, 2), (G, 4), labels, mode)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_conv_batch1_and_unknown_batch(strategy):
  ksize, strides, padding, (h, w) = CONV_T_CASES["k4_s2_same"]
  _check(lambda x, l, k, bb: routed.routed_conv2d_transpose(
      x, l, k, bb, strides, padding, strategy),
         lambda: keras.layers.Conv2DTranspose(4, ksize, strides, padding),
         (1, h, w, 2), (G,) + ksize + (4, 2), (G, 4), [2], "function",
         unknown_batch=True)
  ksize, strides, padding, (h, w) = CONV_CASES["k3_s2_same"]
  _check(lambda x, l, k, bb: routed.routed_conv2d(
      x, l, k, bb, strides, padding, strategy),
         lambda: keras.layers.Conv2D(4, ksize, strides, padding),
         (1, h, w, 2), (G,) + ksize + (2, 4), (G, 4), [0], "xla",
         unknown_batch=True)


def test_no_bias():
  x = tf.constant(np.arange(10, dtype="float32").reshape(5, 2))
  kernel = tf.constant(np.arange(18, dtype="float32").reshape(3, 2, 3))
  y = routed.routed_dense(x, [0, 1, 2, 0, 1], kernel, None, "gather")
  want = np.stack([x[i].numpy() @ kernel[l].numpy()
                   for i, l in enumerate([0, 1, 2, 0, 1])])
  np.testing.assert_allclose(y.numpy(), want)
  assert y.numpy()[0].tolist() == [3.0, 4.0, 5.0]  # [0, 1] @ [[0,1,2],[3,4,5]]


@pytest.mark.parametrize("strategy", ("auto",) + STRATEGIES)
@pytest.mark.parametrize("bad", (3, -1))
def test_out_of_range_label_says_what_to_do(strategy, bad):
  x = tf.ones([2, 4])
  kernel = tf.ones([G, 4, 6])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"in \[0, 3\)|labels must be class indices"):
    routed.routed_dense(x, [0, bad], kernel, None, strategy)
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_groups"):
    tf.function(routed.routed_dense)(x, tf.constant([bad, 0]), kernel, None,
                                     strategy)


def test_unknown_strategy_raises():
  with pytest.raises(ValueError, match="one of"):
    routed.routed_dense(tf.ones([2, 4]), [0, 1], tf.ones([G, 4, 6]), None,
                        "fastest")


def test_auto_resolves_by_xla_context():
  seen = {}

  def probe(x):
    seen[routed.in_xla_context()] = (
        routed.resolve_strategy("auto", "conv", 32),
        routed.resolve_strategy("auto", "conv_transpose", 1))
    return x

  probe(tf.ones(2))
  tf.function(probe)(tf.ones(3))
  tf.function(probe, jit_compile=True)(tf.ones(4))
  for xla in (False, True):
    assert seen[xla] == (
        routed.AUTO_STRATEGY[("conv", xla)],
        routed.AUTO_STRATEGY_IMAGE_SIDE[("conv_transpose", xla)])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tile", (1, 2, 7))
def test_sorted_tile_argument_matches_keras_layers(tile, mode):
  # A tile passed per call (as benchmarks.layers does) gives the reference values; the
  # module's SORTED_TILE defaults are left as they were.
  defaults = dict(routed.SORTED_TILE)
  labels = LABELS["absent_group"]
  _check(lambda x, l, k, bb: routed.routed_dense(x, l, k, bb, "sorted", sorted_tile=tile),
         lambda: keras.layers.Dense(6), (5, 4), (G, 4, 6), (G, 6), labels, mode)
  ksize, strides, padding, (h, w) = CONV_CASES["k3_s2_same"]
  _check(lambda x, l, k, bb: routed.routed_conv2d(
      x, l, k, bb, strides, padding, "sorted", sorted_tile=tile),
         lambda: keras.layers.Conv2D(4, ksize, strides, padding),
         (len(labels), h, w, 2), (G,) + ksize + (2, 4), (G, 4), labels, mode)
  ksize, strides, padding, (h, w) = CONV_T_CASES["k4_s2_same"]
  _check(lambda x, l, k, bb: routed.routed_conv2d_transpose(
      x, l, k, bb, strides, padding, "sorted", sorted_tile=tile),
         lambda: keras.layers.Conv2DTranspose(4, ksize, strides, padding),
         (len(labels), h, w, 2), (G,) + ksize + (4, 2), (G, 4), labels, mode)
  assert routed.SORTED_TILE == defaults


@pytest.mark.parametrize("tile", (1, 2, 4))
def test_sorted_tile_layout(tile):
  labels = tf.constant([2, 0, 0, 2, 2], tf.int32)
  slot, tile_group, num_tiles = routed.tile_slots(labels, G, tile, 5)
  counts = {0: 2, 1: 0, 2: 3}
  padded = {g: -(-n // tile) * tile for g, n in counts.items()}
  assert num_tiles == min(5, (5 + G * (tile - 1)) // tile)
  assert sum(padded.values()) <= num_tiles * tile
  # Group 0 occupies the first slots in batch order, then group 2.
  assert slot.numpy().tolist() == [padded[0], 0, 1, padded[0] + 1,
                                   padded[0] + 2]
  for example, l in enumerate(labels.numpy()):
    assert tile_group.numpy()[slot.numpy()[example] // tile] == l


# The balanced layout: B = G n examples, n of each label, grouped in label order (n = 2).
BALANCED = [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("mode", MODES)
def test_balanced_dense_matches_keras_layers(mode):
  _check(lambda x, l, k, bb: routed.routed_dense(x, l, k, bb, layout="balanced"),
         lambda: keras.layers.Dense(5), (6, 4), (G, 4, 5), (G, 5), BALANCED, mode)


@pytest.mark.parametrize("form", routed.BALANCED_CONV_FORMS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_balanced_conv2d_matches_keras_layers(case, mode, form):
  ksize, strides, padding, (h, w) = CONV_CASES[case]
  _check(lambda x, l, k, bb: routed.routed_conv2d(
      x, l, k, bb, strides, padding, layout="balanced", balanced_form=form),
         lambda: keras.layers.Conv2D(4, ksize, strides, padding),
         (6, h, w, 2), (G,) + ksize + (2, 4), (G, 4), BALANCED, mode)


@pytest.mark.parametrize("form", routed.BALANCED_CONV_FORMS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ("k4_s2_same", "k3_s2_valid", "k2_s3_valid"))
def test_balanced_conv2d_transpose_matches_keras_layers(case, mode, form):
  ksize, strides, padding, (h, w) = CONV_T_CASES[case]
  _check(lambda x, l, k, bb: routed.routed_conv2d_transpose(
      x, l, k, bb, strides, padding, layout="balanced", balanced_form=form),
         lambda: keras.layers.Conv2DTranspose(4, ksize, strides, padding),
         (6, h, w, 2), (G,) + ksize + (4, 2), (G, 4), BALANCED, mode)


def test_balanced_labels_are_grouped_in_label_order():
  assert routed.balanced_labels(G, 6).numpy().tolist() == BALANCED
  with pytest.raises(ValueError, match="positive multiple of the 3 groups, got 7"):
    routed.balanced_labels(G, 7)


@pytest.mark.parametrize("labels", ([0, 1, 0, 1, 2, 2], [0, 0, 0, 1, 2, 2]))
def test_balanced_layout_refuses_other_labels(labels):
  x, kernel = tf.ones([6, 4]), tf.ones([G, 4, 5])
  for fn in (routed.routed_dense, tf.function(routed.routed_dense)):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="grouped by label in group order, 2 of each of the 3 groups"):
      fn(x, tf.constant(labels), kernel, None, layout="balanced")


def test_unknown_balanced_form_is_refused():
  for fn in (routed.routed_conv2d, routed.routed_conv2d_transpose):
    with pytest.raises(ValueError, match=r"Unknown balanced_form 'tiles'; use one of \('slices', "
                       r"'grouped'\)"):
      fn(tf.ones([6, 4, 4, 2]), BALANCED, tf.ones([G, 2, 2, 2, 2]), layout="balanced",
         balanced_form="tiles")


def test_balanced_layout_refuses_a_batch_that_is_no_multiple_of_the_groups():
  with pytest.raises(ValueError, match="multiple of the 3 groups, got 5; use layout='any'"):
    routed.routed_dense(tf.ones([5, 4]), [0, 0, 1, 1, 2], tf.ones([G, 4, 5]), None,
                        layout="balanced")
  with pytest.raises(ValueError, match="Unknown routed layout 'sorted'"):
    routed.routed_dense(tf.ones([6, 4]), BALANCED, tf.ones([G, 4, 5]), None, layout="sorted")
