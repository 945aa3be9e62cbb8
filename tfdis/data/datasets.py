"""Labelled digit datasets for the conditional VAE: MNIST offline, SVHN and Fashion-MNIST via TFDS.

Every dataset yields images as float32 in [0, 1] with shape [H, W, C] and labels as int32 in
[0, num_classes). Names accepted by `load_arrays`, `load` and `info`:

  mnist            tensorflow-datasets `mnist`, prepared offline from the four original IDX files
                   bundled in `tfdis/data/bundled/mnist` (TFDS checks their registered SHA-256).
  fashion_mnist    tensorflow-datasets `fashion_mnist` (needs TFDS to have it prepared, or network).
  svhn_cropped     tensorflow-datasets `svhn_cropped` (32x32x3; tested with tfds.testing.mock_data).
                   For these two, a dataset not prepared in the TFDS folder whose download host
                   cannot be reached fails at once (`host_reachable`) instead of after TFDS's
                   download retries.
  idx:<dir>        any folder holding `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
                   `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`, e.g. Debian's
                   `dataset-fashion-mnist` at /usr/share/datasets/fashion-mnist.

Splits are `train` and `test`. Bad input raises `DataError` with one sentence naming the problem
and the fix; so does a damaged prepared TFDS folder. A damaged array cache
(`<tfds_dir>/tfdis_arrays/<name>-<split>.npz`) is rebuilt with a warning. Processes that share a
TFDS folder (the shards of a reproduction, a job array on one file system) prepare a dataset one at
a time (`preparing`): the first prepares it, the others wait and then read it.
"""
import contextlib
import dataclasses
import fcntl
import functools
import gzip
import os
import pathlib
import re
import socket
import threading
import urllib.parse
import urllib.request
import zipfile

from absl import logging
import numpy as np

from tfdis.errors import UsageError

NUM_CLASSES = 10
BUNDLED_MNIST_DIR = pathlib.Path(__file__).parent / "bundled" / "mnist"
DEFAULT_TFDS_DIR = os.path.join(os.path.expanduser("~"), ".cache", "tfdis", "tensorflow_datasets")
_TFDS_NAMES = ("mnist", "fashion_mnist", "svhn_cropped")
_IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "svhn_cropped": (32, 32, 3)}
# (host, port) each TFDS builder downloads from, as in its source in tensorflow_datasets 4.9.10
# (image_classification/mnist.py FashionMNIST.URL, datasets/svhn_cropped/...builder.py URL).
_DOWNLOAD_HOSTS = {"fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
                   "svhn_cropped": ("ufldl.stanford.edu", 80)}
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Package dataset-fashion-mnist.
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class DataError(UsageError):
  """A dataset could not be loaded; the message names the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  name: str
  image_shape: tuple  # (H, W, C)
  num_classes: int = NUM_CLASSES


def check_name(name):
  """Raises DataError unless `name` is a dataset this module can load."""
  if name in _TFDS_NAMES:
    return
  if name.startswith("idx:"):
    if not os.path.isdir(name[4:]):
      raise DataError(f"--dataset={name}: folder {name[4:]!r} does not exist; "
                      "give idx:<folder holding the four MNIST-style IDX files>.")
    return
  raise DataError(f"Unknown dataset {name!r}; use one of {', '.join(_TFDS_NAMES)} "
                  "or idx:<folder of IDX files>.")


def info(name):
  """DatasetInfo for `name` without loading the images where it can be avoided."""
  check_name(name)
  if name in _IMAGE_SHAPES:
    return DatasetInfo(name, _IMAGE_SHAPES[name])
  images, _ = load_arrays(name, "test")
  return DatasetInfo(name, tuple(images.shape[1:]))


def _check_split(split):
  if split not in ("train", "test"):
    raise DataError(f"Unknown split {split!r}; use 'train' or 'test'.")


def _read_idx(path, expected_ndim):
  """Reads one IDX file (gzip or raw) into a uint8 array, validating header and length."""
  opener = gzip.open if str(path).endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      raw = f.read()
  except (OSError, EOFError) as e:
    raise DataError(f"IDX file {path} is corrupt or truncated ({e}); "
                    "replace it with an intact copy.") from e
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
    raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number); "
                    "replace it with an intact copy.")
  ndim = raw[3]
  if ndim != expected_ndim:
    raise DataError(f"{path} has {ndim} dimensions, expected {expected_ndim}; "
                    "check that image and label files are not swapped.")
  header = 4 + 4 * ndim
  if len(raw) < header:
    raise DataError(f"IDX file {path} is truncated inside its header; "
                    "replace it with an intact copy.")
  dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  size = int(np.prod(dims))
  if len(raw) - header != size:
    raise DataError(f"IDX file {path} holds {len(raw) - header} bytes of data but its header "
                    f"promises {size} for shape {dims}; it is truncated or corrupt, "
                    "replace it with an intact copy.")
  return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(folder, stem):
  for candidate in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz",
                    stem.replace("-idx", ".idx")):
    path = os.path.join(folder, candidate)
    if os.path.exists(path):
      return path
  raise DataError(f"{folder} has no {stem}[.gz]; an idx: folder needs the four MNIST-style "
                  "files (train/t10k images and labels).")


def _idx_dims(path):
  """The dimensions an IDX file's header states (read alone, without the data), or None."""
  opener = gzip.open if str(path).endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      head = f.read(4)
      head += f.read(4 * head[3]) if len(head) == 4 else b""
  except (OSError, EOFError):
    return None  # reading the file itself reports it
  if len(head) < 4 or head[:3] != b"\0\0\x08" or len(head) != 4 + 4 * head[3]:
    return None  # not an IDX header: reading the file reports it
  return tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(head[3]))


def _check_idx_image_shapes(folder):
  """Raises DataError when the train and test images of an idx: folder differ in shape."""
  shapes = {split: _idx_dims(_find_idx(folder, stems[0])) for split, stems in _IDX_FILES.items()}
  if None not in shapes.values() and shapes["train"][1:] != shapes["test"][1:]:
    train, test = ("x".join(map(str, shapes[s][1:])) for s in ("train", "test"))
    raise DataError(f"{folder}: the train images are {train} but the test images {test}; a "
                    "model reads one image shape, so replace the files that do not belong (an "
                    "idx: folder holds one dataset's four files).")


def _load_idx_dir(folder, split):
  image_stem, label_stem = _IDX_FILES[split]
  _check_idx_image_shapes(folder)  # before any training on the first split read
  images = _read_idx(_find_idx(folder, image_stem), 3)[..., None]  # [N, H, W, 1]
  labels = _read_idx(_find_idx(folder, label_stem), 1)
  if len(images) != len(labels):
    raise DataError(f"{folder}: {len(images)} {split} images but {len(labels)} labels; "
                    "the image and label files do not belong together.")
  return images, labels


def _load_tfds(name, split, tfds_dir):
  """TFDS split as uint8 arrays, decoded once and then read from a .npz cache beside TFDS's files."""
  cache = os.path.join(tfds_dir, "tfdis_arrays", f"{name}-{split}.npz")
  if os.path.exists(cache):
    try:
      with np.load(cache) as arrays:
        return arrays["images"], arrays["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
      logging.warning("Array cache %s is damaged (%s); rebuilding it from the TFDS files.", cache,
                      _first_line(e))
  images, labels = _decode_tfds(name, split, tfds_dir)
  try:
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    tmp = cache + f".{os.getpid()}.tmp.npz"
    np.savez(tmp, images=images, labels=labels)
    os.replace(tmp, cache)
  except OSError:
    pass  # a read-only TFDS folder only costs the decoding next time
  return images, labels


def _first_line(error):
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def _op_error_text(error):
  """`DataLossError: truncated record at ...` from a tf.errors.OpError, without TF's node names."""
  text = re.sub(r"\{\{.*?\}\}\s*", "", _first_line(error.message))
  text = re.sub(r"\s*\[Op:.*$", "", text)
  return f"{type(error).__name__}: {text}"


def host_reachable(host, port, timeout_seconds=3.0):
  """Whether a TCP connection to `host`:`port` opens within `timeout_seconds`, name lookup included.

  With an HTTP proxy configured (http_proxy and friends, as `requests` reads them), the proxy is
  probed instead, since TFDS's downloads go through it.
  """
  proxy = urllib.request.getproxies().get("http")
  if proxy and not urllib.request.proxy_bypass(host):
    parsed = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    host, port = parsed.hostname or host, parsed.port or 80
  outcome = []

  def connect():
    try:
      socket.create_connection((host, port), timeout=timeout_seconds).close()
      outcome.append(True)
    except OSError:  # Name lookup failure, refusal, timeout: all mean unreachable.
      outcome.append(False)

  # A thread, because the name lookup has no timeout of its own; a stuck one is left to finish.
  thread = threading.Thread(target=connect, daemon=True)
  thread.start()
  thread.join(timeout_seconds)
  return bool(outcome and outcome[0])


def _fail_fast_offline(builder, name, tfds_dir):
  """Raises DataError when `builder` would download into `tfds_dir` but its host is unreachable.

  Without this, TFDS spends minutes in download retries before failing.
  `tfds.testing.mock_data` points builders at its own folder (and makes preparing a no-op),
  so only a builder that prepares into `tfds_dir` can need the network.
  """
  root = os.path.abspath(tfds_dir)
  if builder.is_prepared() or not os.path.abspath(builder.data_dir).startswith(root + os.sep):
    return
  host, port = _DOWNLOAD_HOSTS[name]
  if host_reachable(host, port):
    return
  if name != "fashion_mnist":
    fix = f"prepare it in {tfds_dir} on a machine with network (or copy a prepared {name} there)"
  elif os.path.isdir(DEBIAN_FASHION_MNIST_DIR):
    fix = (f"use idx:{DEBIAN_FASHION_MNIST_DIR}, or prepare it in {tfds_dir} on a machine with "
           "network")
  else:
    fix = (f"use idx:<folder of the four Fashion-MNIST IDX files> (Debian's dataset-fashion-mnist "
           f"puts them in {DEBIAN_FASHION_MNIST_DIR}), or prepare it in {tfds_dir} on a machine "
           "with network")
  raise DataError(f"tensorflow-datasets could not prepare {name!r}: it is not prepared in "
                  f"{tfds_dir} and its download host {host} cannot be reached; {fix}.")


@contextlib.contextmanager
def preparing(tfds_dir, name):
  """Holds an exclusive lock on `<tfds_dir>/.<name>.prepare.lock` while TFDS prepares `name` there.

  TFDS prepares into a temporary folder and renames it at the end, so two processes preparing one
  folder at once fail in the second's rename. With the lock the second waits (logging that it
  does) and then finds the dataset prepared. A folder the process cannot write to has nothing to
  prepare into and is read without a lock.
  """
  try:
    os.makedirs(tfds_dir, exist_ok=True)
    lock_path = os.path.join(tfds_dir, f".{name}.prepare.lock")
    handle = open(lock_path, "a")  # pylint: disable=consider-using-with
  except OSError:
    handle = None
  if handle is None:
    yield
    return
  with handle:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      logging.info("Waiting for another process that prepares %r in %s.", name, tfds_dir)
      fcntl.flock(handle, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(handle, fcntl.LOCK_UN)


def _decode_tfds(name, split, tfds_dir):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()  # preparing from local files: a hundred bars and nothing to wait for
  kwargs = {}
  if name == "mnist":
    kwargs["download_and_prepare_kwargs"] = {
        "download_config": tfds.download.DownloadConfig(
            manual_dir=str(BUNDLED_MNIST_DIR), try_download_gcs=False)}
  try:
    with preparing(tfds_dir, name):
      if name in _DOWNLOAD_HOSTS:
        _fail_fast_offline(tfds.builder(name, data_dir=tfds_dir, try_gcs=False), name, tfds_dir)
      ds = tfds.load(name, split=split, as_supervised=True, data_dir=tfds_dir, try_gcs=False,
                     **kwargs)
  except DataError:
    raise
  except Exception as e:  # TFDS raises many kinds; all mean the same thing to the user.
    raise DataError(f"tensorflow-datasets could not prepare {name!r} ({_first_line(e)}); for "
                    f"mnist check the bundled files with `sha256sum -c SHA256SUMS` in "
                    f"{BUNDLED_MNIST_DIR}, for other datasets prepare them in {tfds_dir} or use "
                    "idx:<folder>.") from e
  try:
    batches = list(tfds.as_numpy(ds.batch(8192)))
  except tf.errors.OpError as e:  # DataLossError for a truncated shard, and its kin.
    folder = os.path.join(tfds_dir, name)
    again = ("it is then prepared again offline from the bundled files" if name == "mnist" else
             "it then needs preparing again, with network")
    raise DataError(f"The prepared {name!r} dataset in {folder} is damaged "
                    f"({_op_error_text(e)}); delete that folder and run again "
                    f"({again}).") from e
  if not batches:
    raise DataError(f"tensorflow-datasets returned no {split} examples for {name!r}; "
                    f"delete its folder under {tfds_dir} and let it prepare again.")
  return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))


@functools.lru_cache(maxsize=8)
def _cached_arrays(name, split, tfds_dir):
  if name.startswith("idx:"):
    images, labels = _load_idx_dir(name[4:], split)
  else:
    images, labels = _load_tfds(name, split, tfds_dir)
  labels = np.asarray(labels).astype(np.int64)
  bad = (labels < 0) | (labels >= NUM_CLASSES)
  if bad.any():
    i = int(np.argmax(bad))
    raise DataError(f"{name} {split}: label {labels[i]} at index {i} is outside [0, {NUM_CLASSES}); "
                    "fix the label file or choose a dataset with digit labels 0-9.")
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[0] == 0:
    raise DataError(f"{name} {split}: expected a non-empty [N, H, W, C] image array, got shape "
                    f"{images.shape}; check the dataset files.")
  images = images.astype(np.float32) / 255.0
  images.setflags(write=False)
  labels = labels.astype(np.int32)
  labels.setflags(write=False)
  return images, labels


def clear_cache():
  """Forgets the splits `load_arrays` holds in memory (e.g. after swapping the data on disk)."""
  _cached_arrays.cache_clear()


def load_arrays(name, split, tfds_dir=None):
  """Loads a whole split into memory (kept for the process; `clear_cache` forgets it).

  Args:
    name: dataset name (see module docstring).
    split: 'train' or 'test'.
    tfds_dir: where TFDS keeps prepared datasets (default ~/.cache/tfdis/tensorflow_datasets).

  Returns:
    images: float32 [N, H, W, C] in [0, 1] (read-only).
    labels: int32 [N] in [0, 10) (read-only).
  """
  check_name(name)
  _check_split(split)
  return _cached_arrays(name, split, tfds_dir or DEFAULT_TFDS_DIR)


def load(name, split, tfds_dir=None):
  """The split as an unbatched tf.data.Dataset of (image float32 [H, W, C], label int32)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images, labels = load_arrays(name, split, tfds_dir)
  return tf.data.Dataset.from_tensor_slices((images, labels))
