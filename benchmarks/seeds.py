"""Throughput of S seeds trained together (tfdis.training.seed_batched) vs S sequential runs.

The win rate of App. B needs many independent seeds of one model; this measures what batching
them into one XLA program buys on the machine at hand:

```none
throughput = model-steps per second = S * steps / wall seconds      (compilation excluded)
batched:     one SeedBatchedTrainer of S seeds, `steps` steps
sequential:  S single-seed trainers (S runs minus their start-up), `steps` steps each
speedup(S) = batched throughput / sequential throughput
```

Both sides run the same compiled training step as real training (data gathering and noise
included, checkpoints and logging excluded); repeats are interleaved (batched, sequential,
batched, ...) so a load change on a shared machine hits both, and medians are reported.
"""
import dataclasses
import time

import numpy as np
import tensorflow as tf

from tfdis.data import datasets as data
from tfdis.training import config as config_lib
from tfdis.training import seed_batched
from tfdis.training import steps as steps_lib
from tfdis.training import vae_training


def _time_steps(trainers, start, steps):
  began = time.perf_counter()
  for trainer in trainers:
    for step in range(start, start + steps):
      out = trainer.step(*trainer.batch(step))
    tf.nest.flatten(out)[0].numpy()  # wait for the last step
  return time.perf_counter() - began


def benchmark_seeds(config, seed_counts=(1, 4, 16), steps=20, repeats=3, images=None,
                    labels=None):
  """Model-steps/s of batched vs sequential training for each S in `seed_counts`.

  Args:
    config: TrainConfig of one seed (seeds config.seed, config.seed + 1, ... are used).
    seed_counts: the S to measure.
    steps: timed steps per repeat and model.
    repeats: interleaved repeats; medians are reported.
    images, labels: training arrays [N, H, W, C], [N] (default: config.dataset's train split).

  Returns:
    list of dicts {num_seeds, batched_steps_per_s, sequential_steps_per_s, speedup} (model-steps
    per second, medians over repeats), one per S.
  """
  if images is None:
    images, labels = data.load_arrays(config.dataset, "train", config.tfds_dir or None)
  image_shape, num_classes = tuple(images.shape[1:]), 10
  results = []
  for num_seeds in seed_counts:
    configs = [dataclasses.replace(config, seed=config.seed + i) for i in range(num_seeds)]
    batched = [seed_batched.SeedBatchedTrainer(configs, images, labels, num_classes)]
    sequential = [vae_training.VAETrainer(c, images, labels,
                                          data.DatasetInfo(c.dataset, image_shape),
                                          steps_lib.make_strategy("default")) for c in configs]
    _time_steps(batched, 0, 2)  # compile
    _time_steps(sequential, 0, 2)
    times = {"batched": [], "sequential": []}
    for r in range(repeats):
      start = 2 + r * steps
      times["batched"].append(_time_steps(batched, start, steps))
      times["sequential"].append(_time_steps(sequential, start, steps))
    batched_rate = num_seeds * steps / float(np.median(times["batched"]))
    sequential_rate = num_seeds * steps / float(np.median(times["sequential"]))
    results.append({"num_seeds": num_seeds, "batched_steps_per_s": round(batched_rate, 2),
                    "sequential_steps_per_s": round(sequential_rate, 2),
                    "speedup": round(batched_rate / sequential_rate, 2)})
  return results


def competition_config(**overrides):
  """The TrainConfig of one competition run (tfdis.experiments.competition's model)."""
  base = dict(hidden_units=512, latent_dim=16, num_hidden_layers=3, batch_size=128,
              latent_transform="rotation")
  base.update(overrides)
  return config_lib.TrainConfig(**base)
