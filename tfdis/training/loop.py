"""The one training loop: `fit(trainer, workdir, ...)` runs a trainer's steps and owns the rest.

Every experiment that trains (the shared VAE of Sec. 1, the seed-batched competition models of
App. B, the regression networks of Sec. 3) hands `fit` a trainer, which supplies only

```none
checkpoint        tf.train.Checkpoint of its variables and optimizer (None: never checkpointed)
variables         its tf.Variables (checked finite before an interrupted run is saved)
completed_steps   optimisation steps applied so far (the optimizer's count, restored with it)
batch(step)       the arguments of step `step` (a pure function of the step and the seeds)
step(*batch)      the compiled optimisation step; returns tensors (NaN-checked, and summarised)
scalars(outputs)  {name: float} to log for one step's outputs
out_of_range(outputs)  optional: None, or why a step's finite outputs show a diverged run
run_steps(start, n)    optional (for `steps_per_call`): steps start ... start + n - 1 in one
                       compiled call; returns the n steps' outputs, in order
```

and `fit` alone owns the rest:

  restore and save   tf.train.CheckpointManager in <workdir>/checkpoints; resumes automatically
                     from the newest intact checkpoint (`tfdis.training.checkpoints`), refuses to
                     go back to fewer steps than a workdir holds, and saves only finite weights
  signals            SIGTERM and Ctrl-C checkpoint the last completed step and end with one line
  divergence         every step's outputs must be finite and in range (`out_of_range`), and the
                     weights finite at every checkpoint and at the end; else training stops with
                     the last good checkpoint kept. With `check_every=N` the outputs are kept on
                     the device and read in one transfer every N steps (and before every progress
                     line, hook, checkpoint, interruption and the end), so no step waits for the
                     host; the error names the first bad step all the same, training has then run
                     at most N - 1 steps past it, and no checkpoint is written from unchecked
                     steps. The numbers trained are the same for every N.
  calls              with `steps_per_call=K` a trainer's `run_steps` runs up to K steps in one
                     compiled call, cut short so that every progress line, hook and checkpoint
                     still falls after its own step (opt in: the same steps compiled as one
                     program, whose fusions XLA may choose otherwise; the tests find the same
                     weights at small sizes)
  progress           a line with steps/s and ETA every `log_every` steps; TensorBoard scalars in
                     <workdir>/tensorboard
  hooks              `EveryN(n, fn)` / `AtSteps(steps, fn)` call fn(step) after those steps,
                     e.g. a periodic evaluation; what fn returns (if not None) must be finite too

A step interrupted from Python has either run whole or not at all (the optimizer's count says
which), so the checkpoint an interruption writes is exact and resuming continues the same run.
"""
import os
import signal
import time

from absl import logging
import tensorflow as tf

from tfdis import files
from tfdis.errors import UsageError
from tfdis.training import checkpoints


class NonFiniteLossError(UsageError):
  """The loss became NaN or infinite; the last good checkpoint was kept."""


class EveryN:
  """A hook: fn(step) after every `every`-th completed step (and at step 0 if `at_start`)."""

  def __init__(self, every, fn, at_start=False):
    if every < 1:
      raise ValueError(f"every={every} must be a positive integer.")
    self.every, self.fn, self.at_start = int(every), fn, at_start

  def due(self, step):
    return step % self.every == 0 and (step > 0 or self.at_start)

  def __call__(self, step):
    return self.fn(step)


class AtSteps:
  """A hook: fn(step) after each completed step in `steps` (0: before the first step)."""

  def __init__(self, steps, fn):
    self.steps, self.fn = {int(s) for s in steps}, fn

  def due(self, step):
    return step in self.steps

  def __call__(self, step):
    return self.fn(step)


class _Interrupted(BaseException):
  """SIGTERM, raised like KeyboardInterrupt so no library's `except Exception` swallows it."""


def _raise_interrupt(signum, frame):
  del frame
  raise _Interrupted(signal.Signals(signum).name)


def fit(trainer, workdir, num_steps, log_every, checkpoint_every=None, hooks=(), max_to_keep=2,
        later_steps=0, log_prefix="", scalar_prefix="train/", check_every=1,
        steps_per_call=1):
  """Trains (or resumes) `trainer` up to `num_steps` completed steps.

  Args:
    trainer: see the module docstring.
    workdir: folder of checkpoints/ and tensorboard/ (see `tfdis.files.prepare`); None: neither.
    num_steps: completed steps to reach.
    log_every: steps between progress lines (and TensorBoard scalars).
    checkpoint_every: steps between checkpoints; None or 0: no checkpoints (nor restore).
    hooks: `EveryN` / `AtSteps` (anything with due(step) and __call__(step)), called in order.
    max_to_keep: checkpoints kept (two: a damaged newest one leaves an intact one to resume).
    later_steps: steps of later `fit` calls of the same job, counted in the ETA.
    log_prefix: start of each progress line (e.g. which seeds).
    scalar_prefix: start of each TensorBoard scalar's name.
    check_every: steps whose outputs are checked together, in one transfer from the device
      (1: after every step); see the module docstring.
    steps_per_call: most steps per compiled call (> 1 needs the trainer's `run_steps`).

  Returns:
    Wall seconds spent in the loop in this call.

  Raises:
    NonFiniteLossError: a step's outputs became NaN, infinite or out of range, or the weights
      non-finite (the last good checkpoint is kept).
    UsageError: interrupted (after checkpointing the last completed step); the workdir holds
      more steps than `num_steps`; a checkpoint could not be written.
  """
  if check_every < 1:
    raise ValueError(f"check_every={check_every} must be a positive integer.")
  if steps_per_call < 1 or (steps_per_call > 1 and not hasattr(trainer, "run_steps")):
    raise ValueError(f"steps_per_call={steps_per_call} must be 1, or a positive integer for a "
                     "trainer with run_steps.")
  if checkpoint_every and not workdir:
    raise ValueError("Checkpoints need a workdir; give one or checkpoint_every=None.")
  manager, last_saved = None, None
  if checkpoint_every:
    directory = os.path.join(workdir, "checkpoints")
    last_saved, damaged = checkpoints.restore_newest_intact(trainer.checkpoint, directory)
    checkpoints.set_aside(directory, damaged)
    checkpoints.repair_state(directory)
    manager = tf.train.CheckpointManager(trainer.checkpoint, directory, max_to_keep=max_to_keep)
    if last_saved is not None:
      logging.info("Resumed from %s at step %d.", checkpoints.prefix(directory, last_saved),
                   trainer.completed_steps)
  start = trainer.completed_steps
  if start > num_steps:
    raise UsageError(f"{workdir} already holds a run trained for {start} steps, more than "
                     f"--num_steps={num_steps}; give --num_steps={start} or more to continue it, "
                     "or a new --workdir.")
  writer = (tf.summary.create_file_writer(os.path.join(workdir, "tensorboard")) if workdir
            else tf.summary.create_noop_writer())
  is_due = lambda done, every: bool(every) and (done % every == 0 or done == num_steps)
  out_of_range = getattr(trainer, "out_of_range", lambda outputs: None)

  def stop(what, done):
    kept = (f"the last good checkpoint (step {last_saved}) is kept" if last_saved is not None
            else "no checkpoint was written")
    raise NonFiniteLossError(f"{what} by step {done}; training stopped, {kept} and no results "
                             "were written; lower --learning_rate and train in a new --workdir.")

  def check(outputs, done):
    if not checkpoints.all_finite(outputs):
      stop("The loss became NaN or infinite", done)
    why = out_of_range(outputs)
    if why:
      stop(f"The run diverged ({why})", done)

  pending = []  # (done, outputs) of steps not checked yet (check_every > 1)

  def check_pending():
    """Checks the pending steps' outputs, read from the device in one transfer, in step order."""
    if not pending:
      return
    stacked = tf.nest.map_structure(lambda *xs: tf.stack(xs).numpy(),
                                    *[outputs for _, outputs in pending])
    for i, (done, _) in enumerate(pending):
      check(tf.nest.map_structure(lambda array, i=i: array[i], stacked), done)
    pending.clear()

  def check_weights(done):
    if not checkpoints.all_finite(trainer.variables):
      stop("The weights became NaN or infinite", done)

  def log(outputs, done, rate):
    scalars = trainer.scalars(outputs)
    eta = (num_steps - done + later_steps) / max(rate, 1e-9)
    logging.info("%sstep %d/%d  %s  %.1f steps/s  ETA %s", log_prefix, done, num_steps,
                 "  ".join(f"{k} {v:.4g}" for k, v in scalars.items()), rate,
                 files.format_seconds(eta))
    with writer.as_default(step=done):
      for k, v in scalars.items():
        tf.summary.scalar(scalar_prefix + k, v)
      tf.summary.scalar(scalar_prefix + "steps_per_second", rate)

  def run_hooks(due, done):
    for hook in due:
      result = hook(done)
      if result is not None and not checkpoints.all_finite([result]):
        stop(f"A hook's value ({result}) became NaN or infinite", done)

  def call_size(step):
    """Steps of the call starting at `step`: up to steps_per_call, ending at the next step that
    logs, runs a hook, checkpoints or is the last."""
    for count in range(1, steps_per_call):
      done = step + count
      if (done == num_steps or is_due(done, log_every) or
          (manager and is_due(done, checkpoint_every)) or any(h.due(done) for h in hooks)):
        return count
    return steps_per_call

  def run(step):
    """The outputs of the steps of one call starting at `step`."""
    count = call_size(step) if steps_per_call > 1 else 1
    if count == 1:
      return [trainer.step(*trainer.batch(step))]
    return trainer.run_steps(step, count)

  previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM,)}
  began = time.time()
  window_start, window_step = began, start
  try:
    if start == 0:
      run_hooks([hook for hook in hooks if hook.due(0)], 0)
    step = start
    while step < num_steps:
      for outputs in run(step):
        step += 1
        done = step
        due = [hook for hook in hooks if hook.due(done)]
        saving = manager and is_due(done, checkpoint_every)
        if check_every == 1:
          check(outputs, done)
        else:
          pending.append((done, outputs))
          if (len(pending) >= check_every or due or saving or done == num_steps or
              is_due(done, log_every)):
            check_pending()
        if is_due(done, log_every):
          rate = (done - window_step) / max(time.time() - window_start, 1e-9)
          window_start, window_step = time.time(), done
          log(outputs, done, rate)
        run_hooks(due, done)
        if saving:
          check_weights(done)
          checkpoints.save(manager, done, trainer.variables)
          last_saved = done
    check_weights(trainer.completed_steps)
  except (KeyboardInterrupt, _Interrupted) as e:
    where = "run the same command again to resume"
    if manager:
      check_pending()  # a diverged step stops here, before anything is saved
      if (trainer.completed_steps > start and trainer.completed_steps != last_saved
          and checkpoints.all_finite(trainer.variables)):
        checkpoints.save(manager, trainer.completed_steps, trainer.variables)
      where = f"progress is checkpointed in {workdir}, " + where
    raise UsageError(f"Interrupted ({str(e) or 'SIGINT'}); {where}.") from None
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
    writer.flush()
  return time.time() - began
