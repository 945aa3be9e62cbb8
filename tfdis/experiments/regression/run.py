"""The regression experiment of paper Sec. 3 (Fig. 3) from a teacher's workdir: `run_regression`.

Each finished seed's curves are written to seed_curves/ as soon as it is trained, so the same
command resumes; a workdir written with other settings is refused.
"""
import dataclasses
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from tfdis import files
from tfdis.errors import UsageError
from tfdis.experiments.regression.config import PROBLEMS
from tfdis.experiments.regression.config import RESUMABLE_FIELDS
from tfdis.experiments.regression import alignment as alignment_lib
from tfdis.experiments.regression.summary import plot_curves
from tfdis.experiments.regression.summary import summarise
from tfdis.experiments.regression.summary import write_csv
from tfdis.experiments.regression.targets import load_regression_data
from tfdis.experiments.regression.targets import retarget
from tfdis.experiments.regression.training import build_models
from tfdis.experiments.regression.training import train_seed
from tfdis.model import transforms as transforms_lib
from tfdis.training import vae_training


def _check_resume(config, teacher_workdir, workdir):
  """Refuses a workdir holding a run with other settings; returns the finished seeds' curves."""
  files.check_settings(os.path.join(workdir, "regression_config.json"),
                       dict(dataclasses.asdict(config), teacher=os.path.abspath(teacher_workdir)),
                       what="a regression run", ignore=RESUMABLE_FIELDS,
                       defaults=type(config).ABSENT_FIELD_VALUES)
  done = {}
  folder = os.path.join(workdir, "seed_curves")
  os.makedirs(folder, exist_ok=True)
  for seed in config.seeds():
    rows = files.read_json(os.path.join(folder, f"seed_{seed}.json"))
    if rows is not None:
      done[seed] = {tuple(r["key"]): np.asarray(r["losses"], np.float64) for r in rows}
  return done


def _save_seed(workdir, seed, seed_curves):
  rows = [{"key": list(k), "losses": v} for k, v in sorted(seed_curves.items())]
  files.write_json(os.path.join(workdir, "seed_curves", f"seed_{seed}.json"), rows)


def run_regression(config, teacher_workdir, workdir):
  """Runs the Sec. 3 regression experiment for the teacher in `teacher_workdir`.

  Args:
    config: RegressionConfig.
    teacher_workdir: a finished (or checkpointed) binaries.train workdir.
    workdir: output folder; created if missing. A rerun with the same flags skips finished seeds.

  Returns:
    The dict written to regression.json.
  """
  config.validate()
  if not teacher_workdir or not os.path.exists(os.path.join(teacher_workdir, "config.json")):
    raise UsageError(f"--teacher={teacher_workdir} holds no training run (no config.json); give "
                     "the --workdir of a python -m binaries.train run.")
  teacher, teacher_config = vae_training.restore_model(teacher_workdir)
  config.check_teacher(teacher_config)
  files.prepare(workdir)
  done = _check_resume(config, teacher_workdir, workdir)
  began = time.time()
  train_data, heldout = load_regression_data(teacher, teacher_config, config)
  if len(train_data) < config.batch_size:
    raise UsageError(f"--batch_size={config.batch_size} exceeds the {len(train_data)} training "
                     "examples; lower it or raise --train_examples.")
  eval_sets = {"train": train_data.slice(0, config.eval_examples), "heldout": heldout}
  model_kwargs = dataclasses.replace(
      teacher_config, encoder_split=config.encoder_split,
      decoder_split=config.decoder_split).model_kwargs(teacher.image_shape, teacher.num_classes)
  logging.info("Regression data: %d train, %d held-out examples, D=%d, transform %s.",
               len(train_data), len(heldout), teacher.latent_dim, config.transform)

  steps = config.eval_steps()
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
  todo = [s for s in config.seeds() if s not in done]
  for k, seed in enumerate(todo):
    transforms = config.transforms(teacher.num_classes, teacher.latent_dim,
                                   config.transform_seed_of(seed))
    seed_train = retarget(train_data, transforms)
    seed_eval = {split: retarget(data, transforms) for split, data in eval_sets.items()}
    done[seed] = train_seed(model_kwargs, seed_train, seed_eval, config, seed, workdir,
                            later_steps=(len(todo) - k - 1) * config.num_steps,
                            log_prefix=f"seed {seed} ({k + 1}/{len(todo)}) ")
    _save_seed(workdir, seed, done[seed])
  # Every seed's scalars, including resumed ones, so the event files describe the whole run.
  for seed in config.seeds():
    for (problem, target, split), losses in done[seed].items():
      with writer.as_default():
        for step, loss in zip(steps, losses):
          tf.summary.scalar(f"{problem}/{split}/{target}/seed_{seed}", loss, step=int(step))
  writer.flush()

  measured = {}
  if config.alignment_examples:
    began_alignment = time.time()
    for seed in config.seeds():  # at each seed's initial weights: a pure function of the seed
      transforms = config.transforms(teacher.num_classes, teacher.latent_dim,
                                     config.transform_seed_of(seed))
      model = build_models(model_kwargs, seed)["disentangled"]
      measured[seed] = alignment_lib.measure_alignment(
          model, retarget(train_data, transforms), config.alignment_examples,
          config.alignment_probes, seed)
    logging.info("Tangent-kernel alignment of %d seeds in %.0f s.", config.num_seeds,
                 time.time() - began_alignment)

  curves = {}
  for seed in config.seeds():
    for key, losses in done[seed].items():
      curves.setdefault(key, {})[seed] = losses
  summary = summarise(steps, curves, config.seeds(), config.fraction, config.final_window,
                      config.early_until())
  if measured:
    summary["alignment"] = alignment_lib.summarise_alignment(measured, curves, steps,
                                                             config.seeds(), config.descent_steps)
  write_csv(os.path.join(workdir, "curves.csv"), steps, curves)
  plot_curves(os.path.join(workdir, "regression.png"), steps, curves,
              title=f"{teacher_config.dataset}, T_y = {config.transform}, a = "
                    f"{config.rotation_fraction:g}, {config.optimizer}, {config.num_seeds} seeds "
                    "(band: held-out min-max)", early_until=config.early_until())
  result = dict(summary, transform=config.transform,
                transform_seeds=[config.transform_seed_of(s) for s in config.seeds()],
                rotation_fraction=config.rotation_fraction,
                # mean over labels of ‖T_y^a - I‖_F, per seed: how far the target is rotated
                transform_distance=[float(transforms_lib.distance_from_identity(config.transforms(
                    teacher.num_classes, teacher.latent_dim, config.transform_seed_of(s))).mean())
                                    for s in config.seeds()],
                dataset=teacher_config.dataset,
                teacher=os.path.abspath(teacher_workdir), steps=steps,
                num_train_examples=len(train_data), num_heldout_examples=len(heldout),
                config=dataclasses.asdict(config))
  files.write_json(os.path.join(workdir, "regression.json"), result)
  files.write_json(os.path.join(workdir, "timing.json"),
              {"seconds_this_call": round(time.time() - began, 1)})
  for problem in PROBLEMS:
    s = summary[problem]
    logging.info("%s: final %.4g vs %.4g (ratio %.3f); steps to %d%%: %.0f vs %.0f (p=%.3g); "
                 "AUC %.4f vs %.4f (p=%.3g)  [disentangled vs entangled]", problem,
                 s["final_loss"]["disentangled"]["mean"], s["final_loss"]["entangled"]["mean"],
                 s["final_loss"]["ratio"]["mean"], round(100 * config.fraction),
                 s["steps_to_fraction"]["disentangled"]["mean"],
                 s["steps_to_fraction"]["entangled"]["mean"], s["steps_to_fraction"]["p_value"],
                 s["auc"]["disentangled"]["mean"], s["auc"]["entangled"]["mean"],
                 s["auc"]["p_value"])
    if "train" in s:
      t = s["train"]
      logging.info("%s, training loss: final %.4g vs %.4g; steps to %d%%: %.0f vs %.0f (p=%.3g)",
                   problem, t["final_loss"]["disentangled"]["mean"],
                   t["final_loss"]["entangled"]["mean"], round(100 * config.fraction),
                   t["steps_to_fraction"]["disentangled"]["mean"],
                   t["steps_to_fraction"]["entangled"]["mean"], t["steps_to_fraction"]["p_value"])
  logging.info("Results in %s", workdir)
  return files.jsonable(result)
