"""Running a competition sweep (App. B): seed batches, shards, resuming.

The sweep is every (variant, seed) of `CompetitionConfig` for one transform; seeds of one variant
train together in one program (`tfdis.training.seed_batched`), `seeds_per_batch` at a time, and
each seed is judged (`judging.judge`) and written as soon as its batch is trained (and, with
--judge_at_steps, at those steps of its training: the run's trajectory, kept in the batch's
trajectory.json and TensorBoard until the run's result file holds it). Batches are
dealt round robin to --num_shards machines sharing one results folder; a finished seed's result
file marks it done, so the same command resumes, and the last step (`table.aggregate`) reads
them all.
"""
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from tfdis import grids
from tfdis import files
from tfdis.data import datasets as data
from tfdis.experiments.competition import conditions
from tfdis.experiments.competition import diagnostics
from tfdis.experiments.competition import judging
from tfdis.experiments.competition import table as table_lib
from tfdis.training import loop
from tfdis.training import seed_batched


def check_sweep(config, workdir):
  """Refuses a results folder written with other model, training or judging settings."""
  files.check_settings(os.path.join(workdir, "sweep.json"), config.defining(),
                       what="competition results", write=False,
                       defaults=type(config)().defining())  # fields added since: defaults


def load_classifier(config):
  """images [N, H, W, C] -> labels [N] of the cached digit classifier; None without the LP gate."""
  if config.min_label_preservation <= 0:
    return None
  from tfdis.metrics import classifier  # pylint: disable=g-import-not-at-top
  return classifier.cached_classify(config.dataset, config.classifier_dir)


def training_data(config, datasets_override=None):
  """{'train': (images [N, H, W, C], labels [N])}: the override, or config's dataset."""
  if datasets_override is not None:
    return datasets_override
  images, labels = data.load_arrays(config.dataset, "train", config.tfds_dir or None)
  if config.train_examples:
    images, labels = images[:config.train_examples], labels[:config.train_examples]
  return {"train": (images, labels)}


def trajectory_point(result, steps):
  """The summary of one judgement kept in a trajectory (no pair matrices)."""
  brief = lambda entry: None if entry is None else {"value": entry["value"],
                                                    "interval": entry["interval"]}
  point = {"steps": steps, "verdict": result["verdict"], "lp": result["lp"],
           "active_units": result["latent"]["active_units"] if result["latent"] else None}
  for key in ("sp_mu", "sp_mu_prime", "delta", "sp_rotation_invariant"):
    point[key] = brief(result[key])
  cross = result["cross_half"]
  point["cross_half"] = None if cross is None else {k: brief(cross[k]) for k in cross}
  return point


def _judging_hooks(config, seeds, run_dir, classify, data):
  """trainer -> [AtSteps] judging every seed at --judge_at_steps into run_dir/trajectory.json."""
  path = os.path.join(run_dir, "trajectory.json")

  def make_hooks(trainer):
    def judge_all(step):
      stored = files.read_json(path) if os.path.exists(path) else {}
      writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard", "judged"))
      for i, seed in enumerate(seeds):
        result = judging.judge(trainer.vae.model_for_seed(i), config, classify, data)
        stored.setdefault(str(seed), {})[str(step)] = trajectory_point(result, step)
        with writer.as_default(step=step):
          for key in ("sp_mu", "sp_mu_prime", "delta"):
            if result[key]["value"] is not None:
              tf.summary.scalar(f"seed_{seed}/{key}", result[key]["value"])
          if result["lp"] is not None:
            tf.summary.scalar(f"seed_{seed}/lp", result["lp"]["value"])
        logging.info("step %d seed %d: SP(μ_p) %s SP(μ'_p) %s Δ %s -> %s", step, seed,
                     result["sp_mu"]["value"], result["sp_mu_prime"]["value"],
                     result["delta"]["value"], result["verdict"])
      writer.flush()
      files.write_json(path, stored)
    return [loop.AtSteps(config.judge_steps(), judge_all)] if config.judge_steps() else []

  def stored(seed):
    """The trajectory points judged during training of one seed, in step order."""
    points = files.read_json(path).get(str(seed), {}) if os.path.exists(path) else {}
    return [points[k] for k in sorted(points, key=int)]

  return make_hooks, stored


def latent_data(datasets):
  """(images, labels): the first LATENT_EXAMPLES training examples, for the latent statistics."""
  images, labels = datasets["train"]
  return images[:diagnostics.LATENT_EXAMPLES], labels[:diagnostics.LATENT_EXAMPLES]


def run_batch(config, workdir, variant, seeds, datasets, classify):
  """Trains the seeds of one (variant, seeds) batch together and writes each seed's result."""
  condition = conditions.condition_name(config.transform, variant)
  run_dir = os.path.join(workdir, "runs", condition, "seeds_" + "-".join(map(str, seeds)))
  data = latent_data(datasets)
  make_hooks, stored = _judging_hooks(config, seeds, run_dir, classify, data)
  trainer, seconds = seed_batched.train_seeds(config.train_configs(variant, seeds), run_dir,
                                              datasets, make_hooks)
  z = conditions.grid_codes(config, trainer.vae.latent_dim)
  for i, seed in enumerate(seeds):
    model = trainer.vae.model_for_seed(i)
    result = judging.judge(model, config, classify, data)
    result.update(condition=condition, seed=seed, steps=trainer.completed_steps)
    result["trajectory"] = stored(seed) + [trajectory_point(result, trainer.completed_steps)]
    pictures = {}
    for key, fn in (("mu", model.decode_mean), ("mu_prime", model.generator_mean)):
      decode = lambda y, codes, fn=fn: fn(tf.constant(y), tf.constant(codes)).numpy()
      grid = grids.label_z_grid(decode, model.num_classes, z)  # [K, M, H, W, C]
      pictures[key] = np.round(grid * 255).astype(np.uint8)
    path = conditions.result_path(workdir, condition, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(conditions.grids_path(workdir, condition, seed), **pictures)
    files.write_json(path, result)  # last: its presence marks the seed finished
    logging.info("%s seed %d: SP(μ_p) %s  SP(μ'_p) %s  Δ %s -> %s", condition, seed,
                 result["sp_mu"]["interval"], result["sp_mu_prime"]["interval"],
                 result["delta"]["interval"], result["verdict"])
  return seconds


def run_competition(config, workdir, datasets_override=None):
  """Runs (or continues) this shard's part of the sweep; a one-shard run also writes the table.

  Args:
    config: CompetitionConfig.
    workdir: results folder shared by every shard of the sweep.
    datasets_override: optional {'train': (images [N, H, W, C], labels [N])}, the test seam.

  Returns:
    The winrate.json dict (one shard, or --aggregate), else {'shard': i, 'trained_batches': n}.
  """
  config.validate()
  files.prepare(workdir)
  check_sweep(config, workdir)
  if config.aggregate:
    return table_lib.aggregate(config, workdir)
  mine = files.shard(config.batches(), config.num_shards, config.shard_index)
  todo = [(v, seeds) for v, seeds in mine if not all(
      os.path.exists(conditions.result_path(workdir, conditions.condition_name(config.transform, v),
                                            s))
      for s in seeds)]
  logging.info("Shard %d/%d: %d of its %d seed batches to run.", config.shard_index,
               config.num_shards, len(todo), len(mine))
  began = time.time()
  if todo:
    datasets, classify = training_data(config, datasets_override), load_classifier(config)
    for variant, seeds in todo:
      run_batch(config, workdir, variant, seeds, datasets, classify)
  logging.info("Shard %d: %d batches in %.0f s.", config.shard_index, len(todo),
               time.time() - began)
  if config.num_shards == 1:
    table = table_lib.aggregate(config, workdir)
    table["trained_batches"] = len(todo)
    return table
  return {"shard": config.shard_index, "trained_batches": len(todo)}
