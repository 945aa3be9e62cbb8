"""The regression experiment of paper Sec. 3 (Fig. 3): does SGD fit the disentangled map faster?

A trained conditional VAE (the *teacher*) gives a disentangled inference model q*(z | x, y). We
sample one z per image from it (fixed seed) and, with label-dependent orthogonal transforms T_y
(`tfdis.model.transforms`), pose two regression problems for each network of the VAE, trained
from the same initialisation on the same batches:

```none
data          z_i ~ q*(z | x_i, y_i)                   one draw per image, fixed seed
T_y           drawn afresh for each training seed      (--per_seed_transforms; seeds sample
                                                        rotations as well as initialisations)
T_y^a         --rotation_fraction a in [0, 1]:         the rotation a of the way from I to T_y
              the target is T_y^a z                    (a = 1: T_y; a = 0: z itself)
encoder       (x, y) -> z        vs   (x, y) -> T_y z      loss  mean_d (μ_q(x, y)_d - target_d)²
decoder       (y, z) -> x        vs   (y, T_y z) -> x      loss  -ln p(x | y, code)  (nats / image)
networks      the teacher's encoder / decoder architecture, fresh weights (shared unless
              --encoder_split / --decoder_split route layers by label)
optimiser     Adam (--optimizer=sgd: plain SGD), same learning rate, steps, batch order and
              initial weights for both targets
```

Both targets are equally learnable in principle (T_y is invertible and known given y), so the paper
finds similar final losses, but faster convergence on the disentangled target z.

Per seed and curve (loss L(s) at the evaluated steps: s = 0, e, 2e, ..., S and, to resolve the
fast start, --log_evals steps spaced evenly in log s and every --dense_eval_every steps up to
--dense_eval_until) we measure

```none
final          L_final = mean of the last k evaluations (k = --final_window)
steps_to_90    min { s : L(s) <= L(0) - f (L(0) - L_final) },  f = --fraction (0.9)
auc            (1 / S) ∫_0^S L(s) ds / L(0)   (trapezoid; the mean loss as a fraction of L(0))
early_auc      the same over [0, S_e], S_e = --dense_eval_until (when set): the early loss area
```

each on the held-out loss and, beside it, on the training loss (the same first --eval_examples
training images throughout), so optimisation can be told from generalisation.

`steps_to_90` uses each curve's *own* L_final: it measures how fast a curve settles, separately
from where it settles (reported by `final` and the entangled / disentangled ratio). A threshold
shared by both curves would mix the two: it is never reached by a curve that settles slightly
higher. The step always exists (min of the last k ≤ their mean ≤ threshold). `auc` rewards both
speed and level. Over seeds, each quantity gets a mean with a 95% t interval over seeds, and the
per-seed paired difference (entangled - disentangled) gets a t interval and an exact one-sided
sign-flip permutation p-value for "disentangled converges faster" (difference > 0); final losses
get a two-sided p-value for "they differ". Every p-value comes with its floor, the smallest value
the test can give with n seeds (1 / 2^n one-sided); both tests are in `tfdis.metrics.stats`.

Outputs of `run_regression` in the workdir: regression.json (summary), curves.csv
(problem,target,seed,step,split,loss), regression.png (Fig. 3 layout), tensorboard/, timing.json,
and seed_curves/ (finished seeds, so a rerun of the same command resumes).

Expected (flags/regress.cfg, teacher runs/shared, 2-core CPU): see that flagfile's header.

  config    the problems, targets and splits; `RegressionConfig` (the flags of binaries.regress)
  targets   the dataset {x, y, z, T_y z} drawn from the teacher's q*
  training  the pair of networks per seed and their loss curves: `train_seed`
  summary   convergence speed, final loss and their tests over seeds; curves.csv, regression.png
  run       the whole experiment with resuming: `run_regression`
  alignment the tangent-kernel prediction of why z is fitted faster, and its measurement

The names below are the package's interface (binaries.regress, binaries.flag_defs, the
reproduction, tests).
"""
from tfdis.experiments.regression.config import PROBLEMS
from tfdis.experiments.regression.config import RegressionConfig
from tfdis.experiments.regression.config import SPLITS
from tfdis.experiments.regression.config import TARGETS
from tfdis.experiments.regression.config import TEACHER_FIELDS
from tfdis.experiments.regression.run import run_regression
from tfdis.experiments.regression.config import OPTIMIZERS
from tfdis.experiments.regression.summary import choose_learning_rates
from tfdis.experiments.regression.summary import dose_response
from tfdis.experiments.regression.summary import early_auc
from tfdis.experiments.regression.summary import final_loss
from tfdis.experiments.regression.summary import normalised_auc
from tfdis.experiments.regression.summary import plot_curves
from tfdis.experiments.regression.summary import steps_to_fraction
from tfdis.experiments.regression.summary import summarise
from tfdis.experiments.regression.summary import write_csv
from tfdis.experiments.regression.targets import build_dataset
from tfdis.experiments.regression.targets import load_regression_data
from tfdis.experiments.regression.targets import RegressionData
from tfdis.experiments.regression.targets import retarget
from tfdis.experiments.regression.targets import sample_codes
from tfdis.experiments.regression.training import build_models
from tfdis.experiments.regression.training import PairTrainer
from tfdis.experiments.regression.training import problem_losses
from tfdis.experiments.regression.training import train_seed
