"""The regression dataset of paper Sec. 3 (Fig. 3): z from the teacher's q*, and T_y z.

```none
z_i ~ q*(z | x_i, y_i)     one draw per image, fixed seed     the disentangled target
T_y z_i                    label-dependent orthogonal T_y     the entangled target
```
"""
import dataclasses

import numpy as np

from tfdis.data import datasets
from tfdis.model import transforms as transforms_lib
from tfdis.model import vae as model_lib


@dataclasses.dataclass
class RegressionData:
  """One split of the regression dataset {x, y, z, T_y z}.

  images [N, H, W, C] float32, labels [N] int32, z [N, D] float32 (the disentangled target),
  tz [N, D] float32 (T_y z, the entangled target).
  """
  images: np.ndarray
  labels: np.ndarray
  z: np.ndarray
  tz: np.ndarray

  def __len__(self):
    return len(self.labels)

  def slice(self, start, stop):
    """Examples [start, stop)."""
    return RegressionData(self.images[start:stop], self.labels[start:stop], self.z[start:stop],
                          self.tz[start:stop])

  def target(self, name):
    return self.z if name == "disentangled" else self.tz


def sample_codes(teacher, images, labels, seed, batch_size=1000):
  """One z ~ q*(z | x, y) per image: float32 [N, D], a pure function of (weights, data, seed).

  The noise [N, D] is drawn in one stateless call seeded by `seed`, outside any XLA function.
  """
  noise = model_lib.standard_normal([len(images), teacher.latent_dim], [seed, 11]).numpy()
  codes = []
  for start in range(0, len(images), batch_size):
    q = teacher.encode(images[start:start + batch_size], labels[start:start + batch_size])
    codes.append((q.mean() + q.stddev() * noise[start:start + batch_size]).numpy())
  return np.concatenate(codes).astype(np.float32)


def build_dataset(teacher, images, labels, transforms, seed):
  """The regression dataset of one split: z from the teacher's q*, and T_y z.

  Args:
    teacher: a ConditionalVAE (anything with `encode(x, y)` and `latent_dim`).
    images: [N, H, W, C] float32.
    labels: [N] int.
    transforms: float32 [G, D, D] (`tfdis.model.transforms`).
    seed: int, seed of the z draws.

  Returns:
    RegressionData.
  """
  labels = np.asarray(labels, np.int32)
  z = sample_codes(teacher, images, labels, seed)
  tz = transforms_lib.apply(transforms, labels, z).numpy().astype(np.float32)
  return RegressionData(np.asarray(images, np.float32), labels, z, tz)


def retarget(data, transforms):
  """`data` with its entangled target recomputed for other transforms [G, D, D]."""
  tz = transforms_lib.apply(transforms, data.labels, data.z).numpy().astype(np.float32)
  return dataclasses.replace(data, tz=tz)


def load_regression_data(teacher, teacher_config, config):
  """Train and held-out RegressionData of the teacher's dataset (z seeded by `config.seed`)."""
  tfds_dir = teacher_config.tfds_dir or None
  train_images, train_labels = datasets.load_arrays(teacher_config.dataset, "train", tfds_dir)
  test_images, test_labels = datasets.load_arrays(teacher_config.dataset, "test", tfds_dir)
  if config.train_examples:
    train_images, train_labels = (train_images[:config.train_examples],
                                  train_labels[:config.train_examples])
  test_images, test_labels = test_images[:config.eval_examples], test_labels[:config.eval_examples]
  transforms = config.transforms(teacher.num_classes, teacher.latent_dim, config.transform_seed)
  train_data = build_dataset(teacher, train_images, train_labels, transforms, config.seed)
  heldout = build_dataset(teacher, test_images, test_labels, transforms, config.seed + 1)
  return train_data, heldout
