"""Data faults (issue #17): a damaged TFDS shard, a damaged array cache, an offline download."""
import os
import shutil
import socket

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfdis.data import datasets as data

_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture(autouse=True)
def _forget_loaded_splits():
  data.clear_cache()
  yield
  data.clear_cache()


@pytest.fixture(scope="module")
def prepared_mnist(tmp_path_factory):
  """A TFDS folder holding a prepared `mnist`, to copy from.

  The default TFDS folder's, which the other data tests prepare; if it has none, one prepared
  here offline from the bundled files (slow: TFDS always prepares both splits).
  """
  if tfds.builder("mnist", data_dir=data.DEFAULT_TFDS_DIR).is_prepared():
    return data.DEFAULT_TFDS_DIR
  folder = str(tmp_path_factory.mktemp("prepared"))
  data.load_arrays("mnist", "test", folder)
  return folder


def _copy_mnist(prepared_mnist, tfds_dir):
  """Copies the prepared mnist (not its array cache) into `tfds_dir`; returns its version folder."""
  shutil.copytree(os.path.join(prepared_mnist, "mnist"), tfds_dir / "mnist")
  (version,) = os.listdir(tfds_dir / "mnist")
  return tfds_dir / "mnist" / version


def test_truncated_tfrecord_shard_names_the_folder(prepared_mnist, tmp_path):
  shard = _copy_mnist(prepared_mnist, tmp_path) / "mnist-test.tfrecord-00000-of-00001"
  with open(shard, "r+b") as f:
    f.truncate(1000)  # Inside the first few records.
  folder = os.path.join(tmp_path, "mnist")
  with pytest.raises(data.DataError) as raised:
    data.load_arrays("mnist", "test", str(tmp_path))
  message = str(raised.value)
  assert message.startswith(f"The prepared 'mnist' dataset in {folder} is damaged "
                            "(DataLossError: truncated record at ")
  assert message.endswith("; delete that folder and run again (it is then prepared again "
                          "offline from the bundled files).")
  assert "{{" not in message and "[Op:" not in message  # TF's node names are left out.
  assert not os.path.exists(tmp_path / "tfdis_arrays" / "mnist-test.npz")


def test_damaged_array_cache_is_rebuilt_with_a_warning(prepared_mnist, tmp_path, monkeypatch):
  _copy_mnist(prepared_mnist, tmp_path)
  images, labels = data.load_arrays("mnist", "test", str(tmp_path))
  cache = tmp_path / "tfdis_arrays" / "mnist-test.npz"
  size = os.path.getsize(cache)
  with open(cache, "r+b") as f:
    f.truncate(size // 2)  # Cuts off the zip's central directory: zipfile.BadZipFile.
  data.clear_cache()
  warnings = []
  monkeypatch.setattr(data.logging, "warning", lambda fmt, *args: warnings.append(fmt % args))

  rebuilt_images, rebuilt_labels = data.load_arrays("mnist", "test", str(tmp_path))
  assert warnings == [f"Array cache {cache} is damaged (File is not a zip file); rebuilding it "
                      "from the TFDS files."]
  np.testing.assert_array_equal(rebuilt_images, images)
  np.testing.assert_array_equal(rebuilt_labels, labels)
  assert os.path.getsize(cache) == size  # Rewritten whole.


@pytest.mark.parametrize("name,host", [
    ("fashion_mnist", "fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
    ("svhn_cropped", "ufldl.stanford.edu")])
def test_unprepared_dataset_fails_fast_offline(name, host, tmp_path, monkeypatch):
  probed = []
  monkeypatch.setattr(data, "host_reachable",
                      lambda *address, **kwargs: probed.append(address) or False)

  def no_download(*args, **kwargs):
    raise AssertionError("an unreachable dataset must not reach TFDS's download retries")

  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
  with pytest.raises(data.DataError) as raised:
    data.load_arrays(name, "train", str(tmp_path))
  assert probed == [(host, 80)]
  message = str(raised.value)
  assert message.startswith(f"tensorflow-datasets could not prepare {name!r}: it is not prepared "
                            f"in {tmp_path} and its download host {host} cannot be reached; ")
  assert message.endswith(f"prepare it in {tmp_path} on a machine with network"
                          + (" (or copy a prepared svhn_cropped there)." if name == "svhn_cropped"
                             else "."))
  if name == "fashion_mnist":
    assert "idx:" in message and data.DEBIAN_FASHION_MNIST_DIR in message


@pytest.mark.parametrize("host,port", [("192.0.2.1", 9),  # TEST-NET-1: routes nowhere.
                                       ("nonexistent.invalid", 80)])  # Never resolves.
def test_host_reachable_is_false_for_unreachable_hosts(host, port, monkeypatch):
  for variable in _PROXY_VARIABLES:
    monkeypatch.delenv(variable, raising=False)
  assert data.host_reachable(host, port, timeout_seconds=1.0) is False


def test_host_reachable_is_true_for_a_listening_port_and_probes_the_proxy(monkeypatch):
  for variable in _PROXY_VARIABLES:
    monkeypatch.delenv(variable, raising=False)
  with socket.socket() as server:
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    port = server.getsockname()[1]
    assert data.host_reachable("127.0.0.1", port, timeout_seconds=1.0) is True
    # Through a proxy, the proxy is what must answer.
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    assert data.host_reachable("nonexistent.invalid", 80, timeout_seconds=1.0) is True
