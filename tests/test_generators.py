"""Anyone's conditional generator measured: the contract, the three routes, known answers.

The constructed generators draw a soft parallelogram whose slant, stroke width and height are
fixed functions of three components of z, in TensorFlow (so the same function is a callable and
a SavedModel), and mark the label they mean to show with one bright pixel in the top row, which
`_classify` reads. With D = 30:

  style_ignores_y   style from z[0:3] under every label                -> SP near 1, LP 1
  permuted          style from z[3y:3y+3], a label-dependent permutation -> SP near 0, LP 1
  wrong_label       style from z[0:3], the mark of a label drawn from z  -> SP near 1, LP near 0.1
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfdis import errors
from tfdis.metrics import generator as generator_lib
from tfdis.metrics import scores
from tfdis.metrics import style_preservation

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K, D, M = 10, 30, 24
SETTINGS = dict(num_z=M, lp_samples_per_class=30, num_bootstrap=100, seed=0, null_rotations=1)


def _parallelogram(height, width, slant):
  """Soft parallelograms [B, 28, 28, 1] centred at (14, 14); arguments float [B]."""
  rows = tf.range(28, dtype=tf.float32)[None, :, None] - 14.0
  cols = tf.range(28, dtype=tf.float32)[None, None, :] - 14.0
  h, w, s = (v[:, None, None] for v in (height, width, slant))
  inside_rows = tf.sigmoid(4.0 * (h / 2 - tf.abs(rows)))
  inside_cols = tf.sigmoid(4.0 * (w / 2 - tf.abs(cols - s * rows)))
  return (inside_rows * inside_cols)[..., None]


def _generate(kind):
  def generate(y, z):
    y = tf.cast(y, tf.int32)
    z = tf.cast(z, tf.float32)
    if kind == "permuted":
      style = tf.gather(z, 3 * y[:, None] + tf.range(3)[None, :], batch_dims=1)
    else:
      style = z[:, :3]
    images = _parallelogram(14.0 + 4.0 * tf.tanh(style[:, 2]), 2.5 + 1.2 * tf.tanh(style[:, 1]),
                            0.5 * tf.tanh(style[:, 0]))
    mark = y
    if kind == "wrong_label":  # a label drawn from z[:, -1], independent of y
      mark = tf.minimum(tf.cast(10 * (0.5 + 0.5 * tf.math.erf(z[:, -1] / np.sqrt(2))), tf.int32), 9)
    top_row = tf.one_hot(2 * mark, 28)[:, None, :, None]
    return tf.concat([tf.maximum(images[:, :1], top_row), images[:, 1:]], axis=1)
  return generate


def _classify(images):
  """Reads the label mark: the brightest of the even columns 0..18 of the top row."""
  return np.argmax(np.asarray(images)[:, 0, 0:20:2, 0], axis=1)


def _saved_model(kind, path):
  module = tf.Module()
  module.decode = tf.function(_generate(kind), input_signature=[
      tf.TensorSpec([None], tf.int32, name="y"), tf.TensorSpec([None, D], tf.float32, name="z")])
  tf.saved_model.save(module, str(path), signatures={
      "serving_default": module.decode.get_concrete_function()})
  return str(path)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
  """Each kind scored through the callable, the SavedModel and the grid-folder route."""
  root = tmp_path_factory.mktemp("generators")
  out = {}
  for kind in ("style_ignores_y", "permuted", "wrong_label"):
    callable_route = generator_lib.from_callable(_generate(kind), K, D, name=kind)
    saved = generator_lib.load(_saved_model(kind, root / kind), num_classes=K)
    grid = style_preservation.sample_style_grid(callable_route.decode_mean, K, M, D,
                                                seed=SETTINGS["seed"] + 2).numpy()
    generator_lib.write_grid_folder(grid, str(root / f"{kind}_grid"))
    out[kind] = {
        "callable": scores.score_generator(callable_route, _classify, **SETTINGS),
        "saved_model": scores.score_generator(saved, _classify, **SETTINGS),
        "grid": scores.score_grid(grid, _classify, SETTINGS["num_bootstrap"], SETTINGS["seed"]),
        "grid_folder": scores.score_grid(generator_lib.read_grid_folder(str(root / f"{kind}_grid")),
                                         _classify, SETTINGS["num_bootstrap"], SETTINGS["seed"]),
    }
  return out


def test_known_answers(measured):
  ignores, permuted, wrong = (measured[k]["callable"] for k in ("style_ignores_y", "permuted",
                                                                 "wrong_label"))
  assert ignores["sp"]["interval"][0] > 0.8 and ignores["lp"]["value"] == 1.0
  assert abs(permuted["sp"]["value"]) < 0.1 and permuted["lp"]["value"] == 1.0
  assert wrong["sp"]["value"] > 0.8
  assert wrong["lp"]["interval"][0] < 0.1 < wrong["lp"]["interval"][1]
  # The reference (the same generator through random rotations of z) is near 0 for all three.
  for result in (ignores, permuted, wrong):
    assert abs(result["reference"]["sp"]["value"]) < 0.15
  assert ignores["reference"]["transform"] == "rotation"
  assert np.asarray(ignores["sp"]["pair_matrix"]).shape == (K, K)
  assert set(ignores["sp"]["per_measurement"]) >= {"slant", "thickness", "width", "height"}


@pytest.mark.parametrize("kind", ["style_ignores_y", "permuted", "wrong_label"])
def test_the_three_routes_give_the_same_numbers(measured, kind):
  routes = measured[kind]
  for key in ("lp", "sp"):
    for stat in ("value", "interval"):
      np.testing.assert_allclose(routes["saved_model"][key][stat], routes["callable"][key][stat],
                                 atol=1e-6)
  np.testing.assert_allclose(routes["saved_model"]["reference"]["sp"]["value"],
                             routes["callable"]["reference"]["sp"]["value"], atol=1e-6)
  # The grid of SP's z gives SP exactly; written as 8-bit PNGs, to rounding.
  np.testing.assert_allclose(routes["grid"]["sp"]["value"], routes["callable"]["sp"]["value"],
                             atol=1e-9)
  np.testing.assert_allclose(routes["grid_folder"]["sp"]["value"], routes["grid"]["sp"]["value"],
                             atol=0.03)
  # LP of the grid reads SP's z (M per label), the generator's its own: equal where LP is exact.
  if kind != "wrong_label":
    assert routes["grid_folder"]["lp"]["value"] == routes["callable"]["lp"]["value"] == 1.0


def _contract_error(generate, match, latent_dim=D):
  with pytest.raises(generator_lib.GeneratorError, match=match):
    generator_lib.from_callable(generate, K, latent_dim, name="g")


def test_every_contract_mismatch_is_named_with_its_fix():
  good = _generate("style_ignores_y")
  _contract_error(lambda y, z: good(y, z)[..., 0], r"returned shape \(20, 28, 28\).*channel axis")
  _contract_error(lambda y, z: good(y, z) * 255.0, r"\[0, 255\].*divide by 255")
  _contract_error(lambda y, z: good(y, z) * 2.0 - 1.0, r"map \[-1, 1\] to \[0, 1\]")
  _contract_error(lambda y, z: good(y, z) * np.nan, "NaN or infinite pixels")
  _contract_error(lambda y, z: tf.cast(good(y, z) * 255, tf.uint8), "uint8.*float images")
  _contract_error(lambda y, z: tf.tile(good(y, z), [1, 1, 1, 2]), "2 channels")
  _contract_error(lambda y, z: good(y, z)[:3], r"for 20 rows returned shape \(3,")
  noisy = lambda y, z: tf.clip_by_value(good(y, z) + tf.random.uniform([1]) * 0.1, 0.0, 1.0)
  _contract_error(noisy, "deterministic function of y and z")
  _contract_error(good, r"failed on labels int32 \[20\] and z float32 \[20, 2\]", latent_dim=2)
  with pytest.raises(generator_lib.GeneratorError, match="num_classes=0 must be a positive"):
    generator_lib.from_callable(good, 0, D)
  assert issubclass(generator_lib.GeneratorError, errors.UsageError)


def test_a_saved_model_must_take_labels_and_z(tmp_path):
  module = tf.Module()
  module.f = tf.function(lambda a, b, c: {"images": a + b + c}, input_signature=[
      tf.TensorSpec([None], tf.float32)] * 3)
  tf.saved_model.save(module, str(tmp_path / "three"),
                      signatures={"serving_default": module.f.get_concrete_function()})
  with pytest.raises(generator_lib.GeneratorError, match="takes 3 inputs.*must take two"):
    generator_lib.load(str(tmp_path / "three"))
  with pytest.raises(generator_lib.GeneratorError, match="neither a SavedModel folder"):
    generator_lib.load(str(tmp_path))


def test_a_grid_folder_with_missing_columns_is_named(tmp_path):
  grid = np.zeros((3, 4, 28, 28, 1), np.float32)
  generator_lib.write_grid_folder(grid, str(tmp_path / "g"))
  os.remove(tmp_path / "g" / "2" / "3.png")
  with pytest.raises(generator_lib.GeneratorError, match="every label folder must hold"):
    generator_lib.read_grid_folder(str(tmp_path / "g"))


def _keras_generator(one_hot):
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(3)
  y = keras.Input(shape=(K,) if one_hot else (), dtype="float32" if one_hot else "int32",
                  name="y")
  z = keras.Input(shape=(4,), name="z")
  labels = y if one_hot else keras.ops.one_hot(y, K)
  h = keras.layers.Dense(32, activation="relu")(keras.ops.concatenate([labels, z], axis=-1))
  images = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(h))
  return keras.Model([y, z], images)


def test_a_keras_file_is_measured_like_the_same_model_called(tmp_path):
  model = _keras_generator(one_hot=True)
  path = str(tmp_path / "g.keras")
  model.save(path)
  from_file = generator_lib.load(path, num_classes=K)
  called = generator_lib.from_callable(lambda y, z: model([tf.one_hot(y, K), z]), K, 4)
  y = np.arange(K, dtype=np.int32)
  z = np.random.default_rng(0).standard_normal((K, 4)).astype(np.float32)
  np.testing.assert_allclose(from_file.decode_mean(y, z), called.decode_mean(y, z), atol=1e-6)
  assert from_file.latent_dim == 4 and from_file.image_shape == (28, 28, 1)


def test_binaries_evaluate_measures_a_foreign_saved_model(tmp_path):
  """A SavedModel of a Keras model written here (not by tfdis), from a fresh process."""
  model = _keras_generator(one_hot=False)
  module = tf.Module()
  module.model = model
  module.generate = tf.function(lambda y, z: {"images": model([y, z])}, input_signature=[
      tf.TensorSpec([None], tf.int32, name="y"), tf.TensorSpec([None, 4], tf.float32, name="z")])
  tf.saved_model.save(module, str(tmp_path / "foreign"),
                      signatures={"serving_default": module.generate.get_concrete_function()})
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, "-m", "binaries.evaluate", "--flagfile=flags/evaluate_smoke.cfg",
       f"--generator={tmp_path / 'foreign'}", f"--output_dir={out}",
       f"--classifier_dir={tmp_path / 'classifier'}"],
      cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True,
      timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((out / "evaluation.json").read_text())
  assert report["generator"] == str(tmp_path / "foreign")
  assert 0.0 <= report["lp"]["value"] <= 1.0
  assert report["sp"]["num_z"] == 24 and report["reference"]["transform"] == "rotation"
  for name in ("grid_model.png", "grid_reference.png", "grids.png"):
    assert (out / name).stat().st_size > 0


def test_evaluate_takes_a_workdir_or_a_generator_not_both(tmp_path, capsys):
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from binaries import evaluate as evaluate_binary  # pylint: disable=g-import-not-at-top
  with flagsaver.flagsaver(generator=str(tmp_path), output_dir=str(tmp_path / "out"),
                           workdir=str(tmp_path)):
    with pytest.raises(SystemExit) as exit_info:
      evaluate_binary.main(["evaluate"])
  assert exit_info.value.code == 2
  assert "Give --workdir (a tfdis run) or --generator" in capsys.readouterr().err


def _nearest_neighbour_classifier(count=3000):
  """1-nearest-neighbour on `count` MNIST training digits: classify(images [N, 28, 28, 1])."""
  from tfdis.data import datasets  # pylint: disable=g-import-not-at-top
  images, labels = datasets.load_arrays("mnist", "train")
  reference = images[:count].reshape(count, -1).astype(np.float32)
  reference_labels = labels[:count]
  norms = (reference ** 2).sum(axis=1)

  def classify(batch):
    flat = np.asarray(batch, np.float32).reshape(len(batch), -1)
    return reference_labels[np.argmin(norms[None, :] - 2.0 * flat @ reference.T, axis=1)]
  return classify


@pytest.fixture(scope="module")
def digits():
  """One real MNIST test digit per label, float [10, 28, 28], and a 1-NN digit classifier."""
  from tfdis.data import datasets  # pylint: disable=g-import-not-at-top
  images, labels = datasets.load_arrays("mnist", "test")
  base = np.stack([images[np.nonzero(labels == y)[0][0], ..., 0] for y in range(K)])
  return base.astype(np.float64), _nearest_neighbour_classifier()


def _perturbed_digits(base):
  """generate(y, z): the real digit of label y perturbed by the style vector z[:4] (shared by
  every label: style-preserving by construction)."""
  from tfdis.metrics import calibration  # pylint: disable=g-import-not-at-top

  def generate(y, z):
    y, z = np.asarray(y), np.asarray(z, np.float64)
    return calibration.perturb(base[y], z[:, :calibration.STYLE_DIM])[..., None].astype(np.float32)
  return generate


NULL_SETTINGS = dict(num_z=40, lp_samples_per_class=20, num_bootstrap=200, seed=0,
                     null_rotations=5)


def test_null_of_a_label_permuted_generator_is_its_sp():
  """Style from z[3y:3y+3]: no more aligned than under fresh rotations, so ΔSP is about 0."""
  result = scores.score_generator(generator_lib.from_callable(_generate("permuted"), K, D),
                                  _classify, **NULL_SETTINGS)
  null = result["null"]
  assert result["style"] == {"defined": True, "reason": ""}
  assert abs(null["delta"]["value"]) < 0.05
  assert null["delta"]["interval"][0] < 0.0 < null["delta"]["interval"][1]
  assert null["num_draws"] == 5 and len(null["sp_null"]["per_draw"]) == 5
  assert null["resampled"] == "z columns and rotation draws"
  assert result["sp_on_correct"]["num_columns"] == 40  # the mark is always right
  assert result["reference"]["null"] is None  # the reference is scored without a null


def test_null_of_perturbed_real_digits_leaves_their_sp(digits):
  base, classify = digits
  result = scores.score_generator(generator_lib.from_callable(_perturbed_digits(base), K, 6),
                                  classify, **NULL_SETTINGS)
  assert result["style"]["defined"], result["style"]
  assert result["lp"]["interval"][0] > 0.6
  delta = result["null"]["delta"]
  assert delta["value"] > 0.5 and delta["interval"][0] > 0.4
  assert abs(result["null"]["sp_null"]["value"]) < 0.1
  on_correct = result["sp_on_correct"]
  assert 10 <= on_correct["num_columns"] <= 40 and on_correct["interval"][0] > 0.5


def test_wrong_labels_leave_style_undefined(measured):
  wrong = measured["wrong_label"]["callable"]
  assert not wrong["style"]["defined"]
  assert "is not above 2 x chance (0.20)" in wrong["style"]["reason"]
  assert wrong["sp_on_correct"]["value"] is None and wrong["null"] is None
  grid = measured["style_ignores_y"]["grid"]
  assert grid["null"] is None and grid["style"]["defined"]
  assert grid["sp_on_correct"]["value"] == pytest.approx(grid["sp"]["value"])


def _mlp_decoder(seed, latent_dim=6):
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  y = keras.Input(shape=(K,))
  z = keras.Input(shape=(latent_dim,))
  h = keras.layers.Dense(256, activation="relu")(keras.ops.concatenate([y, z], axis=-1))
  h = keras.layers.Dense(256, activation="relu")(h)
  images = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(h))
  return keras.Model([y, z], images)


def test_a_trained_decoder_is_told_apart_from_its_untrained_initialisations(digits):
  """A small MLP decoder fitted to perturbed real digits vs the same MLP at three initialisations:
  their raw SP may be as high, but their style scores are undefined or lie below. The classifier
  reads the nearest of the ten real digits (cosine)."""
  import keras  # pylint: disable=g-import-not-at-top
  base, _ = digits
  templates = base.reshape(K, -1) / np.linalg.norm(base.reshape(K, -1), axis=1, keepdims=True)
  classify = lambda images: np.argmax(np.asarray(images).reshape(len(images), -1) @ templates.T,
                                      axis=1)
  rng = np.random.default_rng(0)
  y = rng.integers(0, K, 3000)
  z = rng.standard_normal((3000, 6)).astype(np.float32)
  target = np.asarray(_perturbed_digits(base)(y, z))
  trained = _mlp_decoder(seed=0)
  trained.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
  trained.fit([np.eye(K, dtype=np.float32)[y], z], target, batch_size=100, epochs=10, verbose=0)
  score = lambda model: scores.lp_and_sp(
      lambda labels, codes: model([tf.one_hot(labels, K), codes]), K, 6, (28, 28, 1), classify,
      30, 10, 200, 0, null_rotations=2)
  trained_scores = score(trained)
  assert trained_scores["style"]["defined"], trained_scores["style"]
  for seed in (1, 2, 3):
    untrained = score(_mlp_decoder(seed))
    if untrained["style"]["defined"]:
      for key in ("sp_on_correct", "delta"):
        ours = trained_scores[key] if key == "sp_on_correct" else trained_scores["null"][key]
        theirs = untrained[key] if key == "sp_on_correct" else untrained["null"][key]
        assert ours["interval"][0] > theirs["interval"][1], (key, ours, theirs)
    else:
      assert untrained["sp_on_correct"]["value"] is None and untrained["style"]["reason"]


def _partly_shared_digits(base, rho=0.6):
  """generate(y, z): the real digit of label y perturbed by sqrt(rho) z[:4] + sqrt(1 - rho)
  Q_y z[:4], Q_y a fixed random rotation per label: a part rho of the style is shared."""
  from tfdis.metrics import calibration  # pylint: disable=g-import-not-at-top
  rotations = np.stack([np.linalg.qr(np.random.default_rng([5, label]).standard_normal((4, 4)))[0]
                        for label in range(K)])

  def generate(y, z):
    y, z = np.asarray(y), np.asarray(z, np.float64)[:, :calibration.STYLE_DIM]
    style = np.sqrt(rho) * z + np.sqrt(1.0 - rho) * np.einsum("bij,bj->bi", rotations[y], z)
    return calibration.perturb(base[y], style)[..., None].astype(np.float32)
  return generate


def test_untrained_inits_with_higher_raw_sp_than_the_trained_decoder_are_told_apart(digits):
  """The same MLP fitted to digits sharing a part 0.6 of their style: its raw SP (about 0.48) is
  below that of each untrained initialisation (0.56 to 0.67, grey noise alike under every
  label), yet only the trained decoder has style scores, and they are well above 0."""
  import keras  # pylint: disable=g-import-not-at-top
  base, _ = digits
  templates = base.reshape(K, -1) / np.linalg.norm(base.reshape(K, -1), axis=1, keepdims=True)
  classify = lambda images: np.argmax(np.asarray(images).reshape(len(images), -1) @ templates.T,
                                      axis=1)
  rng = np.random.default_rng(0)
  y = rng.integers(0, K, 3000)
  z = rng.standard_normal((3000, 6)).astype(np.float32)
  trained = _mlp_decoder(seed=0)
  trained.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
  trained.fit([np.eye(K, dtype=np.float32)[y], z], _partly_shared_digits(base)(y, z),
              batch_size=100, epochs=10, verbose=0)
  score = lambda model: scores.lp_and_sp(
      lambda labels, codes: model([tf.one_hot(labels, K), codes]), K, 6, (28, 28, 1), classify,
      30, 10, 200, 0, null_rotations=2)
  ours = score(trained)
  assert ours["style"]["defined"], ours["style"]
  assert 0.3 < ours["sp"]["value"] < 0.6
  assert ours["sp_on_correct"]["interval"][0] > 0.2 and ours["sp_on_correct"]["num_columns"] >= 15
  assert ours["null"]["delta"]["interval"][0] > 0.2
  for seed in (1, 2, 3):
    theirs = score(_mlp_decoder(seed))
    assert theirs["sp"]["value"] > ours["sp"]["value"] + 0.05  # raw SP alone would rank them first
    assert not theirs["style"]["defined"] and "2 x chance" in theirs["style"]["reason"]
    assert theirs["sp_on_correct"]["value"] is None and theirs["null"] is None
