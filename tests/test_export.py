"""SavedModel export: loaded signatures match the model, refuse bad inputs with clear messages
(shared and split models alike), and a failed export leaves an earlier one intact."""
import os
import shutil
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdis import errors
from tfdis.model import export
from tfdis.model import vae as model_lib

IMAGE_SHAPE = (6, 5, 1)
NUM_CLASSES = 4
LATENT_DIM = 3
LABEL_MESSAGE = r"Labels y must be integers in \[0, 4\)"
CODE_MESSAGE = r"Codes z must be finite"
IMAGE_MESSAGE = r"Images x must be finite float32 in \[0, 1\] \(e.g. divide uint8 pixels by 255\)"


def _model(split, seed=0):
  keras.utils.set_random_seed(seed)
  return model_lib.ConditionalVAE(image_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES,
                                  latent_dim=LATENT_DIM, hidden_units=7, encoder_split=split,
                                  decoder_split=split).build_all()


def _export(split, tmp_path_factory):
  """(model, loaded SavedModel, export path)."""
  model = _model(split)
  path = export.export_saved_model(model, str(tmp_path_factory.mktemp(split) / "export"))
  return model, tf.saved_model.load(path), path


@pytest.fixture(scope="module")
def shared_export(tmp_path_factory):
  return _export("none", tmp_path_factory)


@pytest.fixture(scope="module")
def split_export(tmp_path_factory):
  return _export("all", tmp_path_factory)


@pytest.fixture(params=["shared_export", "split_export"])
def exported(request):
  """The shared model's export, then the split (label-routed encoder and decoder) model's."""
  return request.getfixturevalue(request.param)


def _inputs(batch=5):
  rng = np.random.default_rng(0)
  x = tf.constant(rng.uniform(size=(batch,) + IMAGE_SHAPE), tf.float32)        # [B, H, W, C]
  y = tf.constant(rng.integers(0, NUM_CLASSES, size=batch), tf.int32)          # [B]
  z = tf.constant(rng.standard_normal((batch, LATENT_DIM)), tf.float32)        # [B, D]
  return x, y, z


def test_valid_inputs_give_the_models_own_outputs(exported):
  model, loaded, _ = exported
  x, y, z = _inputs()
  images = loaded.signatures["decode"](y=y, z=z)["images"].numpy()
  assert images.shape == (5,) + IMAGE_SHAPE and np.isfinite(images).all()
  np.testing.assert_allclose(images, model.decode_mean(y, z).numpy(), atol=1e-6)
  encoded = loaded.signatures["encode"](x=x, y=y)
  np.testing.assert_allclose(encoded["loc"].numpy(), model.encode(x, y).mean().numpy(), atol=1e-5)
  sampled = loaded.signatures["sample"](y=y)
  assert sampled["images"].shape == (5,) + IMAGE_SHAPE
  assert sampled["z"].shape == (5, LATENT_DIM)
  assert np.isfinite(sampled["images"].numpy()).all()


@pytest.mark.parametrize("bad_label", [NUM_CLASSES, 10, 99, -1])
def test_labels_outside_the_classes_are_refused(exported, bad_label):
  _, loaded, _ = exported
  x, y, z = _inputs()
  y = tf.tensor_scatter_nd_update(y, [[2]], [bad_label])
  with pytest.raises(tf.errors.InvalidArgumentError, match=LABEL_MESSAGE):
    loaded.signatures["decode"](y=y, z=z)
  with pytest.raises(tf.errors.InvalidArgumentError, match=LABEL_MESSAGE):
    loaded.signatures["encode"](x=x, y=y)
  with pytest.raises(tf.errors.InvalidArgumentError, match=LABEL_MESSAGE):
    loaded.signatures["sample"](y=y)


@pytest.mark.parametrize("bad_code", [np.nan, np.inf, -np.inf])
def test_non_finite_codes_are_refused(exported, bad_code):
  _, loaded, _ = exported
  _, y, z = _inputs()
  z = tf.tensor_scatter_nd_update(z, [[1, 2]], [bad_code])
  with pytest.raises(tf.errors.InvalidArgumentError, match=CODE_MESSAGE):
    loaded.signatures["decode"](y=y, z=z)


@pytest.mark.parametrize("bad_pixel", [255.0, -0.5, 1.01, np.nan, np.inf])
def test_images_outside_the_unit_interval_are_refused(exported, bad_pixel):
  _, loaded, _ = exported
  x, y, _ = _inputs()
  x = tf.tensor_scatter_nd_update(x, [[3, 4, 2, 0]], [bad_pixel])
  with pytest.raises(tf.errors.InvalidArgumentError, match=IMAGE_MESSAGE):
    loaded.signatures["encode"](x=x, y=y)


def test_raw_uint8_range_images_are_refused(exported):
  _, loaded, _ = exported
  x, y, _ = _inputs()
  with pytest.raises(tf.errors.InvalidArgumentError, match=IMAGE_MESSAGE):
    loaded.signatures["encode"](x=tf.round(x * 255.0), y=y)


def _decoded(path):
  _, y, z = _inputs()
  return tf.saved_model.load(path).signatures["decode"](y=y, z=z)["images"].numpy()


def _save_part_way_then_fill_the_disk(obj, export_dir, signatures=None, options=None):
  """Stands in for tf.saved_model.save: writes a truncated graph file, then runs out of space."""
  del obj, signatures, options
  # tf.io.gfile, not os: the size probe writes to ram://, which os would create in the cwd.
  tf.io.gfile.makedirs(f"{export_dir}/variables")
  with tf.io.gfile.GFile(f"{export_dir}/saved_model.pb", "wb") as f:
    f.write(b"\x08\x01")
  raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")


def test_a_failed_export_leaves_the_earlier_one_intact(shared_export, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # so the listing below also catches a size probe's stray files
  model, _, first = shared_export
  path = str(tmp_path / "export")
  shutil.copytree(first, path)
  before = _decoded(path)
  with mock.patch.object(tf.saved_model, "save", side_effect=_save_part_way_then_fill_the_disk):
    with pytest.raises(errors.UsageError, match=r"SavedModel to .*export \(No space left on "
                                               r"device\); it takes about \d+\.\d MiB.*the "
                                               "earlier export there is intact"):
      export.export_saved_model(model, path)
  np.testing.assert_array_equal(_decoded(path), before)
  assert sorted(os.listdir(tmp_path)) == ["export"]


def test_a_new_export_replaces_the_earlier_one(shared_export, tmp_path):
  model, _, first = shared_export
  path = str(tmp_path / "export")
  shutil.copytree(first, path)
  other = _model(model.encoder_split, seed=1)
  assert export.export_saved_model(other, path) == path
  _, y, z = _inputs()
  after = _decoded(path)
  np.testing.assert_allclose(after, other.decode_mean(y, z).numpy(), atol=1e-6)
  assert np.abs(after - model.decode_mean(y, z).numpy()).max() > 1e-3
  assert sorted(os.listdir(tmp_path)) == ["export"]
