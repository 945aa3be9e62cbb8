"""Who won one competition run (App. B): the encoder, the decoder, or neither.

A run trains μ'_p(y, z) = μ_p(y, T_y z) with a label-dependent orthogonal T_y; at most one of μ_p
and μ'_p can preserve style. The rule, on SP (`tfdis.metrics.style_preservation`: Morpho-MNIST
rank correlation across labels, 95% bootstrap interval [lo, hi] over the z columns):

```none
preserving(SP)      = lo > tau_hi          not_preserving(SP) = hi < tau_lo
encoder wins        = preserving(SP(μ'_p)) and not_preserving(SP(μ_p))
decoder wins        = preserving(SP(μ_p))  and not_preserving(SP(μ'_p))
inconclusive        = otherwise (also: SP undefined, or LP(μ_p) < min_label_preservation)
```

tau_lo and tau_hi default to the library's one pair of SP thresholds (SP_NOT_PRESERVING and
SP_PRESERVING of `tfdis.metrics.style_preservation`); a run whose interval lies between them (the
partial style preservation of Fig. 4) is inconclusive rather than forced to a side.

The LP gate matters: an untrained decoder is smooth in z and scores a high SP(μ_p), and a decoder
that ignores y preserves "style" trivially; neither shows a bias won, and both fail LP
(`tfdis.metrics.label_preservation`, the cached digit classifier; --min_label_preservation=0
skips it).
"""
from tfdis.errors import UsageError
from tfdis.experiments.competition import diagnostics
from tfdis.metrics import label_preservation
from tfdis.metrics import style_preservation

VERDICTS = ("encoder", "decoder", "inconclusive")


def verdict(sp_mu, sp_mu_prime, tau_lo=style_preservation.SP_NOT_PRESERVING,
            tau_hi=style_preservation.SP_PRESERVING, label_preserved=True):
  """Who won one run: 'encoder', 'decoder' or 'inconclusive' (the rule of the module docstring).

  Args:
    sp_mu, sp_mu_prime: (low, high) 95% SP intervals of μ_p and μ'_p; nan when undefined.
    tau_lo, tau_hi: an interval entirely below tau_lo is "not style-preserving", one entirely
      above tau_hi is "style-preserving".
    label_preserved: False makes the run inconclusive (a decoder that ignores y preserves style
      trivially).
  """
  if not tau_lo <= tau_hi:
    raise UsageError(f"--tau_lo={tau_lo} exceeds --tau_hi={tau_hi}; the 'not preserving' "
                     "threshold must not be above the 'preserving' one.")
  if not label_preserved:
    return "inconclusive"
  preserving = lambda iv: style_preservation.is_preserving(iv, tau_hi)
  not_preserving = lambda iv: style_preservation.is_not_preserving(iv, tau_lo)
  if preserving(sp_mu_prime) and not_preserving(sp_mu):
    return "encoder"
  if preserving(sp_mu) and not_preserving(sp_mu_prime):
    return "decoder"
  return "inconclusive"


def judge(model, config, classify=None, data=None):
  """SP of μ_p and μ'_p with their diagnostics, LP of μ_p, and the verdict, for one run.

  Args:
    model: a ConditionalVAE with a competition transform, or anything with decode_mean(y, z),
      generator_mean(y, z) (μ_p and μ'_p; labels int32 [B], z float32 [B, D] -> images
      [B, H, W, C]), num_classes and latent_dim (and encode / decoder_code when `data` is given).
    config: CompetitionConfig (transform, num_z, num_bootstrap, judge_seed, thresholds, LP).
    classify: images [N, H, W, C] -> labels [N], or None to skip the LP gate.
    data: optional (images [N, H, W, C], labels [N]) for the latent statistics.

  Returns:
    dict: sp_mu, sp_mu_prime ({value, interval, degenerate, per_measurement, pair_matrix}),
    delta, sp_rotation_invariant, cross_half (reflection; else None), latent (None without
    data), lp (None without the gate), verdict (`tfdis.experiments.competition.diagnostics`).
  """
  result = diagnostics.style_measures(model, config, config.transform)
  result["latent"] = None
  if data is not None:
    result["latent"] = diagnostics.latent_statistics(model, data[0], data[1], config.judge_seed)
  result["lp"] = None
  if classify is not None and config.min_label_preservation > 0:
    lp = label_preservation.compute_label_preservation(
        model.decode_mean, classify, model.num_classes, config.lp_samples_per_class,
        model.latent_dim, seed=config.judge_seed + 1)
    result["lp"] = {"value": float(lp.value), "interval": [float(v) for v in lp.interval]}
  result["verdict"] = run_verdict(result, config)
  return result


def run_verdict(result, config):
  """`verdict` of a stored run result under config's thresholds (re-judging needs no training)."""
  nan_if_none = lambda iv: tuple(float("nan") if v is None else v for v in iv)
  lp = result.get("lp")
  preserved = lp is None or lp["value"] >= config.min_label_preservation
  return verdict(nan_if_none(result["sp_mu"]["interval"]),
                 nan_if_none(result["sp_mu_prime"]["interval"]),
                 config.tau_lo, config.tau_hi, preserved)
