"""Encoder and decoder networks as explicit layer lists, addressable by depth (paper Sec. 2, App. A).

The encoder ω_q(x, y) and decoder ω_p(y, z) of the paper are built here as plain Python lists of
Keras layers so that an experiment can name "layer l" of either network. Layers are counted from
the latent representation, as the paper counts them:

  encoder:  input -> ... -> layer l-2 -> layer l-1 -> layer l (the head producing μ_q, σ_q)
  decoder:  layer l (the first layer, reading [z, y]) -> layer l+1 -> ... -> output logits

so index 0 is the layer touching z in both networks, 1 the next one away from z, and so on. A
*split specification* is `none`, `all`, or a comma-separated list of such indices; split layers are
label-routed (`tfdis.routed_layers`): one weight tensor with a group axis, each example using its
label's weights — the paper's "ten independent networks" (Sec. 2) without ten Python models.

Architectures:
  mlp:   encoder [flatten(x), onehot(y)] -> Dense(h) x n -> Dense(2D)
         decoder [z, onehot(y)] -> Dense(h) x n -> Dense(H*W*C) -> reshape
         (n = num_hidden_layers, 2 by default; the conv nets ignore it)
  conv:  encoder [x, onehot(y) broadcast as channels] -> Conv(32,4,s2) -> Conv(64,4,s2) -> flatten
         -> Dense(h) -> Dense(2D);  decoder [z, onehot(y)] -> Dense(h) -> Dense(H/4*W/4*64)
         -> reshape -> ConvT(32,4,s2) -> ConvT(C,4,s2).  Suits 28x28 and 32x32 digits.
"""
import dataclasses

import keras

from tfdis.errors import UsageError

ARCHITECTURES = ("mlp", "conv")


class SplitSpecError(UsageError):
  """A split specification could not be parsed; the message says what is accepted."""


def parse_split(spec, num_layers, network):
  """Parses a split specification into a set of layer indices counted from the latent.

  Args:
    spec: 'none', 'all', or comma-separated non-negative integers, e.g. '0' or '0,1,2'.
    num_layers: how many weight layers the network has.
    network: 'encoder' or 'decoder', for error messages.

  Returns:
    frozenset of ints in [0, num_layers).
  """
  spec = str(spec).strip().lower()
  if spec in ("", "none"):
    return frozenset()
  if spec == "all":
    return frozenset(range(num_layers))
  try:
    indices = frozenset(int(s) for s in spec.split(","))
  except ValueError:
    raise SplitSpecError(
        f"--{network}_split={spec!r} is not understood; use none, all, or layer indices counted "
        f"from the latent such as 0 or 0,1 (this {network} has layers 0-{num_layers - 1}).") from None
  bad = sorted(i for i in indices if not 0 <= i < num_layers)
  if bad:
    raise SplitSpecError(
        f"--{network}_split names layer(s) {bad}, but this {network} has layers "
        f"0-{num_layers - 1} counted from the latent; pick indices in that range.")
  return indices


@dataclasses.dataclass(frozen=True)
class _LayerSpec:
  kind: str        # dense | conv | conv_transpose | flatten | reshape
  size: int = 0    # units or filters
  activation: str = None
  target_shape: tuple = ()


def _encoder_specs(architecture, image_shape, latent_dim, hidden_units, num_hidden_layers=2):
  del image_shape
  if architecture == "mlp":
    return ([_LayerSpec("flatten")] +
            [_LayerSpec("dense", hidden_units, "relu")] * num_hidden_layers +
            [_LayerSpec("dense", 2 * latent_dim)])
  return [_LayerSpec("conv", 32, "relu"), _LayerSpec("conv", 64, "relu"), _LayerSpec("flatten"),
          _LayerSpec("dense", hidden_units, "relu"), _LayerSpec("dense", 2 * latent_dim)]


def _decoder_specs(architecture, image_shape, hidden_units, num_hidden_layers=2):
  height, width, channels = image_shape
  if architecture == "mlp":
    return ([_LayerSpec("dense", hidden_units, "relu")] * num_hidden_layers +
            [_LayerSpec("dense", height * width * channels),
             _LayerSpec("reshape", target_shape=tuple(image_shape))])
  if height % 4 or width % 4:
    raise UsageError(f"The conv architecture needs image sides divisible by 4, got {image_shape}; "
                     "use --architecture=mlp.")
  return [_LayerSpec("dense", hidden_units, "relu"),
          _LayerSpec("dense", (height // 4) * (width // 4) * 64, "relu"),
          _LayerSpec("reshape", target_shape=(height // 4, width // 4, 64)),
          _LayerSpec("conv_transpose", 32, "relu"), _LayerSpec("conv_transpose", channels)]


def _num_weight_layers(specs):
  return sum(s.kind in ("dense", "conv", "conv_transpose") for s in specs)


def _make_layer(spec, routed, num_groups, name):
  """One Keras layer for `spec`; a label-routed one when `routed`."""
  if spec.kind == "flatten":
    return keras.layers.Flatten(name=name)
  if spec.kind == "reshape":
    return keras.layers.Reshape(spec.target_shape, name=name)
  if routed:
    from tfdis.model import routed_layers  # pylint: disable=g-import-not-at-top
    if spec.kind == "dense":
      return routed_layers.RoutedDense(spec.size, num_groups, activation=spec.activation,
                                       name=name)
    if spec.kind == "conv":
      return routed_layers.RoutedConv2D(spec.size, 4, num_groups, strides=2, padding="same",
                                        activation=spec.activation, name=name)
    return routed_layers.RoutedConv2DTranspose(spec.size, 4, num_groups, strides=2,
                                               padding="same", activation=spec.activation,
                                               name=name)
  if spec.kind == "dense":
    return keras.layers.Dense(spec.size, activation=spec.activation, name=name)
  if spec.kind == "conv":
    return keras.layers.Conv2D(spec.size, 4, strides=2, padding="same",
                               activation=spec.activation, name=name)
  return keras.layers.Conv2DTranspose(spec.size, 4, strides=2, padding="same",
                                      activation=spec.activation, name=name)


def _build(specs, split, num_groups, prefix, counted_from_end):
  n = _num_weight_layers(specs)
  layers, weight_index = [], 0
  for i, spec in enumerate(specs):
    if spec.kind in ("flatten", "reshape"):
      layers.append(_make_layer(spec, False, num_groups, f"{prefix}_{i}_{spec.kind}"))
      continue
    distance = n - 1 - weight_index if counted_from_end else weight_index
    weight_index += 1
    routed = distance in split
    name = f"{prefix}_{i}_{spec.kind}_l{distance}" + ("_routed" if routed else "")
    layers.append(_make_layer(spec, routed, num_groups, name))
  return layers


def num_layers(architecture, network, num_hidden_layers=2):
  """How many weight layers the given network has (the range a split spec may name)."""
  if network == "encoder":
    return _num_weight_layers(_encoder_specs(architecture, (28, 28, 1), 2, 8, num_hidden_layers))
  return _num_weight_layers(_decoder_specs(architecture, (28, 28, 1), 8, num_hidden_layers))


def build_encoder_layers(architecture, image_shape, latent_dim, hidden_units, split="none",
                         num_groups=10, num_hidden_layers=2):
  """The encoder's layers, input to head; the head outputs [B, 2 * latent_dim]."""
  _check_architecture(architecture)
  specs = _encoder_specs(architecture, image_shape, latent_dim, hidden_units, num_hidden_layers)
  indices = parse_split(split, _num_weight_layers(specs), "encoder")
  return _build(specs, indices, num_groups, "encoder", counted_from_end=True)


def build_decoder_layers(architecture, image_shape, hidden_units, split="none", num_groups=10,
                         num_hidden_layers=2):
  """The decoder's layers, [z, y] to output logits [B, H, W, C]."""
  _check_architecture(architecture)
  specs = _decoder_specs(architecture, image_shape, hidden_units, num_hidden_layers)
  indices = parse_split(split, _num_weight_layers(specs), "decoder")
  return _build(specs, indices, num_groups, "decoder", counted_from_end=False)


def _check_architecture(architecture):
  if architecture not in ARCHITECTURES:
    raise UsageError(f"Unknown architecture {architecture!r}; use one of {ARCHITECTURES}.")


def is_routed(layer):
  """Whether `layer` takes the labels as a second input (a label-routed layer)."""
  from tfdis.model import routed_layers  # pylint: disable=g-import-not-at-top
  return isinstance(layer, routed_layers.ROUTED_LAYERS)


def apply_layers(layers, inputs, labels, layout="any"):
  """Runs `inputs` through `layers`, handing `labels` [B] int32 to the label-routed ones.

  `layout` ("any" | "balanced", kernels/routed.py) is what the caller promises about the labels.
  """
  h = inputs
  for layer in layers:
    h = layer(h, labels, layout=layout) if is_routed(layer) else layer(h)
  return h
