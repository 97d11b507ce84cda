"""The bounded conditional flow: exact inverse, exact log-determinants, a normalised density, the box."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnfrl.models.bijectors import LATENT_CLIP, ActNorm, AffineCoupling, Atanh, Inverse, InvertibleLinear
from cnfrl.models.flow import ConditionalFlow, FlowConfig

STATE_DIM = 5


def perturbed(params, scale=0.02, seed=1):
    """Move every parameter off its initial value so couplings are not the identity."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree_util.tree_unflatten(
        tree, [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
    )


def make_flow(d, latent="uniform", blocks=4, n=128):
    key = jax.random.PRNGKey(d)
    actions = jax.random.uniform(key, (n, d), minval=-0.95, maxval=0.95)
    states = jax.random.normal(jax.random.fold_in(key, 1), (n, STATE_DIM))
    flow = ConditionalFlow(d, FlowConfig(blocks=blocks, hidden=32, latent=latent))
    params = perturbed(flow.init(key, actions, states, method=ConditionalFlow.encode))
    return flow, params, actions, states


@pytest.mark.parametrize("d", [1, 2, 3, 6])
@pytest.mark.parametrize("latent", ["uniform", "normal"])
def test_decode_inverts_encode(d, latent):
    flow, params, actions, states = make_flow(d, latent)
    latents, _ = flow.apply(params, actions, states, method=ConditionalFlow.encode)
    recovered = flow.apply(params, latents, states, method=ConditionalFlow.decode)
    assert float(jnp.abs(recovered - actions).max()) < 1e-4


@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_whole_flow_log_det_matches_autodiff_jacobian(d):
    flow, params, actions, states = make_flow(d)
    _, log_det = flow.apply(params, actions, states, method=ConditionalFlow.encode)
    encode_one = lambda a, s: flow.apply(params, a[None], s[None], method=ConditionalFlow.encode)[0][0]
    jacobians = jax.vmap(jax.jacfwd(encode_one))(actions[:16], states[:16])
    np.testing.assert_allclose(jnp.linalg.slogdet(jacobians)[1], log_det[:16], atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize(
    "layer",
    [Atanh(), Inverse(Atanh(clip=LATENT_CLIP)), ActNorm(), InvertibleLinear(), AffineCoupling(16), AffineCoupling(16, flip=True)],
)
@pytest.mark.parametrize("d", [1, 3])
def test_each_layer_log_det_and_inverse(layer, d):
    key = jax.random.PRNGKey(0)
    x = jax.random.uniform(key, (32, d), minval=-0.9, maxval=0.9)
    context = jax.random.normal(key, (32, STATE_DIM))
    params = perturbed(layer.init(key, x, context), scale=0.1)
    y, log_det = layer.apply(params, x, context, method="forward_and_log_det")
    one = lambda xi, ci: layer.apply(params, xi[None], ci[None], method="forward_and_log_det")[0][0]
    jacobians = jax.vmap(jax.jacfwd(one))(x, context)
    np.testing.assert_allclose(jnp.linalg.slogdet(jacobians)[1], log_det, atol=1e-4, rtol=1e-4)
    back, inverse_log_det = layer.apply(params, y, context, method="inverse_and_log_det")
    np.testing.assert_allclose(back, x, atol=1e-5)
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-4)


def test_actnorm_standardises_the_initial_batch():
    x = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(0), (256, 4))
    layer = ActNorm()
    y, _ = layer.apply(layer.init(jax.random.PRNGKey(1), x, None), x, None)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-4)


@pytest.mark.parametrize("latent", ["uniform", "normal"])
def test_density_integrates_to_one_in_one_dimension(latent):
    flow, params, _, _ = make_flow(1, latent)
    state = jnp.full((1, STATE_DIM), 0.3)
    # Integrate over u = atanh(a) so the edges of (-1, 1) cause no quadrature trouble: da = (1 - tanh(u)^2) du.
    u = jnp.linspace(-8, 8, 40_001)
    a = jnp.tanh(u)[:, None]
    density = jnp.exp(flow.apply(params, a, jnp.repeat(state, len(u), 0), method=ConditionalFlow.log_prob))
    integral = jnp.trapezoid(density * (1 - a[:, 0] ** 2), u)
    assert abs(float(integral) - 1.0) < 0.02


def test_density_integrates_to_one_in_two_dimensions():
    flow, params, _, _ = make_flow(2)
    u = jnp.linspace(-6, 6, 601)
    grid = jnp.stack(jnp.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    a = jnp.tanh(grid)
    state = jnp.full((len(a), STATE_DIM), -0.2)
    density = jnp.exp(flow.apply(params, a, state, method=ConditionalFlow.log_prob)) * jnp.prod(1 - a**2, -1)
    integral = jnp.trapezoid(jnp.trapezoid(density.reshape(len(u), len(u)), u, axis=1), u)
    assert abs(float(integral) - 1.0) < 0.02


def test_box_maps_to_actions_and_actions_to_box():
    flow, params, actions, states = make_flow(3)
    edges = jnp.array([-1.0, -0.999999, -0.5, 0.0, 0.5, 0.999999, 1.0])
    latents = jnp.stack(jnp.meshgrid(edges, edges, edges, indexing="ij"), -1).reshape(-1, 3)
    decoded = flow.apply(params, latents, jnp.resize(states, (len(latents), STATE_DIM)), method=ConditionalFlow.decode)
    assert bool(jnp.all(jnp.abs(decoded) < 1.0))
    extreme = jnp.concatenate([actions, jnp.ones((4, 3)), -jnp.ones((4, 3))])
    encoded, _ = flow.apply(params, extreme, jnp.resize(states, (len(extreme), STATE_DIM)), method=ConditionalFlow.encode)
    assert bool(jnp.all(jnp.abs(encoded) <= 1.0)) and bool(jnp.all(jnp.isfinite(encoded)))


def test_pretraining_covers_every_mode_of_a_multimodal_toy():
    from cnfrl.data.transitions import Transitions
    from cnfrl.models.pretrain import PretrainConfig, pretrain_flow

    rng = np.random.default_rng(0)
    n = 8192
    centres = np.array([[-0.6, -0.6], [-0.6, 0.6], [0.6, -0.6], [0.6, 0.6]], np.float32)
    mode = rng.integers(0, 4, n)
    actions = np.clip(centres[mode] + 0.05 * rng.standard_normal((n, 2)), -0.99, 0.99).astype(np.float32)
    observations = rng.standard_normal((n, 3)).astype(np.float32)
    ends = np.zeros(n, bool)
    ends[-1] = True
    toy = Transitions(observations, actions, np.zeros(n), observations, np.zeros(n), ends, ends)
    result = pretrain_flow(
        toy,
        FlowConfig(blocks=6, hidden=64),
        PretrainConfig(epochs=40, batch_size=256, learning_rate=1e-3, grad_clip=1.0, sample_states=64),
        seed=0,
        show_progress=False,
    )
    assert result.metrics[result.best_epoch - 1]["val_loss"] == min(m["val_loss"] for m in result.metrics)
    samples = np.asarray(result.model.sample(jax.random.PRNGKey(0), jnp.asarray(observations[:2000])))
    nearest = np.argmin(((samples[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    shares = np.bincount(nearest, minlength=4) / len(samples)
    assert np.all(shares > 0.15), shares
    close = np.sqrt(((samples - centres[nearest]) ** 2).sum(-1)) < 0.25
    assert close.mean() > 0.8
    latents = result.model.encode(jnp.asarray(actions[:500]), jnp.asarray(observations[:500]))
    decoded = np.asarray(result.model.decode(latents, jnp.asarray(observations[:500])))
    # float32 cannot resolve a latent within ~1e-6 of the box's edge (the last tanh is saturated there): the
    # round trip is exact where it can, and a trained flow sends almost no data action that close to the edge
    resolved = np.abs(np.asarray(latents)).max(-1) < 1 - 1e-4
    assert resolved.mean() > 0.99, resolved.mean()
    np.testing.assert_allclose(decoded[resolved], actions[:500][resolved], atol=1e-3)


def test_concurrent_callers_pre_train_a_cached_model_once(tmp_path, monkeypatch):
    """Two processes (here threads) that want the same model take turns on its cache entry: one trains it,
    the other waits and loads it (Ray workers training cnf and cnf-steady on one dataset share a flow)."""
    import threading

    from cnfrl.models import pretrain

    toy = toy_transitions()
    calls = []
    train = pretrain.pretrain_action_model
    monkeypatch.setattr(pretrain, "pretrain_action_model", lambda *a, **k: calls.append(1) or train(*a, **k))
    settings = pretrain.PretrainConfig(epochs=1, batch_size=128, learning_rate=1e-3, grad_clip=1.0, sample_states=16)
    results = []
    want = lambda: results.append(
        pretrain.pretrained_model(toy, "flow", FlowConfig(blocks=2, hidden=8), settings, "toy", tmp_path, show_progress=False)
    )
    threads = [threading.Thread(target=want) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 2
    for a, b in zip(jax.tree.leaves(results[0].model.params), jax.tree.leaves(results[1].model.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def toy_transitions(n: int = 512):
    """A small dataset of 3-d states and 2-d actions for pre-training tests."""
    from cnfrl.data.transitions import Transitions

    rng = np.random.default_rng(0)
    observations = rng.standard_normal((n, 3)).astype(np.float32)
    actions = rng.uniform(-0.9, 0.9, (n, 2)).astype(np.float32)
    ends = np.zeros(n, bool)
    ends[-1] = True
    return Transitions(observations, actions, np.zeros(n), observations, np.zeros(n), ends, ends)


def test_a_run_directorys_copy_of_its_model_refills_an_empty_cache_and_only_for_its_own_key(tmp_path, monkeypatch):
    """A resumed run on a machine with an empty cache (its run directory carried from another) loads its own
    model/ instead of pre-training again; a copy made for other settings is not taken for it."""
    import shutil

    from cnfrl.models import pretrain

    toy = toy_transitions()
    settings = pretrain.PretrainConfig(epochs=1, batch_size=128, learning_rate=1e-3, grad_clip=1.0, sample_states=16)
    config = FlowConfig(blocks=2, hidden=8)
    first = pretrain.pretrained_model(toy, "flow", config, settings, "toy", tmp_path / "cache", show_progress=False)
    shutil.copytree(first.cache_dir, tmp_path / "run" / "model")
    calls = []
    train = pretrain.pretrain_action_model
    monkeypatch.setattr(pretrain, "pretrain_action_model", lambda *a, **k: calls.append(1) or train(*a, **k))
    copies = [tmp_path / "missing", tmp_path / "run" / "model"]
    again = pretrain.pretrained_model(
        toy, "flow", config, settings, "toy", tmp_path / "empty", show_progress=False, copies=copies
    )
    assert calls == [] and again.cache_dir.parent == tmp_path / "empty"
    for a, b in zip(jax.tree.leaves(first.model.params), jax.tree.leaves(again.model.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = pretrain.pretrained_model(
        toy, "flow", config, settings, "toy", tmp_path / "other", seed=1, show_progress=False, copies=copies
    )
    assert calls == [1] and other.cache_dir.name != again.cache_dir.name


@pytest.mark.parametrize("d", [1, 3])
def test_a_frozen_flow_decodes_the_same_actions_without_linear_algebra(d):
    """The agents' decoder takes the inverse matrices computed once: the same actions, no LU per call."""
    from cnfrl.models.flow import FlowModel
    from cnfrl.networks import Normalizer

    flow, params, actions, states = make_flow(d)
    model = FlowModel(params, Normalizer(jnp.zeros(STATE_DIM), jnp.ones(STATE_DIM)), d, flow.config)
    frozen = model.frozen()
    latents = model.encode(actions, states)
    decode = jax.jit(lambda m: m.decode(latents, states))
    np.testing.assert_array_equal(decode(frozen), decode(model))
    lu_calls = lambda m: len(re.findall("getrf", decode.lower(m).compile().as_text()))
    assert lu_calls(model) > 0 and lu_calls(frozen) == 0
    assert frozen.frozen().params.keys() == frozen.params.keys()
