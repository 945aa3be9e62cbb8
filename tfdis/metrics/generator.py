"""Any conditional generator, whatever code trained it, held to one contract that LP and SP need.

The contract (every source below is checked against it on a probe batch, and each mismatch is a
`GeneratorError` naming it and the fix):

```none
generate(y, z) -> images
  y       int32 [B], labels 0 .. K-1 (K = num_classes). A SavedModel or .keras model whose label
          input is float [B, K] gets the one-hot of y instead (read from its input signature).
  z       float32 [B, D], z ~ N(0, I): the same z under every label is what SP compares, and the
          rotated reference assumes a rotation-invariant prior. A generator with another prior
          (uniform, say) is wrapped by the user to map N(0, I) to it (e.g. through the CDF).
  images  float [B, H, W, C] in [0, 1], finite, C = 1 (grey) or 3 (colour), one image per row;
          the generator's mean image (or any deterministic function of y and z): the same (y, z)
          must give the same image.
```

Sources: a Python callable (`from_callable`); a SavedModel folder whose signature takes the labels
and z (`from_saved_model`: the signature named `decode`, as tfdis exports, else `serving_default`,
else the only one, or the one named); a `.keras` file whose model takes y and z, matched by
name and dtype as a SavedModel's (unnamed: in the order [y, z]; `from_keras`); `load` picks by path. A folder of images laid out as a label x z grid,
`<folder>/<label>/<column>.png` with column j decoded from the same z_j under every label, is
read by `read_grid_folder` (and written by `write_grid_folder`): it gives LP and SP, but no
rotated reference, since its z cannot be transformed.
"""
import os
import re

import numpy as np
import tensorflow as tf

from tfdis.errors import UsageError

_PROBE_SEED = 20  # seeds the probe batch's z


class GeneratorError(UsageError):
  """The generator breaks the contract; the message names how, and the fix."""


class CheckedGenerator:
  """A generator that keeps the contract, with the attributes the metrics read.

  Attributes:
    num_classes: K.
    latent_dim: D.
    image_shape: (H, W, C).
    name: where it came from, for messages and evaluation.json.
  """

  def __init__(self, generate, num_classes, latent_dim, name="generator"):
    if not callable(generate):
      raise GeneratorError(f"{name}: the generator must be callable as generate(y, z).")
    for what, value in (("num_classes", num_classes), ("latent_dim", latent_dim)):
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GeneratorError(f"{name}: {what}={value!r} must be a positive integer.")
    self._generate = generate
    self.num_classes, self.latent_dim, self.name = int(num_classes), int(latent_dim), name
    y = np.tile(np.arange(self.num_classes, dtype=np.int32), 2)
    z = np.random.default_rng(_PROBE_SEED).standard_normal(
        (len(y), self.latent_dim)).astype(np.float32)
    first = self._checked(y, z)
    if not np.array_equal(first, self._checked(y, z)):
      raise GeneratorError(f"{name}: the same (y, z) gave different images; the generator must be "
                           "a deterministic function of y and z (return its mean image, or fix "
                           "its noise).")
    self.image_shape = tuple(first.shape[1:])

  def _checked(self, y, z):
    try:
      images = self._generate(tf.constant(y), tf.constant(z))
    except Exception as e:  # pylint: disable=broad-except  (any failure of foreign code)
      raise GeneratorError(f"{self.name}: generate(y, z) failed on labels int32 [{len(y)}] and z "
                           f"float32 [{len(y)}, {self.latent_dim}] ({type(e).__name__}: "
                           f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}); "
                           "check num_classes, latent_dim and the label encoding.") from None
    images = np.asarray(images)
    batch = len(y)
    if images.ndim != 4 or images.shape[0] != batch:
      side = int(round(np.sqrt(images.shape[-1]))) if images.ndim == 2 else 0
      fix = (f"reshape each flat row to an image, e.g. [{batch}, {side}, {side}, 1]"
             if images.ndim == 2 and side * side == images.shape[-1] else
             "add a channel axis for grey images" if images.ndim == 3 else
             "return one image per row")
      raise GeneratorError(f"{self.name}: generate(y, z) for {batch} rows returned shape "
                           f"{images.shape}; it must return images [{batch}, H, W, C] ({fix}).")
    if images.shape[-1] not in (1, 3):
      raise GeneratorError(f"{self.name}: images have {images.shape[-1]} channels; the contract "
                           "is C = 1 (grey) or 3 (colour), channels last.")
    if not np.issubdtype(images.dtype, np.floating):
      raise GeneratorError(f"{self.name}: images are {images.dtype}; return float images in "
                           "[0, 1] (e.g. uint8 pixels / 255).")
    if not np.isfinite(images).all():
      raise GeneratorError(f"{self.name}: generate(y, z) returned NaN or infinite pixels for z ~ "
                           "N(0, I).")
    low, high = float(images.min()), float(images.max())
    if low < -1e-4 or high > 1 + 1e-4:
      hint = ("divide by 255" if high > 1.5 else
              "map [-1, 1] to [0, 1] with (x + 1) / 2" if low < -0.5 else "clip to [0, 1]")
      raise GeneratorError(f"{self.name}: pixels range over [{low:.3g}, {high:.3g}]; the contract "
                           f"is [0, 1]: {hint}.")
    return np.clip(images, 0.0, 1.0).astype(np.float32)

  def decode_mean(self, y, z):
    """images float32 [B, H, W, C] in [0, 1] for labels int32 [B] and z float32 [B, D]."""
    return tf.constant(self._checked(np.asarray(y, np.int32), np.asarray(z, np.float32)))


def from_callable(generate, num_classes, latent_dim, name="generator"):
  """A CheckedGenerator of a Python callable generate(y int32 [B], z float32 [B, D])."""
  return CheckedGenerator(generate, num_classes, latent_dim, name)


def _label_and_z(specs, name):
  """Which of two input specs is the label and which is z: (label key, z key, one-hot?)."""
  if len(specs) != 2:
    raise GeneratorError(f"{name}: the endpoint takes {len(specs)} inputs "
                         f"({', '.join(map(str, specs))}); it must take two, the labels and z.")
  keys = list(specs)
  integer = [k for k in keys if specs[k].dtype.is_integer]
  if len(integer) == 1:
    label = integer[0]
    return label, [k for k in keys if k != label][0], False
  named = [k for k in keys if re.fullmatch(r"(y|labels?|class(es)?|onehot|one_hot).*", str(k))]
  named_z = [k for k in keys if re.fullmatch(r"(z|codes?|latents?|noise)(_.*|\d*)", str(k))]
  if len(named) == 1:
    label = named[0]
  elif len(named_z) == 1:
    label = [k for k in keys if k != named_z[0]][0]
  else:
    label = keys[0]  # the contract's order: (y, z)
  return label, [k for k in keys if k != label][0], True


def _latent_dim(spec, name):
  dim = spec.shape[-1] if spec.shape.rank == 2 else None
  if dim is None:
    raise GeneratorError(f"{name}: the z input has shape {spec.shape}; it must be [B, D] with D "
                         "known.")
  return int(dim)


def from_saved_model(path, num_classes, signature=""):
  """A CheckedGenerator of a SavedModel signature that takes the labels and z.

  Args:
    path: the SavedModel folder.
    num_classes: K.
    signature: the signature's name; default `decode` (tfdis's export), else `serving_default`,
      else the only signature.
  """
  try:
    loaded = tf.saved_model.load(path)
  except (OSError, tf.errors.OpError, ValueError, IndexError) as e:  # IndexError: truncated data
    detail = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
    raise GeneratorError(f"{path} is not a loadable SavedModel ({type(e).__name__}"
                         f"{': ' + detail if detail else ''}); its files are damaged or "
                         "incomplete: export it again, or give a SavedModel folder, a .keras "
                         "file or a folder of grid images.") from None
  names = sorted(loaded.signatures.keys())
  if not signature:
    signature = next((n for n in ("decode", "serving_default") if n in names),
                     names[0] if len(names) == 1 else "")
  if signature not in names:
    raise GeneratorError(f"{path}: choose the generator's signature with --generator_signature; "
                         f"it has {names or 'none'}.")
  fn = loaded.signatures[signature]
  specs = fn.structured_input_signature[1]
  where = f"{path} (signature {signature})"
  label, z, one_hot = _label_and_z(specs, where)
  outputs = fn.structured_outputs
  output = "images" if "images" in outputs else (list(outputs)[0] if len(outputs) == 1 else None)
  if output is None:
    raise GeneratorError(f"{where} returns {sorted(outputs)}; it must return one output, or one "
                         "named 'images'.")

  def generate(y, codes):
    labels = tf.one_hot(y, num_classes, dtype=specs[label].dtype) if one_hot else tf.cast(
        y, specs[label].dtype)
    return fn(**{label: labels, z: tf.cast(codes, specs[z].dtype)})[output]
  generate.keep_alive = loaded  # the signature's variables live as long as the function
  return CheckedGenerator(generate, num_classes, _latent_dim(specs[z], where), where)


def from_keras(path, num_classes):
  """A CheckedGenerator of a .keras model taking y (int [B] or one-hot [B, K]) and z [B, D]."""
  import keras  # pylint: disable=g-import-not-at-top
  try:
    model = keras.models.load_model(path, compile=False)
  except Exception as e:  # pylint: disable=broad-except  (Keras raises many kinds)
    raise GeneratorError(f"{path} is not a loadable .keras model ({type(e).__name__}); save it "
                         "with model.save('<name>.keras').") from None
  if len(model.inputs) != 2:
    raise GeneratorError(f"{path}: the model takes {len(model.inputs)} inputs; it must take two, "
                         "[y, z] in that order.")
  # Matched by name and dtype as a SavedModel's are (an int input, or one named y / label(s) /
  # class(es) / one_hot, is the label; else one named z / code(s) / latent(s) / noise is z);
  # unnamed, the contract's order [y, z].
  names = [t.name for t in model.inputs]
  specs = [tf.TensorSpec(t.shape, tf.as_dtype(t.dtype)) for t in model.inputs]
  label_index = (names.index(_label_and_z(dict(zip(names, specs)), path)[0])
                 if len(set(names)) == 2 else 0)
  label_spec, z_spec = specs[label_index], specs[1 - label_index]
  one_hot = label_spec.shape.rank == 2 and not label_spec.dtype.is_integer

  def generate(y, codes):
    labels = tf.one_hot(y, num_classes) if one_hot else y
    inputs = [codes, codes]
    inputs[label_index] = labels
    return model(inputs, training=False)
  return CheckedGenerator(generate, num_classes, _latent_dim(z_spec, path), path)


def load(path, num_classes=10, signature=""):
  """A CheckedGenerator from a SavedModel folder or a .keras file (see the module docstring)."""
  if str(path).endswith(".keras"):
    if not os.path.isfile(path):
      raise GeneratorError(f"--generator={path} does not exist.")
    return from_keras(path, num_classes)
  if os.path.isfile(os.path.join(path, "saved_model.pb")):
    return from_saved_model(path, num_classes, signature)
  raise GeneratorError(f"--generator={path} is neither a SavedModel folder (with saved_model.pb) "
                       "nor a .keras file (nor a folder of grid images <label>/<column>.png).")


def is_grid_folder(path):
  """True when `path` is a folder of <label>/<column>.png images (see the module docstring)."""
  return os.path.isdir(path) and os.path.isdir(os.path.join(path, "0"))


def write_grid_folder(images, path):
  """Writes a grid float [K, M, H, W, C] in [0, 1] as <path>/<label>/<column>.png (8-bit)."""
  images = np.asarray(images, np.float32)
  for label in range(images.shape[0]):
    os.makedirs(os.path.join(path, str(label)), exist_ok=True)
    for column in range(images.shape[1]):
      png = tf.io.encode_png(tf.constant(np.round(images[label, column] * 255).astype(np.uint8)))
      tf.io.write_file(os.path.join(path, str(label), f"{column}.png"), png)


def read_grid_folder(path):
  """The grid float32 [K, M, H, W, C] in [0, 1] of <path>/<label>/<column>.png.

  Labels are the folders 0 .. K-1 and columns the files 0.png .. (M-1).png in each, the same M
  for every label; all images one shape (8-bit grey or RGB PNG).
  """
  if not is_grid_folder(path):
    raise GeneratorError(f"{path} is not a grid folder; it must hold folders 0, 1, ... (one per "
                         "label), each with 0.png, 1.png, ... (one per shared z).")
  layout = ("it must hold folders 0, 1, ... (one per label), each with 0.png, 1.png, ... (one "
            "per shared z)")
  labels = sorted((int(n) for n in os.listdir(path)
                   if n.isdigit() and os.path.isdir(os.path.join(path, n))))
  if labels != list(range(len(labels))) or len(labels) < 2 or any(
      not os.path.isdir(os.path.join(path, str(label))) for label in labels):
    raise GeneratorError(f"{path}: label folders {labels} must be 0 .. K-1 with K >= 2; {layout}.")
  columns = None
  for label in labels:  # the whole layout first, then every file, before any image is decoded
    folder = os.path.join(path, str(label))
    names = sorted(os.listdir(folder))
    stray = [n for n in names if not re.fullmatch(r"(0|[1-9]\d*)\.png", n)]
    if stray or not names:
      what = f"holds {stray[0]!r}" if stray else "is empty"
      raise GeneratorError(f"{folder} {what}; {layout} (no leading zeros, nothing else).")
    found = sorted(int(n[:-4]) for n in names)
    if columns is None:
      columns = found
    if found != columns or columns != list(range(len(columns))):
      raise GeneratorError(f"{folder} holds columns {found[:5]}...; every label folder must hold "
                           f"0.png .. {len(columns) - 1}.png, the same shared z.")
  for label in labels:
    for column in columns:
      file = os.path.join(path, str(label), f"{column}.png")
      with open(file, "rb") as f:
        signature = f.read(8)
      if signature != b"\x89PNG\r\n\x1a\n":
        raise GeneratorError(f"{file} is not a PNG image (its first bytes are {signature[:8]!r}); "
                             "write every column as an 8-bit grey or RGB PNG.")
  rows = []
  for label in labels:
    row = []
    for column in columns:
      file = os.path.join(path, str(label), f"{column}.png")
      try:
        row.append(tf.io.decode_png(tf.io.read_file(file)).numpy())
      except tf.errors.OpError as e:
        raise GeneratorError(f"{file} is a damaged PNG ({type(e).__name__}); write it again as "
                             "an 8-bit grey or RGB PNG.") from None
    rows.append(row)
  shapes = {image.shape for row in rows for image in row}
  if len(shapes) != 1:
    raise GeneratorError(f"{path}: images of several shapes {sorted(shapes)}; all must be one.")
  if len(columns) < 3:
    raise GeneratorError(f"{path}: {len(columns)} columns; SP needs at least 3 shared z.")
  return np.asarray(rows, np.float32) / 255.0
