"""Times label-routed layers against the shared layer of the same shape.

Section 2 of Shu et al. trains "split" networks (one network per class); a
split layer is a routed kernel from kernels/routed.py. This module measures a
forward + backward pass (gradients w.r.t. input, kernel and bias) of each
routing strategy, with and without XLA, against the ordinary un-routed layer,
by default at batch 260 with the shapes of an MNIST conv VAE. All candidates of
one layer are interleaved in one process (round robin) and the median over
rounds is reported, so drifts in machine load hit every candidate alike. Candidate "balanced" is
the balanced layout (a batch of B/10 examples per label, grouped by label: one batched matmul, or
for convolutions the default `routed.BALANCED_CONV_FORM`, with every other form beside it as
"balanced(<form>)"); it runs only when the batch size is a multiple of 10.

```none
python -c "from benchmarks import layers as b; b.print_table(b.run())"
```
"""
import numpy as np
import tensorflow as tf

from benchmarks import timing
from kernels import routed

NUM_GROUPS = 10
BATCH = 260  # a multiple of NUM_GROUPS, so the balanced layout runs too (256 before #14)

# name -> (kind, input shape without batch, layer arguments).
LAYERS = {
    "dense 784->512": ("dense", (784,), dict(units=512)),
    "dense 512->512": ("dense", (512,), dict(units=512)),
    "conv 28x28x1->14x14x32 k4s2": (
        "conv", (28, 28, 1), dict(filters=32, kernel_size=4, strides=2)),
    "conv 14x14x32->7x7x64 k4s2": (
        "conv", (14, 14, 32), dict(filters=64, kernel_size=4, strides=2)),
    "convT 7x7x64->14x14x32 k4s2": (
        "conv_transpose", (7, 7, 64),
        dict(filters=32, kernel_size=4, strides=2)),
    "convT 14x14x32->28x28x1 k4s2": (
        "conv_transpose", (14, 14, 32),
        dict(filters=1, kernel_size=4, strides=2)),
}


def _shapes(kind, in_shape, args):
  """(kernel shape of one group, bias shape of one group)."""
  if kind == "dense":
    return (in_shape[0], args["units"]), (args["units"],)
  k = args["kernel_size"]
  if kind == "conv":
    return (k, k, in_shape[-1], args["filters"]), (args["filters"],)
  return (k, k, args["filters"], in_shape[-1]), (args["filters"],)


def _shared_fn(kind, args):
  """Ordinary layer maths, as keras.layers.Dense/Conv2D/Conv2DTranspose do."""
  def fn(x, kernel, bias):
    if kind == "dense":
      return tf.matmul(x, kernel) + bias
    s = args["strides"]
    if kind == "conv":
      return tf.nn.bias_add(tf.nn.conv2d(x, kernel, s, "SAME"), bias)
    out = [tf.shape(x)[0], x.shape[1] * s, x.shape[2] * s, args["filters"]]
    return tf.nn.bias_add(
        tf.nn.conv2d_transpose(x, kernel, tf.stack(out), s, "SAME"), bias)
  return fn


def _routed_fn(kind, args, strategy, tile=None, layout="any", form=None):
  """Routed layer maths of one strategy (`tile`: examples per tile of "sorted"; `form`: a
  balanced-layout convolution's form)."""
  def fn(x, labels, kernel, bias):
    if kind == "dense":
      return routed.routed_dense(x, labels, kernel, bias, strategy,
                                 sorted_tile=tile, layout=layout)
    if kind == "conv":
      return routed.routed_conv2d(x, labels, kernel, bias, args["strides"],
                                  "same", strategy, sorted_tile=tile, layout=layout,
                                  balanced_form=form)
    return routed.routed_conv2d_transpose(x, labels, kernel, bias,
                                          args["strides"], "same", strategy,
                                          sorted_tile=tile, layout=layout, balanced_form=form)
  return fn


def _step(fn, xla):
  """tf.function computing fn's outputs' gradients w.r.t. all inputs."""
  def step(upstream, *inputs):
    watched = [t for t in inputs if t.dtype.is_floating]
    with tf.GradientTape() as tape:
      tape.watch(watched)
      loss = tf.reduce_sum(fn(*inputs) * upstream)
    return [tf.convert_to_tensor(g) for g in tape.gradient(loss, watched)]
  return tf.function(step, jit_compile=xla, autograph=False)


def _candidates(kind, args, strategies, sorted_tiles):
  """Yields (strategy label, fn, routed?)."""
  yield "shared", _shared_fn(kind, args), False
  for strategy in strategies:
    if strategy == "sorted":
      for tile in sorted_tiles[kind]:
        yield (f"sorted(tile={tile})", _routed_fn(kind, args, strategy, tile),
               True)
    elif strategy == "balanced":
      # Convolutions: the default form, and each other form as "balanced(<form>)".
      yield strategy, _routed_fn(kind, args, "auto", layout="balanced"), True
      if kind != "dense":
        for form in routed.BALANCED_CONV_FORMS:
          if form != routed.BALANCED_CONV_FORM:
            yield (f"balanced({form})", _routed_fn(kind, args, "auto", layout="balanced",
                                                    form=form), True)
    else:
      yield strategy, _routed_fn(kind, args, strategy), True


def run(layers=None, strategies=("auto",) + routed.STRATEGIES + ("balanced",),
        xla_modes=(False, True),
        rounds=15, warmup=2, batch=BATCH, sorted_tiles=None, seed=0,
        skip=(), log=None):
  """Benchmarks routed strategies against the shared layer.

  Args:
    layers: names from LAYERS (default all).
    strategies: routed strategies to time, and "balanced" for the balanced layout (skipped
      unless batch is a multiple of NUM_GROUPS).
    xla_modes: which of plain tf.function (False) / jit_compile (True) to time.
    rounds: timed round-robin rounds; each candidate is timed once per round.
    warmup: untimed calls per candidate (the first also traces / compiles).
    batch: batch size.
    sorted_tiles: {kind: [examples per tile, ...]} for "sorted" (default
      dense 8/32/64, conv and conv_transpose 1/4/16).
    seed: numpy seed of inputs and labels.
    skip: (layer, strategy, xla) triples not to run (e.g. very slow ones).
    log: optional callable, given each layer's rows as soon as they are done.

  Returns:
    List of dicts with keys layer, strategy, xla, seconds (median of rounds
    for one forward + backward step), ratio_to_shared (over the shared layer
    under the same xla setting) and ratio_to_shared_plain (over the shared
    layer without XLA).
  """
  if sorted_tiles is None:
    sorted_tiles = {"dense": [8, 32, 64], "conv": [1, 4, 16],
                    "conv_transpose": [1, 4, 16]}
  rng = np.random.RandomState(seed)
  rows = []
  for name in layers or LAYERS:
    kind, in_shape, args = LAYERS[name]
    k_shape, b_shape = _shapes(kind, in_shape, args)
    x = tf.constant(rng.normal(size=(batch,) + in_shape).astype("float32"))
    labels = tf.constant(rng.randint(NUM_GROUPS, size=batch).astype("int32"))
    balanced = (routed.balanced_labels(NUM_GROUPS, batch) if batch % NUM_GROUPS == 0
                else None)
    kernel = tf.constant(0.05 * rng.normal(size=k_shape).astype("float32"))
    bias = tf.zeros(b_shape)
    g_kernel = tf.constant(
        0.05 * rng.normal(size=(NUM_GROUPS,) + k_shape).astype("float32"))
    g_bias = tf.zeros((NUM_GROUPS,) + b_shape)
    upstream = None
    timed = {}  # (strategy, xla) -> callable
    for strategy, fn, is_routed in _candidates(kind, args, strategies,
                                               sorted_tiles):
      for xla in xla_modes:
        is_balanced = strategy.startswith("balanced")
        if (name, strategy, xla) in skip or (is_balanced and balanced is None):
          continue
        step = _step(fn, xla)
        inputs = (x, balanced if is_balanced else labels, g_kernel,
                  g_bias) if is_routed else (x, kernel, bias)
        if upstream is None:
          upstream = tf.ones_like(fn(*inputs))
        timed[(strategy, xla)] = lambda s=step, i=inputs: s(upstream, *i)[0].numpy()
    med = timing.interleaved_medians(timed, rounds, warmup)
    layer_rows = []
    for (strategy, xla), seconds in med.items():
      layer_rows.append(dict(
          layer=name, strategy=strategy, xla=xla, seconds=seconds,
          ratio_to_shared=seconds / med.get(("shared", xla), float("nan")),
          ratio_to_shared_plain=seconds / med.get(("shared", False),
                                                 float("nan"))))
    rows.extend(layer_rows)
    if log is not None:
      log(layer_rows)
  return rows


def format_table(rows):
  """Markdown table of run() rows."""
  lines = ["| layer | strategy | xla | ms | x shared (same xla) | "
           "x shared (no xla) |", "|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['layer']} | {r['strategy']} | {r['xla']} | "
                 f"{1e3 * r['seconds']:.2f} | {r['ratio_to_shared']:.2f} | "
                 f"{r['ratio_to_shared_plain']:.2f} |")
  return "\n".join(lines)


def print_table(rows):
  print(format_table(rows))
