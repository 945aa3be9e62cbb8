"""SP and LP of a model while it trains: a `loop.fit` hook (binaries.train --track_every=N).

Every N steps the trained generator (μ_p, or μ'_p(y, z) = μ_p(y, T_y z) for a model with a
competition transform) is scored on fixed z (seeded, the same at every step):

```none
SP   style preservation with its 95% bootstrap interval over z   (tfdis.metrics.style_preservation)
LP   label preservation with its 95% Wilson interval over samples (tfdis.metrics.label_preservation)
```

and the scores go to TensorBoard (`track/sp`, `track/lp` in <workdir>/tensorboard/tracking) and to
<workdir>/tracking.json, a series [{step, sp: {value, interval}, lp: {value, interval} | null}]
that survives resuming (an entry judged again after an interruption replaces its old one).
"""
import os

import tensorflow as tf

from tfdis import files
from tfdis.metrics import label_preservation
from tfdis.metrics import style_preservation

TRACK_NUM_Z = 100          # shared z columns of each SP
TRACK_BOOTSTRAP = 200      # bootstrap resamples of each SP interval
TRACK_LP_PER_CLASS = 50    # samples per label of each LP


class Tracker:
  """fn(step) for `loop.EveryN`: scores the model and appends to tracking.json.

  Args:
    model: a ConditionalVAE (generator_mean, num_classes, latent_dim), trained in place.
    workdir: where tracking.json and tensorboard/tracking go.
    classify: images [N, H, W, C] -> labels [N] for LP, or None to track SP only.
    seed: seeds the z of SP and LP.
  """

  def __init__(self, model, workdir, classify=None, seed=0):
    self.model, self.classify, self.seed = model, classify, seed
    self.path = os.path.join(workdir, "tracking.json")
    self.writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "tracking"))

  def __call__(self, step):
    m = self.model
    sp = style_preservation.compute_style_preservation(
        m.generator_mean, m.num_classes, TRACK_NUM_Z, m.latent_dim, seed=self.seed,
        num_bootstrap=TRACK_BOOTSTRAP)
    entry = {"step": step, "sp": {"value": files.finite_or_none(sp.value),
                                  "interval": [files.finite_or_none(v) for v in sp.interval]},
             "lp": None}
    if self.classify is not None:
      lp = label_preservation.compute_label_preservation(
          m.generator_mean, self.classify, m.num_classes, TRACK_LP_PER_CLASS, m.latent_dim,
          seed=self.seed + 1)
      entry["lp"] = {"value": float(lp.value), "interval": [float(v) for v in lp.interval]}
    series = files.read_json(self.path) if os.path.exists(self.path) else []
    series = [e for e in series if e["step"] != step] + [entry]
    files.write_json(self.path, sorted(series, key=lambda e: e["step"]))
    with self.writer.as_default(step=step):
      if entry["sp"]["value"] is not None:
        tf.summary.scalar("track/sp", entry["sp"]["value"])
      if entry["lp"] is not None:
        tf.summary.scalar("track/lp", entry["lp"]["value"])
    self.writer.flush()
