"""A small CNN digit classifier, trained once per dataset and cached, for label preservation.

Shu et al., Section 1 ("content" = the label y) and Section 1.1: a disentangled
generator must keep the label, i.e. mu_p(y, z) must look like a y for every style z.
`tfdis.metrics.label_preservation` checks this with the classifier built here,
trained on the real training split:

```none
image [B, H, W, C] -> Conv 32 3x3 ReLU -> MaxPool 2 -> Conv 64 3x3 ReLU -> MaxPool 2
                   -> Flatten -> Dropout 0.25 -> Dense 128 ReLU -> Dropout 0.5 -> Dense G logits
Adam 1e-3, batch 128, 6 epochs, cross-entropy on the `train` split.
```

`load_or_train` caches the model as `<cache_dir>/<dataset>.keras` with
`<dataset>.json` beside it (test accuracy, train seconds, settings) and reloads it
on later calls; a model file that no longer loads is retrained, with a warning.
"""
import os
import re
import time
from typing import Callable, Optional, Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfdis import files

DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "tfdis", "classifiers")


def build_classifier(image_shape: Tuple[int, int, int], num_classes: int) -> keras.Model:
  """The CNN above: images float32 [B, H, W, C] in [0, 1] -> logits [B, num_classes]."""
  return keras.Sequential([
      keras.Input(shape=image_shape),
      keras.layers.Conv2D(32, 3, activation="relu"),
      keras.layers.MaxPooling2D(2),
      keras.layers.Conv2D(64, 3, activation="relu"),
      keras.layers.MaxPooling2D(2),
      keras.layers.Flatten(),
      keras.layers.Dropout(0.25),
      keras.layers.Dense(128, activation="relu"),
      keras.layers.Dropout(0.5),
      keras.layers.Dense(num_classes),
  ], name="digit_classifier")


def _batched(dataset: tf.data.Dataset, batch_size: int, shuffle: int = 0,
             seed: int = 0) -> tf.data.Dataset:
  if shuffle:
    dataset = dataset.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
  return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_classifier(train: tf.data.Dataset, test: tf.data.Dataset, num_classes: int,
                     epochs: int = 6, batch_size: int = 128, seed: int = 0,
                     steps_per_epoch: Optional[int] = None) -> Tuple[keras.Model, float]:
  """Trains the CNN and returns it with its accuracy on `test`.

  Args:
    train, test: unbatched datasets of (image float32 [H, W, C], label int32).
    num_classes: G.
    epochs, batch_size: Adam 1e-3 training schedule.
    seed: seeds Keras, TF and the shuffle.
    steps_per_epoch: cap on batches per epoch (tests use a few); None = whole split.

  Returns:
    (model, test accuracy in [0, 1]).
  """
  keras.utils.set_random_seed(seed)
  image_shape = tuple(train.element_spec[0].shape)
  model = build_classifier(image_shape, num_classes)
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  train_batches = _batched(train, batch_size, shuffle=10_000, seed=seed)
  if steps_per_epoch is not None:
    train_batches = train_batches.repeat().take(epochs * steps_per_epoch)
  model.fit(train_batches, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False,
            verbose=0)
  predicted = predict_labels(model, test.map(lambda image, label: image), batch_size=512)
  labels = np.array([int(label) for _, label in test.as_numpy_iterator()])
  return model, float(np.mean(predicted == labels))


def predict_labels(model: keras.Model, images, batch_size: int = 512) -> np.ndarray:
  """Argmax class of images float32 [N, H, W, C] (array or unbatched dataset) -> int32 [N]."""
  if isinstance(images, tf.data.Dataset):
    batches = images.batch(batch_size)
  else:
    batches = tf.data.Dataset.from_tensor_slices(np.asarray(images, np.float32)).batch(batch_size)
  predictions = [np.argmax(model(batch, training=False), axis=-1) for batch in batches]
  if not predictions:
    return np.zeros([0], np.int32)
  return np.concatenate(predictions).astype(np.int32)


_DEFAULT_SETTINGS = {"epochs": 6, "batch_size": 128, "seed": 0, "steps_per_epoch": None}


def cache_paths(dataset: str, cache_dir: Optional[str] = None,
                settings: Optional[dict] = None) -> Tuple[str, str]:
  """(model path `<dir>/<stem>.keras`, metadata path `<dir>/<stem>.json`).

  The stem is the dataset's name (characters other than letters, digits, '.', '_', '-' as '_')
  for the default training settings, and names the settings
  otherwise, so a smoke run's few-step classifier never replaces the real one in a shared cache.
  """
  folder = os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR)
  stem = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset)  # idx:/a/b -> idx_a_b: one file, no folders
  if settings and settings != _DEFAULT_SETTINGS:
    stem += "_" + "_".join(f"{k}{settings[k]}" for k in sorted(settings))
  return os.path.join(folder, stem + ".keras"), os.path.join(folder, stem + ".json")


def load_or_train(dataset: str = "mnist", cache_dir: Optional[str] = None, epochs: int = 6,
                  batch_size: int = 128, seed: int = 0, steps_per_epoch: Optional[int] = None,
                  load_fn: Optional[Callable[[str, str], tf.data.Dataset]] = None,
                  num_classes: Optional[int] = None) -> Tuple[keras.Model, dict]:
  """The cached classifier of `dataset`, trained and saved first if there is none.

  Args:
    dataset: name for `tfdis.data.datasets.load` (and the cache file name).
    cache_dir: folder of the cache; default ~/.cache/tfdis/classifiers.
    epochs, batch_size, seed, steps_per_epoch: passed to `train_classifier`.
    load_fn: (dataset, split) -> unbatched (image, label) dataset; default
      `tfdis.data.datasets.load`. Tests pass a tiny synthetic one.
    num_classes: G; default `tfdis.data.datasets.info(dataset).num_classes`, else 10.

  Returns:
    (model, metadata dict with "test_accuracy", "train_seconds", "dataset", ...).
  """
  wanted = {"epochs": epochs, "batch_size": batch_size, "seed": seed,
            "steps_per_epoch": steps_per_epoch}
  model_path, meta_path = cache_paths(dataset, cache_dir, wanted)
  cached = files.read_json(meta_path) if os.path.exists(model_path) else None
  # A classifier trained with other settings (say, a smoke test's few steps) is not reused.
  if cached is not None and all(cached.get(k) == v for k, v in wanted.items()):
    try:
      return keras.models.load_model(model_path), cached
    except Exception as e:  # pylint: disable=broad-except
      # A truncated or corrupt file raises ValueError, OSError, BadZipFile, ... by where it broke;
      # for a cache each means the same: train again. (Keras words a truncated file "File not
      # found", so only the kind of error is shown.)
      logging.warning("Cached classifier %s is damaged (Keras cannot load it: %s); retraining it.",
                      model_path, type(e).__name__)
  if load_fn is None:
    from tfdis.data import datasets as data  # pylint: disable=g-import-not-at-top
    load_fn = data.load
    if num_classes is None:
      num_classes = int(getattr(data.info(dataset), "num_classes", 10))
  start = time.time()
  model, accuracy = train_classifier(load_fn(dataset, "train"), load_fn(dataset, "test"),
                                     num_classes or 10, epochs=epochs, batch_size=batch_size,
                                     seed=seed, steps_per_epoch=steps_per_epoch)
  metadata = {"dataset": dataset, "test_accuracy": accuracy,
              "train_seconds": round(time.time() - start, 1), "epochs": epochs,
              "batch_size": batch_size, "seed": seed, "steps_per_epoch": steps_per_epoch,
              "keras_version": keras.__version__}
  os.makedirs(os.path.dirname(model_path), exist_ok=True)
  model.save(model_path)
  files.write_json(meta_path, metadata)  # last, and whole: its presence marks the cache valid
  return model, metadata


def cached_classify(dataset: str, cache_dir: Optional[str] = None) -> Callable:
  """images [N, H, W, C] -> labels [N] of the cached classifier of `dataset` (trained if missing)."""
  model, _ = load_or_train(dataset, cache_dir=cache_dir or None)
  return lambda images: predict_labels(model, images)
