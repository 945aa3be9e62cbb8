"""The MLP conditional VAE of flags/shared.cfg and its split variants, as a researcher writes it in JAX.

What tfdis is measured against (`binaries.bench --sections=reference`): the same model, data
order and optimiser in plain JAX + optax, one jitted training step with the train state donated.
Model (paper Sec. 1, Eq. 1; split networks Sec. 2, Fig. 2):

```none
encoder  [flatten(x), onehot(y)] -> Dense(h, relu) x n -> Dense(2D) = (μ_q, raw σ_q)
         σ_q = softplus(raw) + 1e-4,   z = μ_q + σ_q ⊙ ε,   ε ~ N(0, I)
decoder  [z, onehot(y)] -> Dense(h, relu) x n -> Dense(H W C) = Bernoulli logits
ELBO     Σ_pixels ln Bern(x | logits) - KL(N(μ_q, σ_q²) || N(0, I)) - ln K
loss     -Σ_batch ELBO / B;   Adam(learning rate, β1 0.9, β2 0.999, ε 1e-7: Keras' defaults)
```

A routed ("split") layer holds kernel [G, in, out] and bias [G, out]; example b uses group
labels[b]. It is one batched einsum in one of FORMS:

```none
gather    y = einsum('bi,bio->bo', x, kernel[labels]) + bias[labels]          any labels
masked    y = [onehot(labels) ⊗ x] [B, G in] @ kernel [G in, out] + onehot @ bias   any labels
balanced  y = einsum('gni,gio->gno', x as [G, n, in], kernel) + bias[:, None]  B/G of each label,
                                                                               grouped by label
```

Weights start as Keras' do (glorot-uniform kernels with the fans of one group, zero biases), each
group drawn on its own. Batches are the rows [p B, (p + 1) B) of a seeded permutation of each
epoch, as `tfdis.training.steps.BatchOrder`; the noise of step s is
`jax.random.normal(fold_in(key(seed), s))`, drawn inside the jitted step.

Needs the optional extra `bench` (`pip install -e .[bench]`: jax, optax).
"""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

FORMS = ("gather", "masked", "balanced")
LN_NUM_CLASSES = math.log(10.0)


@dataclasses.dataclass(frozen=True)
class Spec:
  """Sizes of the model and which layers are routed.

  encoder_routed / decoder_routed: one bool per weight layer, input to output (encoder: the first
  hidden layer ... the head; decoder: the layer reading [z, y] ... the output layer).
  """
  image_shape: tuple = (28, 28, 1)
  num_classes: int = 10
  latent_dim: int = 16
  hidden_units: int = 512
  num_hidden_layers: int = 2
  encoder_routed: tuple = (False, False, False)
  decoder_routed: tuple = (False, False, False)

  @property
  def pixels(self):
    return int(np.prod(self.image_shape))

  def layer_sizes(self):
    """((in, out) of each encoder layer, (in, out) of each decoder layer)."""
    h, n = self.hidden_units, self.num_hidden_layers
    enc = [self.pixels + self.num_classes] + [h] * n + [2 * self.latent_dim]
    dec = [self.latent_dim + self.num_classes] + [h] * n + [self.pixels]
    return list(zip(enc[:-1], enc[1:])), list(zip(dec[:-1], dec[1:]))


def spec_for(encoder_split="none", decoder_split="none", **sizes):
  """The Spec of a tfdis MLP config whose splits are 'none' or 'all'."""
  layers = sizes.get("num_hidden_layers", 2) + 1
  routed = lambda split: tuple([{"none": False, "all": True}[split]] * layers)
  return Spec(encoder_routed=routed(encoder_split), decoder_routed=routed(decoder_split), **sizes)


def init_params(spec, seed):
  """{'encoder': [...], 'decoder': [...]}, each layer {'kernel', 'bias'} as Keras initialises."""
  key = jax.random.key(seed)
  params = {}
  for network, sizes, routed in zip(("encoder", "decoder"), spec.layer_sizes(),
                                    (spec.encoder_routed, spec.decoder_routed)):
    layers = []
    for (fan_in, fan_out), is_routed in zip(sizes, routed):
      key, sub = jax.random.split(key)
      groups = (spec.num_classes,) if is_routed else ()
      limit = math.sqrt(6.0 / (fan_in + fan_out))
      layers.append({"kernel": jax.random.uniform(sub, groups + (fan_in, fan_out), jnp.float32,
                                                  -limit, limit),
                     "bias": jnp.zeros(groups + (fan_out,), jnp.float32)})
    params[network] = layers
  return params


def params_from_tfdis(model):
  """The params of a tfdis ConditionalVAE (MLP): its dense and routed layers' weights."""
  take = lambda layers: [{"kernel": jnp.asarray(l.kernel.numpy()), "bias": jnp.asarray(l.bias.numpy())}
                         for l in layers if hasattr(l, "kernel")]
  return {"encoder": take(model.encoder_layers), "decoder": take(model.decoder_layers)}


def dense(layer, x, labels, onehot, form):
  """One layer: x [B, in] -> [B, out]; routed (kernel [G, in, out]) by `form` when 3-D."""
  kernel, bias = layer["kernel"], layer["bias"]
  if kernel.ndim == 2:
    return x @ kernel + bias
  groups, fan_in, fan_out = kernel.shape
  if form == "gather":
    return jnp.einsum("bi,bio->bo", x, kernel[labels]) + bias[labels]
  if form == "masked":
    mixed = (onehot[:, :, None] * x[:, None, :]).reshape(x.shape[0], groups * fan_in)
    return mixed @ kernel.reshape(groups * fan_in, fan_out) + onehot @ bias
  if form == "balanced":
    grouped = x.reshape(groups, x.shape[0] // groups, fan_in)
    return (jnp.einsum("gni,gio->gno", grouped, kernel) + bias[:, None]).reshape(-1, fan_out)
  raise ValueError(f"Unknown form {form!r}; use one of {FORMS}.")


def _network(layers, h, labels, onehot, form):
  for i, layer in enumerate(layers):
    h = dense(layer, h, labels, onehot, form)
    if i < len(layers) - 1:
      h = jax.nn.relu(h)
  return h


def loss_fn(params, images, labels, noise, num_classes=10, form="gather"):
  """(-mean ELBO, per-example ELBO [B]) of images [B, H, W, C], labels [B], noise ε [B, D]."""
  batch = images.shape[0]
  onehot = jax.nn.one_hot(labels, num_classes, dtype=images.dtype)  # [B, K]
  x = images.reshape(batch, -1)  # [B, HWC]
  out = _network(params["encoder"], jnp.concatenate([x, onehot], -1), labels, onehot, form)
  loc, raw_scale = jnp.split(out, 2, axis=-1)  # [B, D] each
  scale = jax.nn.softplus(raw_scale) + 1e-4
  z = loc + scale * noise
  logits = _network(params["decoder"], jnp.concatenate([z, onehot], -1), labels, onehot, form)
  # Bernoulli log-likelihood as TF's sigmoid cross-entropy with logits.
  log_likelihood = -jnp.sum(jnp.maximum(logits, 0) - logits * x +
                            jnp.log1p(jnp.exp(-jnp.abs(logits))), axis=-1)  # [B]
  kl = 0.5 * jnp.sum(jnp.square(loc) + jnp.square(scale) - 1.0, -1) - jnp.sum(jnp.log(scale), -1)
  elbo = log_likelihood - kl - jnp.log(float(num_classes))
  return -jnp.sum(elbo) * (1.0 / batch), elbo


def optimizer(learning_rate):
  """optax Adam with Keras' defaults (β1 0.9, β2 0.999, ε 1e-7)."""
  return optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-7)


def init_state(params, learning_rate):
  """The train state (params, Adam state, completed steps int32)."""
  return {"params": params, "opt": optimizer(learning_rate).init(params),
          "step": jnp.zeros([], jnp.int32)}


def step_noise(seed, step, shape):
  """The noise ε of training step `step` (what `make_step` draws inside its jitted step)."""
  return jax.random.normal(jax.random.fold_in(jax.random.key(seed), step), shape, jnp.float32)


def make_step(spec, learning_rate, seed, form="gather"):
  """A jitted step(state, images, labels) -> (state, loss); the state is donated."""
  opt = optimizer(learning_rate)

  def step(state, images, labels):
    noise = step_noise(seed, state["step"], (images.shape[0], spec.latent_dim))
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state["params"], images, labels, noise, spec.num_classes, form)
    updates, opt_state = opt.update(grads, state["opt"], state["params"])
    return {"params": optax.apply_updates(state["params"], updates), "opt": opt_state,
            "step": state["step"] + 1}, loss
  return jax.jit(step, donate_argnums=0)


class BatchOrder:
  """Example indices of each step: rows [p B, (p + 1) B) of epoch e's permutation (seed, e)."""

  def __init__(self, num_examples, batch_size, seed):
    self.num_examples, self.batch_size, self.seed = num_examples, batch_size, seed
    self.steps_per_epoch = num_examples // batch_size
    self._epoch, self._order = None, None

  def indices(self, step):
    epoch, position = divmod(int(step), self.steps_per_epoch)
    if epoch != self._epoch:
      self._epoch = epoch
      self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
    return self._order[position * self.batch_size:(position + 1) * self.batch_size]


def train(step_fn, state, images, labels, order, start, num_steps):
  """Runs steps [start, start + num_steps) from host arrays; returns (state, last loss float)."""
  loss = None
  for s in range(start, start + num_steps):
    idx = order.indices(s)
    state, loss = step_fn(state, images[idx], labels[idx])
  return state, float(loss)
