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
  del config
  # Binaries define their flags at import; parse once so FLAGS.x is readable in tests.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(["pytest"], known_only=True)


@pytest.fixture(autouse=True)
def _seed_everything():
  import keras
  keras.utils.set_random_seed(1234)
  yield
