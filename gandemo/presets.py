"""Classroom experiments: one click on the Train or Compare page, or ``--preset NAME`` on the CLI.

Each preset is a base RunConfig plus, for comparisons, the variants to run side by side (as
changes to the base). Titles and explanations live in the locale files under
``preset.<name>.title`` / ``preset.<name>.explain``; the explanation says what to look for, what
theory predicts and what these settings actually do here (seed 0), quoting docs/presets.md, which
``scripts/preset_docs.py`` generates from the runs. The promised effects are the checks of
``gandemo.lessons``: ticked live on the Compare page and asserted by ``tests/test_presets.py``.

Every setting was chosen by measuring (seed 0, several seeds where the outcome is a coin flip):
toy GANs do not always follow the textbook, and where they do not the explanation says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ConfigError, RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    title: str  # English one-liner (for the CLI); the UI uses the locale files
    config: RunConfig
    # changes to ``config``, one dict per variant; empty: a single run of ``config``
    variants: tuple[dict, ...] = field(default_factory=tuple)
    # a short name per variant: ``variant.<slug>`` keys in locales/*/naming.json
    names: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if len(self.names) != len(self.variants):
            raise ValueError(f"preset {self.name}: one name per variant")

    def configs(self) -> list[RunConfig]:
        """The runs this preset trains: the base alone, or one per variant."""
        return [self.config.with_(**v) for v in self.variants] or [self.config]


# 1D, N(2, 0.5²): G starts near 0, so p_g and p_r barely overlap at first.
_GAUSSIAN = RunConfig(target="gaussian", seed=0, log_every=5)
# A discriminator clearly ahead of G: k = 5 updates per G step at 5× G's default learning rate.
_STRONG_D = {"d_steps": 5, "lr_d": 1e-3}
# Plain SGD for G, so that the *size* of its gradient decides how far it moves (Adam rescales
# every gradient to a step of about lr and hides a vanishing gradient).
_SGD_G = {"opt_g": "sgd", "lr_g": 5e-3}
_RING8 = RunConfig(target="ring8", seed=0, loss="nonsaturating", log_every=20)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "vanishing-gradient",
            "Freeze G far from p_r, train D: the saturating loss's gradient vanishes",
            _GAUSSIAN.with_(steps=600, log_every=10, lr_g=0.0, lr_d=1e-3),
            ({"loss": "minimax"}, {"loss": "nonsaturating"}),
            ("minimax", "nonsaturating"),
        ),
        Preset(
            "vanishing-gradient-live",
            "The same with G learning against a strong D: milder, and Adam hides it",
            _GAUSSIAN.with_(steps=400, **_STRONG_D),
            ({"loss": "minimax"}, {"loss": "nonsaturating"},
             {"loss": "minimax", **_SGD_G}, {"loss": "nonsaturating", **_SGD_G}),
            ("minimax-adam", "nonsaturating-adam", "minimax-sgd", "nonsaturating-sgd"),
        ),
        Preset(
            "js-blind-w1-not",
            "Disjoint supports: JS sits at ln 2 while W1 still measures the distance",
            _GAUSSIAN.with_(steps=400, **_STRONG_D, **_SGD_G),
            ({"loss": "minimax"}, {"loss": "nonsaturating"}, {"loss": "wgan-gp"}),
            ("minimax", "nonsaturating", "wgan-gp"),
        ),
        Preset(
            "mode-collapse-ring8",
            "Mode collapse on ring8 and what helps",
            _RING8.with_(steps=1500),
            ({}, {"minibatch_disc": True}, {"loss": "wgan-gp", "d_steps": 5}, {"unrolled": 5}),
            ("plain", "minibatch-disc", "wgan-gp-k5", "unrolled-5"),
        ),
        Preset(
            "d-strength",
            "Discriminator strength: k = 1, 5, 20 D steps per G step",
            _RING8.with_(steps=1000),
            ({"d_steps": 1}, {"d_steps": 5}, {"d_steps": 20}),
            ("k1", "k5", "k20"),
        ),
        Preset(
            "lipschitz-tools",
            "Keeping the critic Lipschitz: clipping vs gradient penalty vs spectral norm",
            RunConfig(target="bimodal", steps=1500, seed=0, d_steps=5, log_every=10),
            # the same learning rate (the default 2·10⁻⁴) for all three; clipping keeps the WGAN
            # paper's RMSProp (momentum made clipped critics unstable there)
            ({"loss": "wgan", "opt_d": "rmsprop", "opt_g": "rmsprop"},
             {"loss": "wgan-gp"}, {"loss": "hinge", "spectral_norm": True}),
            ("wgan-clip", "wgan-gp", "hinge-sn"),
        ),
        Preset(
            "improved-techniques",
            "Salimans et al. 2016 and friends: each trick against the plain run",
            _RING8.with_(steps=2000),
            ({}, {"label_smoothing": 0.1}, {"instance_noise": 0.1, "noise_anneal": 1500},
             {"feature_matching": True}, {"historical_avg": 0.01}),
            ("plain", "label-smoothing", "instance-noise", "feature-matching", "historical-avg"),
        ),
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]
