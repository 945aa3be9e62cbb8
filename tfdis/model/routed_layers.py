"""Keras 3 label-routed ("split") layers.

Shu et al., Section 3 and Appendix A: a *split* layer is G independent layers,
one per class; example (x, y) goes through layer y. Each layer here holds the
G weight sets as one variable with a leading group axis and calls a routed
kernel from kernels/routed.py:

```none
RoutedDense:            y = act(x @ kernel[label] + bias[label])
RoutedConv2D:           y = act(conv2d(x, kernel[label]) + bias[label])
RoutedConv2DTranspose:  y = act(conv2d_transpose(x, kernel[label])
                                + bias[label])
```

Every `call(inputs, labels, layout="any")` takes the kernel's `layout`: "any" for labels in any
order (evaluation, export, arbitrary labels), "balanced" for a training batch of B/G examples per
label grouped in label order (`tfdis.data.balanced`), where routing is a reshape and one batched
matmul or grouped convolution (kernels/routed.py).

Group g is initialised exactly as the matching Keras layer would initialise
its own kernel (fans computed from one group's shape, not over G), and the G
groups are drawn independently.
"""
import keras

from kernels import routed


class _PerGroup(keras.initializers.Initializer):
  """Initialises [G, *shape] as G independent draws of `initializer(shape)`.

  Calling e.g. glorot_uniform on the stacked shape would count G in the fans,
  so each group is drawn on its own. A Keras random initializer holds an int
  seed and repeats its values on every call — also when it was made without a
  seed, since Keras then draws that int once, at construction (from the global
  seed of `keras.utils.set_random_seed`). Group g therefore draws with the seed
  `seed + g`; an initializer seeded by a SeedGenerator advances on every call,
  and a constant one (zeros) has nothing to draw.
  """

  def __init__(self, initializer, num_groups):
    self.initializer = keras.initializers.get(initializer)
    self.num_groups = num_groups

  def _for_group(self, g):
    seed = getattr(self.initializer, "seed", None)
    if isinstance(seed, int) and not isinstance(seed, bool):
      config = self.initializer.get_config()
      config["seed"] = seed + g
      return self.initializer.__class__.from_config(config)
    return self.initializer

  def __call__(self, shape, dtype=None):
    assert shape[0] == self.num_groups, (shape, self.num_groups)
    return keras.ops.stack([self._for_group(g)(tuple(shape[1:]), dtype=dtype)
                            for g in range(self.num_groups)])


def _pair(value, name):
  if isinstance(value, int):
    return (value, value)
  value = tuple(int(v) for v in value)
  if len(value) != 2:
    raise ValueError(f"{name} must be an int or a pair of ints, got {value}.")
  return value


class _RoutedBase(keras.layers.Layer):
  """Config shared by the routed layers."""

  def __init__(self, num_groups, use_bias=True, activation=None,
               kernel_initializer="glorot_uniform", bias_initializer="zeros",
               strategy="auto", **kwargs):
    super().__init__(**kwargs)
    if strategy != "auto" and strategy not in routed.STRATEGIES:
      raise ValueError(f"Unknown routed strategy {strategy!r}; use 'auto' or "
                       f"one of {routed.STRATEGIES}.")
    self.num_groups = int(num_groups)
    self.use_bias = use_bias
    self.activation = keras.activations.get(activation)
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self.bias_initializer = keras.initializers.get(bias_initializer)
    self.strategy = strategy

  def _add_weights(self, kernel_shape, bias_shape):
    """kernel [G, *kernel_shape] and bias [G, *bias_shape] (or None)."""
    self.kernel = self.add_weight(
        name="kernel", shape=(self.num_groups,) + tuple(kernel_shape),
        initializer=_PerGroup(self.kernel_initializer, self.num_groups))
    self.bias = None
    if self.use_bias:
      self.bias = self.add_weight(
          name="bias", shape=(self.num_groups,) + tuple(bias_shape),
          initializer=_PerGroup(self.bias_initializer, self.num_groups))

  def get_config(self):
    config = super().get_config()
    config.update(
        num_groups=self.num_groups,
        use_bias=self.use_bias,
        activation=keras.activations.serialize(self.activation),
        kernel_initializer=keras.initializers.serialize(
            self.kernel_initializer),
        bias_initializer=keras.initializers.serialize(self.bias_initializer),
        strategy=self.strategy)
    return config


@keras.saving.register_keras_serializable(package="tfdis")
class RoutedDense(_RoutedBase):
  """G dense layers; each example uses the one of its label.

  Weights: kernel [G, in, units], bias [G, units].
  """

  def __init__(self, units, num_groups, **kwargs):
    super().__init__(num_groups, **kwargs)
    self.units = int(units)

  def build(self, input_shape):
    self._add_weights((input_shape[-1], self.units), (self.units,))

  def call(self, inputs, labels, layout="any"):
    """inputs [B, in] float, labels [B] int in [0, G) -> [B, units]; layout "any" | "balanced"."""
    y = routed.routed_dense(inputs, labels, self.kernel, self.bias,
                            self.strategy, layout=layout)
    return self.activation(y)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.units,)

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units)
    return config


class _RoutedConvBase(_RoutedBase):
  """Config shared by the routed convolutions."""

  def __init__(self, filters, kernel_size, num_groups, strides=1,
               padding="same", **kwargs):
    super().__init__(num_groups, **kwargs)
    self.filters = int(filters)
    self.kernel_size = _pair(kernel_size, "kernel_size")
    self.strides = _pair(strides, "strides")
    self.padding = padding.lower()
    if self.padding not in ("same", "valid"):
      raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}.")

  def compute_output_shape(self, input_shape):
    # Each subclass defines spatial_size(n, k, s): output height or width for input size n.
    size = [None if n is None else self.spatial_size(n, k, s)
            for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides)]
    return (input_shape[0],) + tuple(size) + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size,
                  strides=self.strides, padding=self.padding)
    return config


@keras.saving.register_keras_serializable(package="tfdis")
class RoutedConv2D(_RoutedConvBase):
  """G Conv2D layers (channels_last); each example uses the one of its label.

  Weights: kernel [G, kh, kw, C, filters], bias [G, filters].
  """

  def build(self, input_shape):
    self._add_weights(self.kernel_size + (input_shape[-1], self.filters),
                      (self.filters,))

  def call(self, inputs, labels, layout="any"):
    """inputs [B, H, W, C], labels [B] int in [0, G) -> [B, H', W', filters]."""
    y = routed.routed_conv2d(inputs, labels, self.kernel, self.bias,
                             self.strides, self.padding, self.strategy, layout=layout)
    return self.activation(y)

  def spatial_size(self, n, k, s):
    """Output height or width for input size n, kernel size k, stride s."""
    return -(-n // s) if self.padding == "same" else (n - k) // s + 1


@keras.saving.register_keras_serializable(package="tfdis")
class RoutedConv2DTranspose(_RoutedConvBase):
  """G Conv2DTranspose layers (channels_last, output_padding=None).

  Weights: kernel [G, kh, kw, filters, C] (Keras' Conv2DTranspose layout per
  group), bias [G, filters].
  """

  def build(self, input_shape):
    self._add_weights(self.kernel_size + (self.filters, input_shape[-1]),
                      (self.filters,))

  def call(self, inputs, labels, layout="any"):
    """inputs [B, H, W, C], labels [B] int in [0, G) -> [B, H', W', filters]."""
    y = routed.routed_conv2d_transpose(inputs, labels, self.kernel, self.bias,
                                       self.strides, self.padding,
                                       self.strategy, layout=layout)
    return self.activation(y)

  def spatial_size(self, n, k, s):
    """Output height or width for input size n, kernel size k, stride s."""
    return n * s if self.padding == "same" else n * s + max(k - s, 0)


# The layer types that take `labels` as a second call argument (see tfdis.networks).
ROUTED_LAYERS = (RoutedDense, RoutedConv2D, RoutedConv2DTranspose)
