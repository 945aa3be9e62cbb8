"""Label-balanced batches (tfdis.data.balanced) and training with them (--balanced_batches)."""
import numpy as np
import pytest
import tensorflow as tf

from tfdis.data import balanced
from tfdis.data import datasets
from tfdis.errors import UsageError
from tfdis.training import config as config_lib
from tfdis.training import steps
from tfdis.training import vae_training

K = 3
# Label 0: 4 examples, label 1: 7, label 2: 5 (all differ, so a pass ends at a different step
# for each label).
LABELS = np.array([1, 0, 2, 1, 1, 0, 2, 1, 2, 0, 1, 2, 1, 0, 2, 1], np.int32)


def test_every_batch_holds_n_of_each_label_in_label_order():
  order = balanced.BalancedOrder(LABELS, batch_size=6, seed=0, num_classes=K)
  for step in range(12):
    idx = order.indices(step)
    assert idx.dtype == np.int64
    assert LABELS[idx].tolist() == [0, 0, 1, 1, 2, 2]


def test_each_label_runs_through_its_examples_without_replacement():
  order = balanced.BalancedOrder(LABELS, batch_size=6, seed=0, num_classes=K)
  # Label 1 has 7 examples and 2 per step: steps 0-2 take 6 of them, step 3 the last one of
  # pass 0 and the first of pass 1.
  ones = np.concatenate([order.indices(step)[2:4] for step in range(7)])  # 14 = two passes
  assert sorted(ones[:7]) == sorted(np.flatnonzero(LABELS == 1))
  assert sorted(ones[7:]) == sorted(np.flatnonzero(LABELS == 1))
  assert ones[:7].tolist() != ones[7:].tolist()  # each pass its own permutation
  zeros = np.concatenate([order.indices(step)[:2] for step in range(6)])  # 12 = three passes
  for p in range(3):
    assert sorted(zeros[4 * p:4 * p + 4]) == sorted(np.flatnonzero(LABELS == 0))


def test_batches_are_a_pure_function_of_seed_and_step():
  a = balanced.BalancedOrder(LABELS, 6, seed=3, num_classes=K)
  b = balanced.BalancedOrder(LABELS, 6, seed=3, num_classes=K)
  forward = [a.indices(s).tolist() for s in range(10)]
  # A resumed run asks for step 7 first (mid-pass for every label), then goes on.
  resumed = [b.indices(s).tolist() for s in (7, 8, 9)]
  assert resumed == forward[7:]
  assert [b.indices(s).tolist() for s in range(10)] == forward  # back to the start too
  other = balanced.BalancedOrder(LABELS, 6, seed=4, num_classes=K)
  assert [other.indices(s).tolist() for s in range(10)] != forward


def test_tf_data_pipeline_gives_the_same_batches_and_resumes_mid_pass():
  images = np.arange(len(LABELS) * 2, dtype=np.float32).reshape(len(LABELS), 2, 1, 1)
  order = balanced.BalancedOrder(LABELS, 6, seed=1, num_classes=K)
  whole = list(balanced.dataset(images, LABELS, 6, seed=1, num_classes=K).take(8))
  resumed = list(balanced.dataset(images, LABELS, 6, seed=1, start_step=5, num_classes=K).take(3))
  for step, (x, y) in enumerate(whole):
    np.testing.assert_array_equal(x.numpy(), images[order.indices(step)])
    assert y.dtype == tf.int32 and y.numpy().tolist() == [0, 0, 1, 1, 2, 2]
  for (x, _), (x_whole, _) in zip(resumed, whole[5:]):
    np.testing.assert_array_equal(x.numpy(), x_whole.numpy())


@pytest.mark.parametrize("batch_size,match", [
    (7, "multiple of the 3 labels; 7 is not: use e.g. 6 or 9"),
    (15, "at least 5 training examples of every label .* label 0 has 4")])
def test_bad_batch_sizes_say_what_to_do(batch_size, match):
  with pytest.raises(UsageError, match=match):
    balanced.BalancedOrder(LABELS, batch_size, seed=0, num_classes=K)


def test_mnist_train_label_counts_give_uniform_batches():
  _, labels = datasets.load_arrays("mnist", "test")
  idx = balanced.BalancedOrder(labels, 130, seed=0).indices(41)
  assert np.bincount(labels[idx], minlength=10).tolist() == [13] * 10
  assert len(set(idx.tolist())) == 130


def _trainer(balanced_batches, images, labels, architecture="mlp"):
  config = config_lib.TrainConfig(
      hidden_units=6, latent_dim=2, batch_size=6, num_hidden_layers=1, encoder_split="all",
      decoder_split="all", balanced_batches=balanced_batches, jit_compile=False,
      architecture=architecture)
  info = datasets.DatasetInfo("mnist", tuple(images.shape[1:]), num_classes=K)
  return vae_training.VAETrainer(config, images, labels, info, steps.make_strategy("default"))


@pytest.mark.parametrize("architecture,size", [("mlp", 4), ("conv", 28)])
def test_balanced_training_step_equals_the_routed_step_on_the_same_batch(architecture, size):
  # Two steps of the same split model on the same balanced batches: the balanced layout (one
  # batched matmul per dense layer, one convolution per label slice) and the default layout
  # (partition) agree. (The layouts agree under XLA too: tests/test_routed_kernels.py.)
  images = np.random.default_rng(0).uniform(size=(len(LABELS), size, size, 1)).astype(np.float32)
  fast = _trainer(True, images, LABELS, architecture)
  plain = _trainer(False, images, LABELS, architecture)
  assert fast.layout == "balanced" and plain.layout == "any"
  for step in range(2):
    batch = fast.batch(step)
    assert batch[1].tolist() == [0, 0, 1, 1, 2, 2]
    got, want = fast.step(*batch), plain.step(*batch)
    np.testing.assert_allclose(float(got["elbo"]), float(want["elbo"]), rtol=1e-5)
  for a, b in zip(fast.model.weights, plain.model.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
  # The balanced model still serves labels in any order (evaluation, export).
  q = fast.model.encode(images[:5], LABELS[:5])
  assert q.mean().shape == (5, 2)


def test_balanced_batches_refuse_several_replicas():
  images = np.zeros((len(LABELS), 4, 4, 1), np.float32)
  config = config_lib.TrainConfig(hidden_units=6, latent_dim=2, batch_size=6,
                                  balanced_batches=True, strategy="mirrored")
  info = datasets.DatasetInfo("mnist", (4, 4, 1), num_classes=K)
  with pytest.raises(UsageError, match="--balanced_batches runs on one device"):
    vae_training.VAETrainer(config, images, LABELS, info, steps.make_strategy("mirrored"))
