"""Tests for tfdis.metrics.label_preservation and tfdis.metrics.classifier (tiny data)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfdis.metrics import classifier
from tfdis.metrics import label_preservation as lp

G, SIZE = 3, 12  # Classes, image side.


def test_label_preservation_known_predictions():
  result = lp.label_preservation(predicted=[0, 0, 1, 1, 1, 0], intended=[0, 0, 0, 1, 1, 2],
                                 num_classes=G)
  assert result.value == pytest.approx(4 / 6)
  np.testing.assert_allclose(result.per_class, [2 / 3, 1.0, 0.0])
  np.testing.assert_array_equal(result.counts, [3, 2, 1])
  np.testing.assert_array_equal(result.confusion, [[2, 1, 0], [0, 2, 0], [1, 0, 0]])
  # Wilson 95% interval of 4 / 6.
  np.testing.assert_allclose(result.interval, [0.3000, 0.9032], atol=1e-3)
  assert result.per_class_interval.shape == (G, 2)


def test_label_preservation_rejects_bad_labels():
  with pytest.raises(ValueError, match=r"\[0, 3\)"):
    lp.label_preservation([0, 3], [0, 1], num_classes=G)
  with pytest.raises(ValueError, match="same length"):
    lp.label_preservation([0, 1], [0], num_classes=G)


def _class_images(labels, rng):
  """Class c lights up band c (rows 4c..4c+3), with noise: float32 [N, SIZE, SIZE, 1]."""
  labels = np.asarray(labels)
  images = 0.1 * rng.random((len(labels), SIZE, SIZE, 1))
  for i, c in enumerate(labels):
    images[i, 4 * c:4 * c + 4, 2:10, 0] += 0.9
  return images.astype(np.float32)


def _tiny_data(dataset, split):
  del dataset
  rng = np.random.default_rng(0 if split == "train" else 1)
  labels = np.arange(60 if split == "train" else 30) % G
  return tf.data.Dataset.from_tensor_slices((_class_images(labels, rng), labels.astype(np.int32)))


def test_classifier_trains_and_cache_round_trips(tmp_path):
  model, meta = classifier.load_or_train("tiny", cache_dir=str(tmp_path), epochs=2,
                                         batch_size=16, steps_per_epoch=8, load_fn=_tiny_data,
                                         num_classes=G)
  assert meta["test_accuracy"] >= 0.9
  model_path, meta_path = classifier.cache_paths(
      "tiny", str(tmp_path), {"epochs": 2, "batch_size": 16, "seed": 0, "steps_per_epoch": 8})
  assert os.path.exists(model_path) and os.path.basename(model_path) != "tiny.keras"
  # The default settings keep the plain name (the cache of earlier versions stays valid).
  assert classifier.cache_paths("tiny", str(tmp_path), classifier._DEFAULT_SETTINGS)[0].endswith(
      os.sep + "tiny.keras")
  with open(meta_path) as f:
    assert json.load(f)["test_accuracy"] == meta["test_accuracy"]

  def no_data(dataset, split):
    raise AssertionError("a cached classifier must not load data")

  reloaded, meta2 = classifier.load_or_train("tiny", cache_dir=str(tmp_path), epochs=2,
                                             batch_size=16, steps_per_epoch=8, load_fn=no_data)
  assert meta2 == meta
  # A cached classifier trained with other settings (a smoke test's) is not reused.
  with pytest.raises(AssertionError, match="must not load data"):
    classifier.load_or_train("tiny", cache_dir=str(tmp_path), epochs=3, batch_size=16,
                             steps_per_epoch=8, load_fn=no_data)
  images = _class_images([0, 1, 2, 2], np.random.default_rng(2))
  np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0),
                             atol=1e-5)

  # LP end to end: a decoder that draws the intended class preserves labels; one that
  # draws (y + 1) mod G never does.
  classify = lambda x: classifier.predict_labels(reloaded, x)

  def decoder(shift):  # Ignores z: only the label matters to LP.
    return lambda labels, z: tf.constant(_class_images(
        (np.asarray(labels) + shift) % G, np.random.default_rng(3)))

  good = lp.compute_label_preservation(decoder(0), classify, G, num_z=5, latent_dim=4, seed=0)
  bad = lp.compute_label_preservation(decoder(1), classify, G, num_z=5, latent_dim=4, seed=0)
  assert good.value >= 0.9 and bad.value <= 0.1
  np.testing.assert_array_equal(good.counts, [5, 5, 5])


def test_damaged_cached_classifier_is_retrained(tmp_path, monkeypatch):
  settings = dict(cache_dir=str(tmp_path), epochs=2, batch_size=16, steps_per_epoch=8,
                  num_classes=G)
  classifier.load_or_train("tiny", load_fn=_tiny_data, **settings)
  model_path, meta_path = classifier.cache_paths(
      "tiny", str(tmp_path), {"epochs": 2, "batch_size": 16, "seed": 0, "steps_per_epoch": 8})
  size = os.path.getsize(model_path)
  with open(model_path, "r+b") as f:
    f.truncate(size // 2)
  os.utime(meta_path, (0, 0))  # Marks the metadata, which retraining must write again.
  warnings = []
  monkeypatch.setattr(classifier.logging, "warning", lambda fmt, *args: warnings.append(fmt % args))
  loads = []

  def counted_data(dataset, split):
    loads.append(split)
    return _tiny_data(dataset, split)

  model, meta = classifier.load_or_train("tiny", load_fn=counted_data, **settings)
  assert warnings == [f"Cached classifier {model_path} is damaged (Keras cannot load it: "
                      "ValueError); retraining it."]
  assert loads == ["train", "test"]  # Trained again, as on a cache miss.
  assert meta["test_accuracy"] >= 0.9 and os.path.getmtime(meta_path) > 0
  assert os.path.getsize(model_path) > size // 2  # Overwritten whole.
  images = _class_images([0, 1, 2, 2], np.random.default_rng(2))
  np.testing.assert_array_equal(classifier.predict_labels(model, images), [0, 1, 2, 2])

  def no_data(dataset, split):
    raise AssertionError("the rewritten cache must load without data")

  reloaded, _ = classifier.load_or_train("tiny", load_fn=no_data, **settings)
  np.testing.assert_array_equal(classifier.predict_labels(reloaded, images), [0, 1, 2, 2])
  assert len(warnings) == 1
