"""Encoder versus decoder: the competition of App. B (Figs. 5, 6) and its win rate.

The model is the conditional VAE of Sec. 1 with a label-dependent orthogonal T_y between encoder
and decoder (`ConditionalVAE(latent_transform=...)`):

```none
z ~ q(z | x, y) = N(μ_q(x, y), diag σ_q²)          encoder ω_q
x ~ p(x | y, T_y z),   p(x | y, w) = Bernoulli(ω_p(y, w))     decoder ω_p
ELBO(x, y) = E_q[ln p(x | y, T_y z)] - KL(q || N(0, I)) + ln p(y)       (Eq. 1, trained with Adam)
μ_p(y, z)  = the raw decoder's mean;   μ'_p(y, z) = μ_p(y, T_y z)  (the trained generator)
```

At most one of μ_p and μ'_p can preserve style (T_y is label-dependent). If μ'_p does, the code
z the encoder produces is shared across labels: the encoder's bias won. If μ_p does, the decoder
kept its own style-preserving representation and the encoder had to learn T_y^{-1}: the decoder
won. The paper shows one run per condition and ends "the exact win rate remains to be
determined"; this package measures it over many seeds (trained together,
`tfdis.training.seed_batched`):

```none
win rate = encoder wins / (encoder wins + decoder wins),  Wilson 95% interval over decisive runs
```

  conditions   the transforms and variants of Figs. 5, 6, the pipeline checks, the paper's
               verdicts; the sweep's config; the results layout
  diagnostics  what a run is measured on: SP of μ_p and μ'_p, paired Δ, rotation-invariant and
               cross-half SP, latent usage
  judging      the verdict of one run from the SP intervals of μ_p and μ'_p (and the LP gate)
  sweep        seed batches, shards, resuming, judging during training: `run_competition`
  table        winrate.json / winrate.md / winrate.png / trajectory.png: `aggregate`; the
               verdicts re-judged at other thresholds: `threshold_sensitivity`
  nulls        SP of generators that cannot preserve style, which set the thresholds

The names below are the package's interface (binaries.compete, the reproduction, tests).
"""
from tfdis.experiments.competition.conditions import ALL_VARIANTS
from tfdis.experiments.competition.conditions import CHECK_VARIANTS
from tfdis.experiments.competition.conditions import CompetitionConfig
from tfdis.experiments.competition.conditions import expected_verdict
from tfdis.experiments.competition.conditions import PAPER_VERDICTS
from tfdis.experiments.competition.conditions import SWEEP_SET_FIELDS
from tfdis.experiments.competition.conditions import condition_name
from tfdis.experiments.competition.conditions import result_path
from tfdis.experiments.competition.conditions import TRANSFORMS
from tfdis.experiments.competition.conditions import VARIANTS
from tfdis.experiments.competition.judging import judge
from tfdis.experiments.competition.judging import run_verdict
from tfdis.experiments.competition.judging import verdict
from tfdis.experiments.competition.judging import VERDICTS
from tfdis.experiments.competition.nulls import measure_null_distributions
from tfdis.experiments.competition.nulls import null_records
from tfdis.experiments.competition.sweep import run_competition
from tfdis.experiments.competition.table import aggregate
from tfdis.experiments.competition.table import lean_text
from tfdis.experiments.competition.table import markdown_table
from tfdis.experiments.competition.table import run_grids
from tfdis.experiments.competition.table import threshold_sensitivity
from tfdis.experiments.competition.table import verdict_text
from tfdis.experiments.competition.table import win_rate_text
