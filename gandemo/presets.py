"""Classroom experiments: one click on the Train or Compare page, or ``--preset NAME`` on the CLI.

Each preset is a base RunConfig plus, for comparisons, the variants to run side by side
(as changes to the base). Titles and explanations live in the locale files under
``preset.<name>.title`` / ``preset.<name>.explain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    title: str  # English one-liner (for the CLI); the UI uses the locale files
    config: RunConfig
    variants: tuple[dict, ...] = field(default_factory=tuple)  # changes to ``config``

    def configs(self) -> list[RunConfig]:
        """The runs this preset trains: the base alone, or one per variant."""
        return [self.config.with_(**v) for v in self.variants] or [self.config]


_FAR_GAUSSIAN = RunConfig(target="gaussian", steps=600, seed=0, log_every=10)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "vanishing-gradient",
            "Freeze G far from p_r, train D: the saturating loss's gradient vanishes",
            _FAR_GAUSSIAN.with_(lr_g=0.0, d_steps=1),
            ({"loss": "minimax"}, {"loss": "nonsaturating"}),
        ),
        Preset(
            "js-blind-w1-not",
            "Disjoint supports: JS sits at ln 2 while W1 still measures the distance",
            _FAR_GAUSSIAN.with_(steps=1500),
            ({"loss": "nonsaturating"}, {"loss": "wgan-gp"}),
        ),
        Preset(
            "mode-collapse-ring8",
            "Mode collapse on ring8 and what helps",
            RunConfig(target="ring8", steps=3000, seed=0, noise_dim=2, log_every=20),
            ({"loss": "nonsaturating"}, {"loss": "nonsaturating", "minibatch_disc": True},
             {"loss": "wgan-gp"}, {"loss": "nonsaturating", "unrolled": 5}),
        ),
        Preset(
            "d-strength",
            "Discriminator strength: k = 1, 5, 20 D steps per G step",
            RunConfig(target="bimodal", steps=1500, seed=0, loss="minimax"),
            ({"d_steps": 1}, {"d_steps": 5}, {"d_steps": 20}),
        ),
        Preset(
            "lipschitz-tools",
            "Keeping the critic Lipschitz: clipping vs gradient penalty vs spectral norm",
            RunConfig(target="bimodal", steps=1500, seed=0),
            ({"loss": "wgan", "opt_d": "rmsprop", "opt_g": "rmsprop", "lr_d": 5e-4, "lr_g": 5e-4},
             {"loss": "wgan-gp"}, {"loss": "hinge", "spectral_norm": True}),
        ),
        Preset(
            "improved-techniques",
            "Salimans et al. 2016: each trick against the plain run",
            RunConfig(target="bimodal", steps=1500, seed=0, loss="nonsaturating"),
            ({}, {"label_smoothing": 0.1}, {"instance_noise": 0.5, "noise_anneal": 1000},
             {"feature_matching": True}, {"historical_avg": 0.01}),
        ),
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise KeyError(f"preset: unknown {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]
