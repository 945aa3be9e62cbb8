"""pytest set-up shared by every test: quiet TF logs, parse absl flags once, seed."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

from absl import flags  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so tf.distribute.MirroredStrategy has two replicas to test with.
# Must run before TF initialises its runtime, hence here at import.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])


def pytest_configure(config):
  # Binaries define their flags at import; parse once so FLAGS.x is readable in tests.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(["pytest"], known_only=True)
  if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
    # pytest-xdist's controller, before its workers start: prepare the bundled MNIST once, so
    # two workers never prepare the same TFDS folder at once on a fresh machine (and tests that
    # copy the prepared folder find it, whichever worker runs them first).
    from tfdis.data import datasets  # pylint: disable=g-import-not-at-top
    for split in ("train", "test"):
      datasets.load_arrays("mnist", split)
    datasets.clear_cache()


@pytest.fixture(autouse=True)
def _seed_everything():
  import keras
  keras.utils.set_random_seed(1234)
  yield
