"""Tests for gandemo.compare: variants trained side by side in shared stacks must train exactly
as ``Trainer`` alone would (same seed -> same numbers up to float tolerance), every trick
included, and a diverging variant stops alone."""

import math

import numpy as np
import pytest
import torch

from gandemo.compare import STRENGTHS, Comparison, apply_strength
from gandemo.config import RunConfig
from gandemo.engine import stack_key
from gandemo.losses import LOSSES
from gandemo.trainer import Trainer

N = 30
ATOL = 1e-5  # absolute and relative tolerance of stacked vs solo numbers after N steps
# history columns compared between stacked and solo (wall_s is time, not a result)
COLUMNS = ("step", "d_loss", "g_loss", "d_penalty", "g_penalty", "g_grad_norm", "d_grad_norm",
           "x_grad_norm", "js", "kl_rg", "kl_gr", "w1", "v_opt", "modes_covered", "hq_share")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def base(target="gaussian", **kw) -> RunConfig:
    settings = dict(target=target, steps=N, seed=3, batch=32, g_width=24, d_width=24,
                    log_every=7, eval_samples=200)
    settings.update(kw)
    return RunConfig(**settings)


def solo(cfg: RunConfig) -> Trainer:
    t = Trainer(cfg)
    t.run()
    return t


def params(t: Trainer) -> list[torch.Tensor]:
    """G's and D's weights, less the biases in front of virtual batch norm: VBN subtracts a mean
    that contains them, so their true gradient is exactly 0 and Adam turns its rounding residue
    (different for K = 1 and K > 1) into ±lr steps that change nothing downstream."""
    hidden = {f"b{n}" for n in range(t.cfg.g_depth)} if t.cfg.vbn else set()
    g = [w for n, w in t.weights("g").items() if n not in hidden]
    return [*g, *t.weights("d").values()]


def groups(comp: Comparison) -> list[list[int]]:
    return sorted(map(sorted, comp.groups))


def assert_same_run(stacked: Trainer, alone: Trainer, what: str = "", tol: float = ATOL) -> None:
    assert stacked.step_count == alone.step_count, what
    assert stacked.diverged_at == alone.diverged_at, what
    assert stacked.status == alone.status, what
    for a, b in zip(params(stacked), params(alone), strict=True):  # NaN where it diverged
        torch.testing.assert_close(a, b, atol=tol, rtol=tol, equal_nan=True, msg=what)
    ha, hb = stacked.history.as_arrays(), alone.history.as_arrays()
    assert len(stacked.history) == len(alone.history) > 0, what
    for c in COLUMNS:
        np.testing.assert_allclose(ha[c], hb[c], atol=tol, rtol=tol, equal_nan=True,
                                   err_msg=f"{what}: {c}")


def check_against_solo(configs: list[RunConfig], tol: float = ATOL) -> Comparison:
    comp = Comparison(configs)
    comp.run()
    assert comp.done
    for cfg, t, label in zip(configs, comp.trainers, comp.labels, strict=True):
        assert_same_run(t, solo(cfg), label, tol)
    return comp


@pytest.mark.parametrize("target", ["gaussian", "ring8"])
def test_stacked_equals_solo_losses_and_k(target):
    """nonsaturating/minimax/wgan-gp/hinge × k ∈ {1, 2}: one comparison, two stacked groups."""
    configs = [base(target, loss=loss, d_steps=k)
               for loss in ("nonsaturating", "minimax", "wgan-gp", "hinge") for k in (1, 2)]
    comp = check_against_solo(configs)
    assert sorted(len(g) for g in comp.groups) == [4, 4]


def test_stacked_equals_solo_tricks_and_optimizers():
    """Per-variant optimizers and lrs, clipping, label smoothing, R1, instance noise (annealed),
    a relativistic loss (G reads real data), uniform prior and a mix of gp/no-gp rows."""
    configs = [
        base(loss="wgan", opt_d="rmsprop", opt_g="rmsprop", lr_d=5e-4, beta2=0.9),
        base(loss="wgan", opt_d="rmsprop", opt_g="rmsprop", lr_d=2e-3, clip=0.05),
        base(loss="nonsaturating", label_smoothing=0.1, r1_gamma=1.0, beta1=0.0),
        base(loss="lsgan", instance_noise=0.3, noise_anneal=20, lr_g=3e-3),
        base(loss="ragan", instance_noise=0.1, noise="uniform", opt_d="sgd", opt_g="sgd",
             lr_d=0.05, lr_g=0.02, beta1=0.5),
        base(loss="wgan-gp", gp_lambda=1.0, label_smoothing=0.2),
        base(loss="fgan-kl"),
        base(loss="hinge", opt_d="sgd", opt_g="sgd", lr_d=0.05, lr_g=0.02, beta1=0.9),
        base(loss="hinge", opt_d="sgd", opt_g="sgd", lr_d=0.05, lr_g=0.02, beta1=0.0),
        base(loss="hinge", opt_d="sgd", opt_g="sgd", lr_d=0.05, lr_g=0.02, beta1=0.0, seed=11),
        base(loss="wgan-gp", target="bimodal", opt_d="sgd", opt_g="sgd", lr_d=0.05, lr_g=0.02),
    ]
    comp = check_against_solo(configs)
    assert len(comp.groups) == 1  # RMSProp, Adam and SGD rows in one stack


def test_stacked_clipping_before_every_critic_pass_and_rmsprop_alpha():
    """WGAN with a frozen critic (lr_D = 0) is still clipped (before its first pass), stacked as
    solo; RMSProp's α is 0.99 whatever β₂ says; penalties are logged apart from d_loss."""
    configs = [base(loss="wgan", opt_d="rmsprop", opt_g="rmsprop", lr_d=0.0, clip=c, beta2=b2)
               for c, b2 in ((0.01, 0.9), (0.05, 0.5))]
    comp = check_against_solo(configs)
    assert len(comp.groups) == 1
    for cfg, t in zip(configs, comp.trainers, strict=True):
        assert max(w.abs().max().item() for w in t.weights("d").values()) <= cfg.clip + 1e-9
    gp = check_against_solo([base(loss="wgan-gp"), base(loss="hinge", r1_gamma=1.0)])
    for t in gp.trainers:
        assert (t.history.as_arrays()["d_penalty"] > 0).all()


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "elu"])
def test_stacked_equals_solo_activations(activation):
    configs = [base(loss=loss, activation=activation, noise_dim=1)
               for loss in ("nonsaturating", "lsgan")]
    check_against_solo(configs)


def test_ragan_with_adam_equal_up_to_its_invariant_directions():
    """RaGAN's D objective is invariant to a common shift of all logits, so D's gradient along
    that shift (output bias, biases of always-active last-layer units) is pure rounding residue,
    which Adam normalises into ±lr steps: those few D weights follow a different rounding walk
    stacked and solo (as they would solo with another BLAS). What they barely influence — G,
    every logged loss, gradient norm and metric — agrees closely (1e-4 after 30 steps)."""
    configs = [base(loss="ragan"), base(loss="ragan", lr_d=2e-3), base(loss="nonsaturating")]
    comp = Comparison(configs)
    comp.run()
    for cfg, t in zip(configs, comp.trainers, strict=True):
        alone = solo(cfg)
        for a, b in zip(t.weights("g").values(), alone.weights("g").values(), strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)
        ha, hb = t.history.as_arrays(), alone.history.as_arrays()
        for c in COLUMNS:  # ‖∇D‖ depends on the drifting weights
            np.testing.assert_allclose(ha[c], hb[c], atol=1e-4,
                                       rtol=1e-2 if c == "d_grad_norm" else 1e-3, err_msg=c)
        x = torch.linspace(-3, 5, 101)[:, None]
        shift = t.critic(x) - alone.critic(x)
        assert float(shift.max() - shift.min()) < 1e-2  # logits differ by about a constant


def test_mixed_architectures_stack_by_shape_and_equal_solo():
    configs = [
        base(loss="nonsaturating"),
        base(loss="hinge"),
        base(loss="nonsaturating", d_width=8),  # stacks in a group of its own
        base(loss="nonsaturating", activation="tanh"),  # alone in its group
        base(loss="nonsaturating", spectral_norm=True),  # per variant: stacks with 0 and 1
        base(loss="nonsaturating", minibatch_disc=True),  # another D: a group of its own
        base(loss="nonsaturating", feature_matching=True),  # per variant: stacks with 0 and 1
        base(loss="nonsaturating", d_steps=2, steps=N - 7),  # finishes early, alone in its k
        base(loss="nonsaturating", d_width=8, lr_d=2e-3, steps=N - 11),  # leaves its group early
    ]
    comp = check_against_solo(configs)
    assert groups(comp) == [[0, 1, 4, 6], [2, 8], [3], [5], [7]]


def test_every_trick_stacks_and_equals_solo():
    """Spectral norm, feature matching and historical averaging per variant in one stack;
    minibatch discrimination, VBN and unrolled D with a loss partner each; penalties too."""
    configs = [
        base(loss="nonsaturating", historical_avg=0.01),
        base(loss="hinge", spectral_norm=True, r1_gamma=1.0),
        base(loss="nonsaturating", feature_matching=True, instance_noise=0.2),
        base(loss="wgan-gp", minibatch_disc=True, target="ring8"),
        base(loss="nonsaturating", minibatch_disc=True, target="ring8", label_smoothing=0.1),
        base(loss="nonsaturating", vbn=True),
        base(loss="lsgan", vbn=True, historical_avg=0.1),
        base(loss="nonsaturating", unrolled=2),
        base(loss="hinge", unrolled=2, spectral_norm=True),
    ]
    # minibatch features are sums of exp(−‖·‖₁) over the batch: their reductions round a little
    # differently for K = 1 and K = 2 (a few 1e-5 after 30 steps), hence 1e-4 here
    comp = check_against_solo(configs, tol=1e-4)
    assert groups(comp) == [[0, 1, 2], [3, 4], [5, 6], [7, 8]]


def test_stack_key_separates_shapes_only():
    for change in (dict(minibatch_disc=True), dict(vbn=True), dict(unrolled=2), dict(d_steps=2),
                   dict(d_width=8), dict(lr_g=0.0)):
        assert stack_key(base(**change)) != stack_key(base()), change
    for change in (dict(spectral_norm=True), dict(feature_matching=True),
                   dict(historical_avg=1.0), dict(loss="hinge", lr_d=0.1), dict(r1_gamma=1.0),
                   dict(target="bimodal", seed=9), dict(instance_noise=0.5),
                   dict(opt_d="sgd", opt_g="rmsprop")):
        assert stack_key(base(**change)) == stack_key(base()), change


def test_diverging_variant_stops_alone():
    """A huge lr makes one stacked variant's numbers non-finite; it stops at the same step as
    alone, keeps its history, and its group mates train on to the end, equal to their solo runs."""
    configs = [base(loss="nonsaturating", steps=40),
               base(loss="fgan-kl", lr_d=1.0, lr_g=1.0, steps=40, log_every=1),
               base(loss="hinge", steps=40)]
    alone = solo(configs[1])
    assert alone.diverged_at is not None and alone.diverged_at < 40  # the premise
    comp = check_against_solo(configs)
    assert groups(comp) == [[0, 1, 2]]
    bad = comp.trainers[1]
    assert bad.status == f"diverged at step {bad.diverged_at}"
    assert len(bad.history) == bad.diverged_at
    assert not math.isfinite(bad.history.columns["d_loss"][-1])
    assert [t.step_count for t in comp.trainers] == [40, bad.diverged_at, 40]
    assert comp.trainers[0].status == comp.trainers[2].status == "finished"


def test_divergence_inside_the_d_steps_skips_the_rest():
    """With k = 3 a variant whose D loss turns non-finite in its first D step of an iteration
    skips the other two and its G step (as Trainer.step does; its generators stop drawing too),
    while its group mates carry on."""
    configs = [base(loss="fgan-kl", d_steps=3, steps=20),
               base(loss="fgan-kl", d_steps=3, lr_d=1.0, steps=20, log_every=1),
               base(loss="hinge", d_steps=3, steps=20)]
    alone = solo(configs[1])
    assert alone.diverged_at is not None  # the premise
    assert math.isnan(alone.history.columns["g_loss"][-1])
    comp = check_against_solo(configs)
    assert groups(comp) == [[0, 1, 2]]


def test_same_initial_generator_for_every_variant():
    configs = [apply_strength(base(loss=loss), level)
               for loss in ("nonsaturating", "wgan-gp") for level in STRENGTHS]
    comp = Comparison(configs)
    first = {n: w.clone() for n, w in comp.trainers[0].weights("g").items()}
    for t in comp.trainers[1:]:
        assert all(torch.equal(w, first[n]) for n, w in t.weights("g").items())
    comp.step()
    assert all(t.step_count == 1 for t in comp.trainers)
    assert not torch.equal(comp.trainers[0].weights("g")["W0"], first["W0"])


def test_trainer_views_are_current_between_steps():
    """snapshot()/measure() of a stacked variant read the stacked weights (no sync needed)."""
    configs = [base(loss="nonsaturating"), base(loss="hinge")]
    comp = Comparison(configs)
    for _ in range(5):
        comp.step()
    ref = Trainer(configs[1])
    for _ in range(5):
        ref.step()
    a, b = comp.trainers[1].snapshot(), ref.snapshot()
    np.testing.assert_allclose(a.d_out, b.d_out, atol=1e-5)
    np.testing.assert_allclose(a.fake, b.fake, atol=1e-5)
    assert comp.trainers[1].measure().keys() == ref.measure().keys()


def test_step_and_run_finish_every_variant():
    configs = [base(loss="nonsaturating", steps=5), base(loss="hinge", steps=8)]
    comp = Comparison(configs)
    comp.step()
    assert [t.step_count for t in comp.trainers] == [1, 1]
    comp.run()
    assert comp.done and [t.step_count for t in comp.trainers] == [5, 8]
    comp.step()  # a no-op once done
    assert [t.step_count for t in comp.trainers] == [5, 8]


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_registry_objectives_of_logit_rows_are_rowwise(name, real_label):
    """A registry objective of (K, B) logits is the K objectives of its rows (what lets one
    evaluation serve a whole run of equal objectives in a stack)."""
    loss = LOSSES[name]
    gen = torch.Generator().manual_seed(0)
    l_r, l_f = torch.randn(2, 5, 33, generator=gen) * 2
    d = loss.d_loss(l_r, l_f, real_label)
    g = loss.g_loss(l_f, l_r)
    assert d.shape == g.shape == (5,)
    for i in range(5):
        torch.testing.assert_close(d[i], loss.d_loss(l_r[i], l_f[i], real_label))
        torch.testing.assert_close(g[i], loss.g_loss(l_f[i], l_r[i]))


def test_labels():
    configs = [base(loss="nonsaturating"), base(loss="hinge", d_steps=5)]
    assert Comparison(configs).labels == ["non-saturating + k = 1", "hinge + k = 5"]
    assert Comparison(configs, ["a", "b"]).labels == ["a", "b"]
    with pytest.raises(ValueError, match="labels"):
        Comparison(configs, ["a", "a"])


def test_apply_strength_sets_the_ladder():
    cfg = base(lr_g=2e-4)
    for level, s in STRENGTHS.items():
        out = apply_strength(cfg, level)
        assert out.d_steps == s["d_steps"]
        assert out.d_width == s["d_width"]
        assert out.lr_d == pytest.approx(min(1.0, cfg.lr_g * s["lr_ratio"]))
        assert (out.loss, out.seed, out.lr_g, out.target) == (cfg.loss, cfg.seed, cfg.lr_g,
                                                               cfg.target)
    assert apply_strength(base(lr_g=0.5), "overwhelming").lr_d == 1.0


def test_variants_leaving_a_stack_keep_every_tricks_state():
    """A variant that finishes early leaves its stack: the others carry on with their own
    spectral-norm vectors, historical averages, optimizer moments and minibatch layer, equal to
    their solo runs."""
    configs = [
        base(loss="nonsaturating", historical_avg=0.01, spectral_norm=True, steps=N - 9),
        base(loss="hinge", historical_avg=0.05, spectral_norm=True),
        base(loss="nonsaturating", feature_matching=True, steps=N - 3),
        base(loss="lsgan", minibatch_disc=True, steps=N - 12),
        base(loss="nonsaturating", minibatch_disc=True, historical_avg=0.01),
    ]
    comp = check_against_solo(configs, tol=1e-4)
    assert groups(comp) == [[0, 1, 2], [3, 4]]
    assert [t.step_count for t in comp.trainers] == [N - 9, N, N - 3, N - 12, N]
