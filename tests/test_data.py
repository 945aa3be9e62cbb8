"""Data: bundled MNIST through TFDS offline, idx: folders, mocked TFDS datasets, and bad input."""
import gzip
import hashlib
import os
import threading

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfdis.data import datasets as data

MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_bundled_files_match_registered_checksums():
  folder = data.BUNDLED_MNIST_DIR
  with open(folder / "SHA256SUMS") as f:
    lines = [line.split() for line in f if line.strip()]
  assert len(lines) == 4
  for digest, name in lines:
    with open(folder / name.lstrip("*"), "rb") as f:
      assert hashlib.sha256(f.read()).hexdigest() == digest, name


def test_mnist_test_split_is_the_real_one():
  images, labels = data.load_arrays("mnist", "test")
  assert images.shape == (10000, 28, 28, 1) and images.dtype == np.float32
  assert labels.dtype == np.int32
  assert images.min() == 0.0 and images.max() == 1.0
  assert np.bincount(labels).tolist() == MNIST_TEST_CLASS_COUNTS
  # TFDS reorders examples; the ink per class must still equal that of the raw IDX files.
  raw_images, raw_labels = data.load_arrays(f"idx:{data.BUNDLED_MNIST_DIR}", "test")
  for digit in range(10):
    np.testing.assert_allclose(images[labels == digit].sum(), raw_images[raw_labels == digit].sum(),
                               rtol=1e-6)


def test_load_gives_a_tf_dataset_of_pairs():
  ds = data.load("mnist", "test")
  image, label = next(iter(ds))
  images, labels = data.load_arrays("mnist", "test")
  assert image.shape == (28, 28, 1) and int(label) == labels[0]
  np.testing.assert_array_equal(image.numpy(), images[0])


def _write_idx(path, array):
  dims = array.shape
  header = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def _idx_folder(tmp_path, labels=(3, 1, 4, 1, 5), num_images=None):
  rng = np.random.default_rng(0)
  count = len(labels) if num_images is None else num_images
  images = rng.integers(0, 256, size=(count, 6, 5), dtype=np.uint8)
  for split in ("train", "t10k"):
    _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.array(labels))
  return images


def test_idx_folder(tmp_path):
  raw = _idx_folder(tmp_path)
  images, labels = data.load_arrays(f"idx:{tmp_path}", "train")
  assert images.shape == (5, 6, 5, 1)
  np.testing.assert_allclose(images[..., 0], raw / 255.0, rtol=1e-6)
  assert labels.tolist() == [3, 1, 4, 1, 5]
  assert data.info(f"idx:{tmp_path}").image_shape == (6, 5, 1)


def test_truncated_idx_file_is_named(tmp_path):
  _idx_folder(tmp_path)
  path = tmp_path / "train-images-idx3-ubyte.gz"
  with gzip.open(path, "rb") as f:
    content = f.read()
  with gzip.open(path, "wb") as f:
    f.write(content[:-7])
  with pytest.raises(data.DataError, match="truncated or corrupt"):
    data.load_arrays(f"idx:{tmp_path}", "train")


def test_corrupt_gzip_is_named(tmp_path):
  _idx_folder(tmp_path)
  path = tmp_path / "train-labels-idx1-ubyte.gz"
  path.write_bytes(path.read_bytes()[:20])
  with pytest.raises(data.DataError, match="corrupt or truncated"):
    data.load_arrays(f"idx:{tmp_path}", "train")


def test_bad_magic_is_named(tmp_path):
  _idx_folder(tmp_path)
  with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
    f.write(b"PK\x03\x04 not an idx file")
  with pytest.raises(data.DataError, match="magic number"):
    data.load_arrays(f"idx:{tmp_path}", "test")


def test_out_of_range_label_is_named(tmp_path):
  _idx_folder(tmp_path, labels=(3, 1, 12, 1, 5))
  with pytest.raises(data.DataError, match=r"label 12 at index 2 is outside \[0, 10\)"):
    data.load_arrays(f"idx:{tmp_path}", "train")


def test_image_label_count_mismatch_is_named(tmp_path):
  _idx_folder(tmp_path, labels=(3, 1, 4), num_images=5)
  with pytest.raises(data.DataError, match="5 train images but 3 labels"):
    data.load_arrays(f"idx:{tmp_path}", "train")


@pytest.mark.parametrize("name,match", [("cifar10", "Unknown dataset 'cifar10'"),
                                        ("idx:/no/such/folder", "does not exist")])
def test_unknown_dataset_is_named(name, match):
  with pytest.raises(data.DataError, match=match):
    data.load_arrays(name, "train")


def test_unknown_split_is_named():
  with pytest.raises(data.DataError, match="Unknown split 'validation'"):
    data.load_arrays("mnist", "validation")


@pytest.mark.parametrize("name,shape", [("svhn_cropped", (32, 32, 3)),
                                        ("fashion_mnist", (28, 28, 1))])
def test_tfds_datasets_through_mock_data(name, shape, tmp_path, monkeypatch):
  # Mocked TFDS prepares nothing in tmp_path, and must not be failed as offline for it.
  monkeypatch.setattr(data, "host_reachable", lambda *args, **kwargs: False)
  data.clear_cache()
  try:
    with tfds.testing.mock_data(num_examples=6):
      images, labels = data.load_arrays(name, "train", tfds_dir=str(tmp_path))
  finally:
    data.clear_cache()
  assert images.shape == (6,) + shape and images.dtype == np.float32
  assert 0.0 <= images.min() and images.max() <= 1.0
  assert labels.dtype == np.int32 and ((0 <= labels) & (labels < 10)).all()
  assert data.info(name).image_shape == shape


def test_tfds_failure_becomes_a_data_error(tmp_path, monkeypatch):
  # With its host reachable, TFDS itself fails on a TFDS folder that is a file; the user gets a
  # DataError naming the dataset.
  monkeypatch.setattr(data, "host_reachable", lambda *args, **kwargs: True)
  bad_dir = tmp_path / "file"
  bad_dir.write_text("not a folder")
  with pytest.raises(data.DataError, match="could not prepare 'fashion_mnist'"):
    data.load_arrays("fashion_mnist", "test", tfds_dir=str(bad_dir))


def test_tfds_folder_is_prepared_by_one_loader_at_a_time(tmp_path, monkeypatch):
  # Two shards starting on a fresh machine once both prepared mnist and the second failed in
  # TFDS's final rename. Each loader opens the lock file itself, as another process would. The
  # first loader inside stays there until the two others have logged that they wait for it.
  inside, most, entered, lock = [0], [0], [0], threading.Lock()
  waiting, both_waiting = [], threading.Event()

  class Log:
    @staticmethod
    def info(message, *args):
      if message.startswith("Waiting for another process"):
        with lock:
          waiting.append(args)
          if len(waiting) == 2:
            both_waiting.set()

  def slow_load(name, split, **kwargs):
    del name, split, kwargs
    with lock:
      inside[0] += 1
      most[0] = max(most[0], inside[0])
      entered[0] += 1
      first = entered[0] == 1
    if first:
      assert both_waiting.wait(timeout=60), "the other loaders did not wait for the lock"
    with lock:
      inside[0] -= 1
    return tf.data.Dataset.from_tensor_slices((np.zeros([3, 28, 28, 1], np.uint8),
                                               np.arange(3, dtype=np.int64)))

  monkeypatch.setattr(tfds, "load", slow_load)
  monkeypatch.setattr(data, "logging", Log)
  labels = []
  loaders = [threading.Thread(target=lambda: labels.append(
      data._decode_tfds("mnist", "test", str(tmp_path))[1].tolist())) for _ in range(3)]
  for loader in loaders:
    loader.start()
  for loader in loaders:
    loader.join()
  assert labels == [[0, 1, 2]] * 3
  assert most[0] == 1 and len(waiting) == 2
  assert (tmp_path / ".mnist.prepare.lock").exists()
