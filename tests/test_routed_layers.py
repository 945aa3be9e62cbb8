"""Tests for tfdis/routed_layers.py: routing, init, config, SavedModel, XLA."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdis.model import routed_layers

G = 3
LABELS = np.array([2, 0, 0, 2, 2], np.int32)  # group 1 absent, B=5

# name -> (factory, input shape without batch, matching keras layer factory).
LAYERS = {
    "dense": (lambda **kw: routed_layers.RoutedDense(6, G, **kw), (4,),
              lambda: keras.layers.Dense(6, activation="tanh")),
    "conv": (lambda **kw: routed_layers.RoutedConv2D(
        4, (3, 2), G, strides=2, **kw), (7, 6, 2),
             lambda: keras.layers.Conv2D(4, (3, 2), 2, "same",
                                         activation="tanh")),
    "conv_transpose": (lambda **kw: routed_layers.RoutedConv2DTranspose(
        4, 3, G, strides=(2, 1), padding="valid", **kw), (3, 2, 2),
                       lambda: keras.layers.Conv2DTranspose(
                           4, 3, (2, 1), "valid", activation="tanh")),
}


def _inputs(in_shape, batch=5):
  x = np.random.RandomState(0).normal(size=(batch,) + in_shape)
  return tf.constant(x.astype("float32"))


def _built(name, **kwargs):
  make, in_shape, _ = LAYERS[name]
  layer = make(activation="tanh", bias_initializer="random_normal", **kwargs)
  x = _inputs(in_shape)
  y = layer(x, LABELS)
  return layer, x, y


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_matches_keras_layer_per_label(name):
  layer, x, y = _built(name)
  keras_layer = LAYERS[name][2]()
  keras_layer.build(x.shape)
  want = np.zeros(y.shape, "float32")
  for g in range(G):
    keras_layer.kernel.assign(layer.kernel[g])
    keras_layer.bias.assign(layer.bias[g])
    want[LABELS == g] = keras_layer(x).numpy()[LABELS == g]
  np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
  assert tuple(layer.compute_output_shape(x.shape)) == y.shape


@pytest.mark.parametrize("initializer", [
    keras.initializers.GlorotUniform(seed=3),
    "glorot_uniform",  # what the models use: unseeded, so Keras fixes one int seed per instance
])
def test_init_is_per_group_glorot_and_independent(initializer):
  keras.utils.set_random_seed(0)
  layer = routed_layers.RoutedConv2D(5, 3, 4, kernel_initializer=initializer)
  layer.build((None, 6, 6, 2))
  kernel = layer.kernel.numpy()  # [4, 3, 3, 2, 5]
  limit = np.sqrt(6. / (9 * 2 + 9 * 5))  # fans of one group, not of G groups
  assert kernel.shape == (4, 3, 3, 2, 5)
  assert np.abs(kernel).max() <= limit
  assert np.abs(kernel).max() > 0.9 * limit
  for g in range(1, 4):
    assert not np.allclose(kernel[0], kernel[g])
  np.testing.assert_array_equal(layer.bias.numpy(), np.zeros([4, 5]))


def test_unseeded_init_is_independent_per_group_and_repeats_with_the_global_seed():
  def kernel_and_bias():
    keras.utils.set_random_seed(7)
    layer = routed_layers.RoutedDense(6, G, bias_initializer="random_normal")
    layer.build((None, 50))
    return layer.kernel.numpy(), layer.bias.numpy()

  kernel, bias = kernel_and_bias()
  for g in range(1, G):
    # Independent draws: the groups' kernels are uncorrelated, not copies of group 0.
    assert abs(np.corrcoef(kernel[0].ravel(), kernel[g].ravel())[0, 1]) < 0.15
    assert not np.allclose(bias[0], bias[g])
  again_kernel, again_bias = kernel_and_bias()
  np.testing.assert_array_equal(kernel, again_kernel)
  np.testing.assert_array_equal(bias, again_bias)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_config_round_trip(name):
  layer, x, y = _built(name, strategy="masked")
  config = layer.get_config()
  clone = layer.__class__.from_config(config)
  assert clone.get_config() == config
  clone.build(x.shape)
  clone.set_weights(layer.get_weights())
  np.testing.assert_allclose(clone(x, LABELS).numpy(), y.numpy(), rtol=1e-6)
  # Registered under tfdis> so keras deserialises it by name.
  revived = keras.layers.deserialize(keras.layers.serialize(layer))
  assert isinstance(revived, layer.__class__)
  assert revived.strategy == "masked"


def test_unknown_strategy_raises():
  with pytest.raises(ValueError, match="one of"):
    routed_layers.RoutedDense(3, G, strategy="fastest")


def test_saved_model_round_trip(tmp_path):
  x_in = keras.Input((3, 2, 2))
  labels_in = keras.Input((), dtype="int32")
  h = routed_layers.RoutedConv2DTranspose(4, 3, G, strides=2)(x_in, labels_in)
  h = keras.layers.Flatten()(h)
  out = routed_layers.RoutedDense(6, G, activation="relu")(h, labels_in)
  model = keras.Model([x_in, labels_in], out)

  module = tf.Module()
  module.model = model
  module.serve = tf.function(
      lambda x, labels: model([x, labels]),
      input_signature=[tf.TensorSpec([None, 3, 2, 2], tf.float32),
                       tf.TensorSpec([None], tf.int32)])
  tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  x, labels = _inputs((3, 2, 2)), tf.constant(LABELS)
  want = model([x, labels]).numpy()
  np.testing.assert_allclose(loaded.serve(x, labels).numpy(), want, rtol=1e-6)
  np.testing.assert_allclose(loaded.serve(x[:2], labels[:2]).numpy(),
                             want[:2], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_jit_compile_matches_eager_with_gradients(name):
  layer, x, _ = _built(name)

  def step(x, labels):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(tf.square(layer(x, labels)))
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    return [loss] + [tf.convert_to_tensor(g) for g in grads]

  want = step(x, LABELS)
  got = tf.function(step, jit_compile=True)(x, tf.constant(LABELS))
  assert len(got) == 4
  for a, b in zip(got, want):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_out_of_range_label_raises():
  layer = routed_layers.RoutedDense(6, G)
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_groups=3"):
    layer(tf.ones([2, 4]), tf.constant([0, 3]))


def test_layer_benchmark_rows():
  # Smoke test of benchmarks.layers: row structure only, never timings.
  from benchmarks import layers as layer_benchmark  # pylint: disable=g-import-not-at-top
  from kernels import routed  # pylint: disable=g-import-not-at-top
  defaults = dict(routed.SORTED_TILE)
  rows = layer_benchmark.run(
      layers=["convT 14x14x32->28x28x1 k4s2"], strategies=("sorted",),
      xla_modes=(False,), rounds=1, warmup=1, batch=3,
      sorted_tiles={"conv_transpose": [2]})
  assert [(r["strategy"], r["xla"]) for r in rows] == [
      ("shared", False), ("sorted(tile=2)", False)]
  assert rows[0]["ratio_to_shared"] == 1.0
  assert all(r["seconds"] > 0 for r in rows)
  assert "| convT 14x14x32->28x28x1 k4s2 | sorted(tile=2) | False |" in (
      layer_benchmark.format_table(rows))
  assert routed.SORTED_TILE == defaults  # the tile is an argument, not a module global


def test_layer_benchmark_times_every_balanced_conv_form():
  from benchmarks import layers as layer_benchmark  # pylint: disable=g-import-not-at-top
  rows = layer_benchmark.run(
      layers=["conv 28x28x1->14x14x32 k4s2"], strategies=("balanced",), xla_modes=(False,),
      rounds=1, warmup=1, batch=10)
  assert [r["strategy"] for r in rows] == ["shared", "balanced", "balanced(grouped)"]
  assert all(r["seconds"] > 0 for r in rows)
  # A batch that is no multiple of the 10 labels has no balanced layout.
  rows = layer_benchmark.run(
      layers=["conv 28x28x1->14x14x32 k4s2"], strategies=("balanced",), xla_modes=(False,),
      rounds=1, warmup=1, batch=12)
  assert [r["strategy"] for r in rows] == ["shared"]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_balanced_layout_call_matches_the_default_layout(name):
  make, in_shape, _ = LAYERS[name]
  layer = make(activation="tanh", bias_initializer="random_normal")
  x = _inputs(in_shape, batch=6)
  labels = np.repeat(np.arange(G), 2).astype(np.int32)  # 2 of each label, grouped
  want = layer(x, labels).numpy()
  np.testing.assert_allclose(layer(x, labels, layout="balanced").numpy(), want, rtol=1e-5,
                             atol=1e-6)
  with pytest.raises(tf.errors.InvalidArgumentError, match="grouped by label"):
    layer(x, labels[::-1].copy(), layout="balanced")
