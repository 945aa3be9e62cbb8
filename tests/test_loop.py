"""The training loop on a tiny trainer: exact resume, interrupts, the NaN stop, hooks, scalars."""
import os
import signal
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tfdis.errors import UsageError
from tfdis.training import loop
from tfdis.training import steps


class _LinearTrainer:
  """Fits w [3] to y = w_true · x with Adam; step s sees a batch seeded by s."""

  def __init__(self, nan_from=None, interrupt_at=None, sigterm_at=None):
    self.w = tf.Variable([1.0, -2.0, 0.5])
    self.variables = [self.w]
    self.optimizer = steps.adam(0.1, self.variables)
    self.checkpoint = tf.train.Checkpoint(w=self.w, optimizer=self.optimizer)
    self.nan_from, self.interrupt_at, self.sigterm_at = nan_from, interrupt_at, sigterm_at
    self.batches = []

    def loss_fn(x, y):
      loss = tf.reduce_mean(tf.square(tf.linalg.matvec(x, self.w) - y))
      return loss, loss
    self.step = tf.function(steps.optimizer_step(loss_fn, self.variables, self.optimizer))

  @property
  def completed_steps(self):
    return int(self.optimizer.iterations.numpy())

  def batch(self, step):
    if step == self.interrupt_at:
      raise KeyboardInterrupt()
    if step == self.sigterm_at:
      os.kill(os.getpid(), signal.SIGTERM)
    self.batches.append(step)
    x = np.random.default_rng([4, step]).standard_normal((5, 3)).astype(np.float32)
    y = x @ np.array([0.3, 0.2, -0.7], np.float32)
    if self.nan_from is not None and step >= self.nan_from:
      y[0] = np.nan
    return tf.constant(x), tf.constant(y)

  def scalars(self, loss):
    return {"loss": float(loss)}


def _latest_step(workdir):
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  return None if latest is None else int(latest.rsplit("-", 1)[1])


def test_resume_equals_uninterrupted_training(tmp_path):
  straight = _LinearTrainer()
  loop.fit(straight, str(tmp_path / "a"), num_steps=10, log_every=5, checkpoint_every=3)
  first = _LinearTrainer()
  loop.fit(first, str(tmp_path / "b"), num_steps=4, log_every=5, checkpoint_every=3)
  assert _latest_step(str(tmp_path / "b")) == 4  # the last step is always checkpointed
  resumed = _LinearTrainer()
  loop.fit(resumed, str(tmp_path / "b"), num_steps=10, log_every=5, checkpoint_every=3)
  assert resumed.batches == list(range(4, 10))
  assert resumed.completed_steps == 10
  np.testing.assert_array_equal(resumed.w.numpy(), straight.w.numpy())
  assert not np.allclose(straight.w.numpy(), [1.0, -2.0, 0.5])


@pytest.mark.parametrize("how,match", [("interrupt_at", r"Interrupted \(SIGINT\)"),
                                       ("sigterm_at", r"Interrupted \(SIGTERM\)")])
def test_interrupt_checkpoints_the_last_completed_step(how, match, tmp_path):
  workdir = str(tmp_path)
  trainer = _LinearTrainer(**{how: 6})
  handler = signal.getsignal(signal.SIGTERM)
  with pytest.raises(UsageError, match=match + ".*run the same command again to resume"):
    loop.fit(trainer, workdir, num_steps=10, log_every=100, checkpoint_every=4)
  assert trainer.completed_steps == 6
  assert _latest_step(workdir) == 6
  assert signal.getsignal(signal.SIGTERM) is handler  # restored
  resumed = _LinearTrainer()
  loop.fit(resumed, workdir, num_steps=10, log_every=100, checkpoint_every=4)
  straight = _LinearTrainer()
  loop.fit(straight, str(tmp_path / "straight"), num_steps=10, log_every=100, checkpoint_every=4)
  np.testing.assert_array_equal(resumed.w.numpy(), straight.w.numpy())


def test_nan_stops_at_once_and_keeps_the_last_good_checkpoint(tmp_path):
  trainer = _LinearTrainer(nan_from=6)  # the 7th step's loss is NaN
  with pytest.raises(loop.NonFiniteLossError, match="by step 7.*step 6.*new --workdir"):
    loop.fit(trainer, str(tmp_path), num_steps=20, log_every=4, checkpoint_every=2)
  assert trainer.batches == list(range(7))
  assert _latest_step(str(tmp_path)) == 6
  restored = _LinearTrainer()
  restored.checkpoint.restore(tf.train.latest_checkpoint(str(tmp_path / "checkpoints")))
  assert np.isfinite(restored.w.numpy()).all()


def test_checking_every_n_steps_trains_the_same_numbers(tmp_path):
  every_step, batched = _LinearTrainer(), _LinearTrainer()
  loop.fit(every_step, str(tmp_path / "a"), num_steps=11, log_every=4, checkpoint_every=5)
  loop.fit(batched, str(tmp_path / "b"), num_steps=11, log_every=4, checkpoint_every=5,
           check_every=3)
  np.testing.assert_array_equal(batched.w.numpy(), every_step.w.numpy())
  assert batched.batches == every_step.batches == list(range(11))
  assert _latest_step(str(tmp_path / "b")) == 11
  with pytest.raises(ValueError, match="check_every=0"):
    loop.fit(_LinearTrainer(), None, num_steps=2, log_every=1, check_every=0)


class _MultiStepTrainer(_LinearTrainer):
  """Runs several steps per call (here simply one after another) and records each call."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.calls = []

  def run_steps(self, start, count):
    self.calls.append((start, count))
    return [self.step(*self.batch(s)) for s in range(start, start + count)]


def test_several_steps_per_call_end_at_every_log_hook_and_checkpoint(tmp_path):
  calls = []
  trainer = _MultiStepTrainer()
  loop.fit(trainer, str(tmp_path / "a"), num_steps=11, log_every=5, checkpoint_every=4,
           steps_per_call=3, hooks=[loop.AtSteps([2], calls.append)])
  # Calls end at step 2 (hook), 4 (checkpoint), 5 (log, one step: the trainer's own step),
  # 8 (checkpoint), 10 (log) and 11 (the last).
  assert trainer.calls == [(0, 2), (2, 2), (5, 3), (8, 2)]
  assert calls == [2] and trainer.batches == list(range(11))
  assert _latest_step(str(tmp_path / "a")) == 11
  straight = _LinearTrainer()
  loop.fit(straight, None, num_steps=11, log_every=5)
  np.testing.assert_array_equal(trainer.w.numpy(), straight.w.numpy())
  with pytest.raises(ValueError, match="steps_per_call=2 must be 1, or .* run_steps"):
    loop.fit(_LinearTrainer(), None, num_steps=2, log_every=1, steps_per_call=2)


def test_nan_found_by_a_batched_check_names_its_step_and_is_never_checkpointed(tmp_path):
  trainer = _LinearTrainer(nan_from=6)  # the 7th step's loss (and from then the weights) is NaN
  with pytest.raises(loop.NonFiniteLossError, match="NaN or infinite by step 7.*step 4"):
    loop.fit(trainer, str(tmp_path), num_steps=20, log_every=100, checkpoint_every=4,
             check_every=5)
  # Steps 5-8 were checked together before the checkpoint of step 8, which was not written.
  assert trainer.batches == list(range(8))
  assert _latest_step(str(tmp_path)) == 4
  restored = _LinearTrainer()
  restored.checkpoint.restore(tf.train.latest_checkpoint(str(tmp_path / "checkpoints")))
  assert np.isfinite(restored.w.numpy()).all()


class _OutOfRangeTrainer(_LinearTrainer):
  """Flags a loss above `limit` as diverged, as the VAE trainer does for its ELBO."""

  def __init__(self, limit, **kwargs):
    super().__init__(**kwargs)
    self.limit = limit

  def out_of_range(self, loss):
    return f"loss {float(loss):.3g} > {self.limit}" if float(loss) > self.limit else None


def test_a_finite_loss_out_of_range_stops_like_nan(tmp_path):
  trainer = _OutOfRangeTrainer(limit=0.0)  # every loss is above 0
  with pytest.raises(loop.NonFiniteLossError, match=r"diverged \(loss .* > 0.0\) by step 1"):
    loop.fit(trainer, str(tmp_path), num_steps=20, log_every=4, checkpoint_every=2)
  assert _latest_step(str(tmp_path)) is None


def test_an_interrupt_checks_the_unchecked_steps_before_saving(tmp_path):
  trainer = _OutOfRangeTrainer(limit=0.0, interrupt_at=3)  # every loss is out of range
  with pytest.raises(loop.NonFiniteLossError, match=r"diverged \(loss .* > 0.0\) by step 1"):
    loop.fit(trainer, str(tmp_path), num_steps=20, log_every=100, checkpoint_every=10,
             check_every=10)
  assert trainer.completed_steps == 3  # steps 1-3 ran unchecked; none of them was saved
  assert _latest_step(str(tmp_path)) is None


def test_non_finite_weights_are_never_checkpointed(tmp_path):
  trainer = _LinearTrainer()
  # After step 4's update, as a too-large step would: the weights break, the loss was finite.
  breaks = loop.AtSteps([4], lambda step: trainer.w.assign([np.inf, 0.0, 0.0]).numpy()[1:].sum()
                       or None)
  with pytest.raises(loop.NonFiniteLossError, match="weights became NaN or infinite by step 4"):
    loop.fit(trainer, str(tmp_path), num_steps=8, log_every=4, checkpoint_every=2, hooks=[breaks])
  assert _latest_step(str(tmp_path)) == 2


@pytest.mark.parametrize("damage", ["truncated_data", "truncated_index", "empty_state",
                                    "state_names_deleted_files", "garbled_state"])
def test_a_damaged_newest_checkpoint_resumes_from_the_one_before(damage, tmp_path):
  workdir = str(tmp_path)
  loop.fit(_LinearTrainer(), workdir, num_steps=4, log_every=4, checkpoint_every=2)
  directory = tmp_path / "checkpoints"
  if damage == "truncated_data":
    next(directory.glob("ckpt-4.data-*")).write_bytes(b"xx")
  elif damage == "truncated_index":
    (directory / "ckpt-4.index").write_bytes(b"xx")
  elif damage == "empty_state":
    (directory / "checkpoint").write_text("")
  elif damage == "garbled_state":
    (directory / "checkpoint").write_text("model_checkpoint_path: {{{")
  else:
    (directory / "checkpoint").write_text('model_checkpoint_path: "ckpt-9"\n')
  resumed = _LinearTrainer()
  loop.fit(resumed, workdir, num_steps=6, log_every=2, checkpoint_every=2)
  expect = 2 if damage.startswith("truncated") else 4
  assert resumed.batches == list(range(expect, 6))
  uninterrupted = _LinearTrainer()
  loop.fit(uninterrupted, None, num_steps=6, log_every=2)
  np.testing.assert_array_equal(resumed.w.numpy(), uninterrupted.w.numpy())
  assert _latest_step(workdir) == 6
  if damage.startswith("truncated"):  # moved aside, out of the way of later resumes
    assert (directory / "damaged" / "ckpt-4.index").exists()


def test_every_checkpoint_damaged_is_one_clear_error(tmp_path):
  loop.fit(_LinearTrainer(), str(tmp_path), num_steps=4, log_every=4, checkpoint_every=2)
  for path in (tmp_path / "checkpoints").glob("ckpt-*.index"):
    path.write_bytes(b"xx")
  with pytest.raises(UsageError, match="Every checkpoint in .* is damaged.*steps 4, 2"):
    loop.fit(_LinearTrainer(), str(tmp_path), num_steps=6, log_every=2, checkpoint_every=2)


def test_fewer_steps_than_the_workdir_holds_is_refused(tmp_path):
  loop.fit(_LinearTrainer(), str(tmp_path), num_steps=4, log_every=4, checkpoint_every=2)
  with pytest.raises(UsageError, match="trained for 4 steps, more than --num_steps=3"):
    loop.fit(_LinearTrainer(), str(tmp_path), num_steps=3, log_every=4, checkpoint_every=2)


def test_a_failed_checkpoint_write_keeps_the_earlier_one_and_names_the_space(tmp_path):
  trainer = _LinearTrainer()
  loop.fit(trainer, str(tmp_path), num_steps=2, log_every=2, checkpoint_every=2)
  full = tf.errors.ResourceExhaustedError(None, None, "ckpt-4_temp/part; No space left on device")
  with mock.patch.object(tf.train.CheckpointManager, "save", side_effect=full):
    with pytest.raises(UsageError, match=r"checkpoint of step 4 .*No space left on device.* "
                                         r"about \d+\.\d MiB.*step 2 is intact"):
      loop.fit(trainer, str(tmp_path), num_steps=4, log_every=2, checkpoint_every=2)
  assert _latest_step(str(tmp_path)) == 2


def test_hooks_are_called_at_their_steps_and_not_again_on_resume(tmp_path):
  calls = []
  hooks = lambda: [loop.EveryN(3, lambda s: calls.append(("every", s))),
                   loop.AtSteps([0, 2, 7], lambda s: calls.append(("at", s)))]
  loop.fit(_LinearTrainer(), str(tmp_path), num_steps=4, log_every=10, checkpoint_every=2,
           hooks=hooks())
  assert calls == [("at", 0), ("at", 2), ("every", 3)]
  calls.clear()
  loop.fit(_LinearTrainer(), str(tmp_path), num_steps=7, log_every=10, checkpoint_every=2,
           hooks=hooks())
  assert calls == [("every", 6), ("at", 7)]


def test_a_hook_returning_nan_stops_training(tmp_path):
  hook = loop.AtSteps([3], lambda s: [1.0, float("nan")])
  trainer = _LinearTrainer()
  with pytest.raises(loop.NonFiniteLossError, match="by step 3"):
    loop.fit(trainer, None, num_steps=10, log_every=100, hooks=[hook])
  assert trainer.completed_steps == 3


def test_progress_scalars_go_to_tensorboard(tmp_path):
  loop.fit(_LinearTrainer(), str(tmp_path), num_steps=6, log_every=3, scalar_prefix="fit/")
  tags = {}
  for name in os.listdir(tmp_path / "tensorboard"):
    for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "tensorboard" / name)):
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(event.step)
  assert tags == {"fit/loss": [3, 6], "fit/steps_per_second": [3, 6]}
  assert not os.path.exists(tmp_path / "checkpoints")  # checkpoint_every=None: none written
