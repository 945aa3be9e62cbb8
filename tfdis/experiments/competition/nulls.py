"""Null distributions of SP, which set the competition's thresholds (App. B).

A good decoder is the μ_p of a shared VAE trained without a competition transform; its SP
interval is what "style-preserving" looks like. Nulls are generators that cannot preserve style:
that same μ_p behind label-dependent transforms, μ_p(y, T_y z), for random rotations and the
reflection, and the μ_p of a split-both VAE (every layer of both networks label-routed, Sec. 2)
and its transformed versions. The thresholds SP_NOT_PRESERVING and SP_PRESERVING
(`tfdis.metrics.style_preservation`) lie with a wide margin above every null interval and below
every good one (measured values: docs/results.md).
"""
import dataclasses
import os

from absl import logging

from tfdis import files
from tfdis.experiments.competition import sweep
from tfdis.metrics import style_preservation
from tfdis.model import transforms as transforms_lib
from tfdis.training import seed_batched


def null_records(model, config, kind, transform_seeds=(101, 102, 103)):
  """SP intervals of a model without a competition transform: μ_p itself and μ_p(y, T_y z).

  Returns:
    list of dicts {kind, generator ('mu_p' | 'rotation:<seed>' | 'reflection'), value, interval}.
  """
  generators = [("mu_p", model.decode_mean)]
  families = [(f"rotation:{s}", transforms_lib.random_rotations(model.num_classes,
                                                                model.latent_dim, s))
              for s in transform_seeds]
  families.append(("reflection", transforms_lib.reflections(model.num_classes, model.latent_dim)))
  for name, t in families:
    generators.append((name, lambda y, z, t=t: model.decode_mean(
        y, transforms_lib.apply(t, y, z))))
  records = []
  for name, fn in generators:
    sp = style_preservation.compute_style_preservation(
        fn, model.num_classes, config.num_z, model.latent_dim, seed=config.judge_seed,
        num_bootstrap=config.num_bootstrap)
    records.append({"kind": kind, "generator": name, "value": files.finite_or_none(sp.value),
                    "interval": [files.finite_or_none(v) for v in sp.interval]})
  return records


def measure_null_distributions(config, workdir, num_seeds=2, datasets_override=None):
  """Trains shared and split-both VAEs of the competition's size and measures the SP nulls.

  For `num_seeds` seeds each of a shared VAE (no transform) and a split-both VAE (every layer of
  both networks label-routed), records SP of μ_p and of μ_p(y, T_y z) for three random rotations
  and the reflection (`null_records`). Writes <workdir>/nulls.json and returns the records:
  shared 'mu_p' is the good-decoder distribution, every other record a null. Split-both training
  is slow on CPU (8 routed layers); `null_records` on an already trained split-both run (such as
  runs/split) measures the same null.

    python -c "from tfdis import flagfiles; from tfdis.experiments import competition as c;
        c.measure_null_distributions(flagfiles.config_from_flagfiles(
            c.CompetitionConfig, ['flags/compete_rotation.cfg']), 'runs/compete_nulls')"
  """
  config.validate()
  datasets = sweep.training_data(config, datasets_override)
  seeds = list(range(config.first_seed, config.first_seed + num_seeds))
  records = []
  for kind, overrides in (("shared", {}), ("split_both", {"encoder_split": "all",
                                                           "decoder_split": "all"})):
    configs = [dataclasses.replace(c, latent_transform="none", **overrides)
               for c in config.train_configs("standard", seeds)]
    trainer, _ = seed_batched.train_seeds(configs, os.path.join(workdir, kind), datasets)
    for i, seed in enumerate(seeds):
      for record in null_records(trainer.vae.model_for_seed(i), config, kind):
        records.append(dict(record, seed=seed, steps=trainer.completed_steps))
        logging.info("null %s seed %d %s: %s", kind, seed, record["generator"],
                     record["interval"])
  files.write_json(os.path.join(workdir, "nulls.json"), records)
  return records
