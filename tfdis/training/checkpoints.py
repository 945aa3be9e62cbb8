"""A run's checkpoints on disk: restoring the newest intact one, and saving without losing any.

Checkpoints live in <workdir>/checkpoints as ckpt-<step>.index / ckpt-<step>.data-* (the step is
the checkpoint's number), with TF's `checkpoint` state file beside them. The files themselves are
the record: the state file can be empty, garbled or name deleted files after a crash or a full
disk, so restoring looks at the files present, newest first, and takes the first that reads back
whole (a damaged one is skipped with one warning line naming it). Saving refuses non-finite
weights, so a kept checkpoint is always one a run can continue from, and a write that fails (a
full disk, a file-size limit) removes its partial files and says how much space a checkpoint needs,
leaving the earlier checkpoints as they were.
"""
import glob
import os
import re
import shutil

from absl import logging
import numpy as np
import tensorflow as tf

from tfdis import files
from tfdis.errors import UsageError
from tfdis.errors import write_failure

_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
# What a damaged checkpoint raises on restore: TF's read errors, a short read, a bad header.
_READ_ERRORS = (tf.errors.OpError, IndexError, ValueError, OSError, AssertionError)


def steps_on_disk(directory):
  """Steps of the checkpoints whose index file is present in `directory`, newest first."""
  if not os.path.isdir(directory):
    return []
  found = (_INDEX.match(name) for name in os.listdir(directory))
  return sorted((int(m.group(1)) for m in found if m), reverse=True)


def prefix(directory, step):
  """The checkpoint prefix of `step` in `directory` (what tf.train.Checkpoint.restore takes)."""
  return os.path.join(directory, f"ckpt-{step}")


def restore_newest_intact(checkpoint, directory, partial=False):
  """Restores the newest checkpoint in `directory` that reads back whole.

  Args:
    checkpoint: the tf.train.Checkpoint to restore into.
    directory: the checkpoints folder.
    partial: the checkpoint may hold more than `checkpoint` tracks (e.g. the optimizer, when
      only the model is restored for evaluation).

  Returns:
    (step restored or None when `directory` holds no checkpoint, steps found damaged).

  Raises:
    UsageError: checkpoints exist but every one is damaged, or the newest intact one holds
      variables of other shapes (a mismatch: another model's checkpoint, kept as it is).
  """
  candidates, damaged = steps_on_disk(directory), []
  for step in candidates:
    try:
      status = checkpoint.restore(prefix(directory, step))
      if partial:
        status.expect_partial()
      status.assert_existing_objects_matched()
    except _READ_ERRORS as e:
      reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
      if "incompatible tensor with shape" in reason:  # intact, but of another model
        raise UsageError(f"The checkpoints in {directory} hold a model of other shapes than "
                         f"these flags build (ckpt-{step}: {reason}); give the flags it was "
                         "trained with, or use a new --workdir.") from None
      logging.warning("Checkpoint %s is damaged (%s%s); trying the one before it.",
                      prefix(directory, step), type(e).__name__, ": " + reason if reason else "")
      damaged.append(step)
      continue
    if damaged:
      logging.warning("Restored %s, the newest intact checkpoint.", prefix(directory, step))
    return step, damaged
  if candidates:
    raise UsageError(f"Every checkpoint in {directory} is damaged (steps "
                     f"{', '.join(map(str, candidates))}); delete that folder to train from "
                     "the start, or restore it from a copy.")
  return None, damaged


def set_aside(directory, steps):
  """Moves the files of checkpoints `steps` into <directory>/damaged/, out of a run's way."""
  for step in steps:
    names = [os.path.basename(p) for p in glob.glob(prefix(directory, step) + ".*")]
    files.set_aside(directory, names, "damaged")


def remove_partial_writes(directory):
  """Removes the `ckpt-<step>_temp/` folders of writes that never finished (a kill -9)."""
  for leftover in glob.glob(os.path.join(directory, "ckpt-*_temp*")):
    logging.warning("Removing %s, the partial write of a checkpoint.", leftover)
    if os.path.isdir(leftover):
      shutil.rmtree(leftover, ignore_errors=True)
    else:
      os.remove(leftover)


def repair_state(directory):
  """Rewrites the `checkpoint` state file if it does not name the newest checkpoint on disk.

  A crash or a full disk can leave it empty, garbled or naming deleted files; the rewritten one
  names the checkpoints present, newest last, so the manager keeps deleting the oldest as usual.
  Partial writes (`remove_partial_writes`) are removed first; only a writer of the folder (the
  training loop, holding the workdir's lock) calls this.
  """
  remove_partial_writes(directory)
  present = sorted(steps_on_disk(directory))
  if not present:
    return
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (ValueError, tf.errors.OpError):
    state = None
  if state is not None and os.path.basename(state.model_checkpoint_path) == f"ckpt-{present[-1]}":
    return
  names = [f"ckpt-{s}" for s in present]  # relative, like the manager's: the folder can move
  stamps = [os.path.getmtime(prefix(directory, s) + ".index") for s in present]
  tf.compat.v1.train.update_checkpoint_state(
      directory, names[-1], all_model_checkpoint_paths=names,
      all_model_checkpoint_timestamps=stamps, last_preserved_timestamp=min(stamps) - 1)
  logging.warning("Rewrote the state file of %s: it now names steps %s.", directory,
                  ", ".join(map(str, present)))


def _size_bytes(directory, step):
  return sum(os.path.getsize(p) for p in glob.glob(prefix(directory, step) + ".*"))


def _checkpoint_bytes(checkpoint, variables):
  """The bytes one checkpoint takes, measured by writing it to memory (ram://).

  It holds the optimizer's state too, so the variables alone would understate it; if even the
  in-memory write fails, their size is the (lower) answer.
  """
  where = f"ram://tfdis_checkpoint_size_{os.getpid()}"
  try:
    checkpoint.write(f"{where}/ckpt")
    return sum(tf.io.gfile.stat(f"{where}/{name}").length for name in tf.io.gfile.listdir(where))
  except (tf.errors.OpError, OSError):
    return sum(int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size  # Keras 3: dtype is a str
               for v in variables)
  finally:
    if tf.io.gfile.exists(where):
      tf.io.gfile.rmtree(where)


def all_finite(values):
  """True when every number in `values` (a nest of tensors, variables or arrays) is finite."""
  arrays = (np.asarray(v) for v in tf.nest.flatten(values))  # tf and Keras variables alike
  return all(np.isfinite(x).all() for x in arrays if np.issubdtype(x.dtype, np.inexact))


def save(manager, step, variables):
  """Writes the checkpoint of `step` through `manager`, or removes its partial files and explains.

  Args:
    manager: the run's tf.train.CheckpointManager.
    step: completed steps (the checkpoint's number).
    variables: the trainer's variables; they must be finite (checked by the caller).

  Raises:
    UsageError: the write failed (a full disk, a file-size limit, a read-only folder); the
      message names the cause and the space one checkpoint takes, and earlier checkpoints are
      kept as they were.
  """
  directory = manager.directory
  try:
    return manager.save(checkpoint_number=step)
  except (tf.errors.OpError, OSError) as e:
    for leftover in glob.glob(prefix(directory, step) + "_temp*"):
      shutil.rmtree(leftover, ignore_errors=True)
    earlier = [s for s in steps_on_disk(directory) if s < step]
    if earlier:
      size = _size_bytes(directory, earlier[0])
      kept = f"the checkpoint of step {earlier[0]} is intact"
    else:
      size = _checkpoint_bytes(manager.checkpoint, variables)
      kept = "no earlier checkpoint exists"
    raise UsageError(f"Could not write the checkpoint of step {step} in {directory} "
                     f"({write_failure(e)}); "
                     f"one checkpoint takes about {size / 2**20:.1f} MiB: free space (or lift "
                     f"the limit) and run the same command again to resume ({kept}).") from None
