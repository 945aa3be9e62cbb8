"""tfdis's training against what a researcher would write instead: the plain JAX reference.

For each model of MODELS (a flagfile's MLP conditional VAE: shared, split encoder, split decoder,
both split) this times, in one process, starting from the same weights:

```none
step     one training step on one batch (forward, backward, Adam), median over interleaved rounds:
         tfdis's compiled step (VAETrainer.step, as the flagfile sets --jit_compile) against the
         reference's jitted step in each routed-layer form (benchmarks.reference_jax.FORMS that
         take labels in any order; a shared model has one form)
segment  `segment_steps` steps with the input pipeline (batch gathering, noise): tfdis's training
         loop (`tfdis.training.loop.fit`, no workdir) against the reference's Python loop over its
         jitted step in its fastest form, interleaved rounds, median
ratio    tfdis / reference (fastest form): below 1 tfdis is faster
```

Each extra tfdis setting of `loop_variants` ({name: fit keyword arguments}) is timed as one more
segment candidate (e.g. the loop's finiteness check every N steps).

Needs the optional extra `bench` (jax, optax).
"""
from benchmarks import reference_jax as ref
from benchmarks import timing
from tfdis import flagfiles
from tfdis.data import datasets
from tfdis.training import config as config_lib
from tfdis.training import loop
from tfdis.training import steps as steps_lib
from tfdis.training import vae_training

# name -> flagfile (its model, batch, learning rate and --jit_compile).
MODELS = {"shared": "flags/shared.cfg", "split_encoder": "flags/split_encoder.cfg",
          "split_decoder": "flags/split_decoder.cfg", "split": "flags/split.cfg"}
ANY_LABEL_FORMS = ("gather", "masked")


def _config(path, overrides):
  return flagfiles.config_from_flagfiles(config_lib.TrainConfig, [path], overrides)


def _reference(config, trainer, form, info):
  """(step fn, holder of the donated state) of the reference from the tfdis trainer's weights."""
  spec = ref.spec_for(config.encoder_split, config.decoder_split, image_shape=info.image_shape,
                      latent_dim=config.latent_dim, hidden_units=config.hidden_units,
                      num_hidden_layers=config.num_hidden_layers)
  step = ref.make_step(spec, config.learning_rate, config.seed, form)
  state = ref.init_state(ref.params_from_tfdis(trainer.model), config.learning_rate)
  return step, {"state": state}


def _forms(config):
  split = config.encoder_split != "none" or config.decoder_split != "none"
  return ANY_LABEL_FORMS if split else ("gather",)


def run_model(name, path, images, labels, overrides=None, rounds=7, segment_rounds=3,
              segment_steps=1000, loop_variants=None, log=None):
  """Times one model (see the module docstring); returns its dict of seconds and ratios."""
  config = _config(path, dict(overrides or {}, num_steps=1))
  info = datasets.DatasetInfo(config.dataset, tuple(images.shape[1:]))
  strategy = steps_lib.make_strategy("default")
  make_trainer = lambda: vae_training.VAETrainer(config, images, labels, info, strategy)
  trainer = make_trainer()
  batch = trainer.batch(0)
  idx = trainer._order.indices(0)  # pylint: disable=protected-access
  x, y = images[idx], labels[idx]
  candidates = {"tfdis": lambda: float(trainer.step(*batch)["elbo"])}
  references = {}
  for form in _forms(config):
    step, held = _reference(config, trainer, form, info)
    references[form] = (step, held)

    def call(step=step, held=held):
      held["state"], loss = step(held["state"], x, y)
      return float(loss)
    candidates["jax_" + form] = call
  if log:
    log(f"{name}: one step, {rounds} rounds ({', '.join(candidates)}) ...")
  step_seconds = timing.interleaved_medians(candidates, rounds)
  best_form = min(references, key=lambda f: step_seconds["jax_" + f])

  # Segments: fresh trainers (from the same seed, so the same weights) run the whole loop.
  segment = {}
  variants = {"tfdis": {}}
  variants.update(loop_variants or {})
  for variant, kwargs in variants.items():
    fresh = make_trainer()

    def run_fit(fresh=fresh, kwargs=kwargs, steps=segment_steps):
      loop.fit(fresh, None, fresh.completed_steps + steps, config.log_every, **kwargs)
    run_fit(steps=2)  # traces the fresh trainer's step
    segment[variant] = run_fit
  step, _ = references[best_form]
  jax_state = {"state": ref.init_state(ref.params_from_tfdis(trainer.model),
                                       config.learning_rate), "start": 0}
  order = ref.BatchOrder(len(images), config.batch_size, config.seed)

  def run_reference():
    jax_state["state"], _ = ref.train(step, jax_state["state"], images, labels, order,
                                      jax_state["start"], segment_steps)
    jax_state["start"] += segment_steps
  segment["jax_" + best_form] = run_reference
  if log:
    log(f"{name}: {segment_steps}-step segments, {segment_rounds} rounds ...")
  segment_seconds = timing.interleaved_medians(segment, segment_rounds, warmup=0)
  jax_step = step_seconds["jax_" + best_form]
  jax_segment = segment_seconds["jax_" + best_form]
  return {"flagfile": path, "batch_size": config.batch_size, "jit_compile": config.jit_compile,
          "best_form": best_form, "step_seconds": step_seconds,
          "segment_steps": segment_steps, "segment_seconds": segment_seconds,
          "step_ratio": step_seconds["tfdis"] / jax_step,
          "segment_ratio": segment_seconds["tfdis"] / jax_segment,
          "segment_ratio_variants": {v: segment_seconds[v] / jax_segment for v in variants}}


def run(models=None, overrides=None, rounds=7, segment_rounds=3, segment_steps=1000,
        loop_variants=None, log=None):
  """run_model for each name of `models` (default all of MODELS) on MNIST's training split.

  Returns:
    {model name: run_model's dict}.
  """
  images, labels = datasets.load_arrays("mnist", "train")
  return {name: run_model(name, MODELS[name], images, labels, overrides, rounds, segment_rounds,
                          segment_steps, loop_variants, log)
          for name in (models or MODELS)}
