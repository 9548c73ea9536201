"""Dynamics: the Dirac-GAN's vector field, training paths and eigenvalues, instant (no training).

Layout only: every number and the figure come from ``gandemo.dynamics``, every word from the
``dyn.*`` locale keys. Runs on its own (``streamlit run views/dynamics.py``, ``AppTest``) and
inside the app's ``st.navigation``; the language is ``st.session_state["lang"]``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from gandemo import dynamics as Dy
from gandemo.figures import PLOTLY_CONFIG
from ui.common import labeler, tr
from ui.common import lang as session_lang

lang = session_lang()


def param_slider(p: Dy.Param, text: str, key: str) -> float:
    return st.slider(text, p.lo, p.hi, p.default, step=p.step, key=key)


st.title(tr("dyn.title"))
st.markdown(tr("dyn.intro"))

# ------------------------------------------------------------------ controls
def choice_with_param(registry: dict, kind: str, label_prefix: str, param_prefix: str,
                      param_key: str) -> tuple[str, float | None]:
    """A registry entry picked by name, and its own parameter's slider when it has one."""
    name = st.selectbox(tr(f"dyn.controls.{kind}"), list(registry), key=f"dyn_{kind}",
                        format_func=labeler(label_prefix))
    param = registry[name].param
    value = (param_slider(param, tr(f"{param_prefix}{name}"), f"{param_key}{name}")
             if param else None)
    return name, value


c1, c2, c3 = st.columns(3)
with c1:
    loss, loss_param = choice_with_param(Dy.LOSSES, "loss", "dyn.loss.", "dyn.loss_param.",
                                         "dyn_param_")
with c2:
    reg, strength = choice_with_param(Dy.REGULARIZERS, "reg", "dyn.reg.", "dyn.strength.",
                                      "dyn_strength_")
with c3:
    eta = param_slider(Dy.Setup.ETA, tr("dyn.controls.eta"), "dyn_eta")
    k = st.slider(tr("dyn.controls.k"), 1, Dy.Setup.K_MAX, 1, key="dyn_k")
c4, c5, c6 = st.columns(3)
steps = c4.slider(tr("dyn.controls.steps"), 10, 1000, 300, step=10, key="dyn_steps")
theta0 = c5.slider(tr("dyn.controls.theta0"), -2.0, 2.0, 1.0, step=0.05, key="dyn_theta0")
psi0 = c6.slider(tr("dyn.controls.psi0"), -2.0, 2.0, 1.0, step=0.05, key="dyn_psi0")

setup = Dy.Setup(loss=loss, reg=reg, strength=strength, loss_param=loss_param, eta=eta, k=k)
start = (theta0, psi0)
an = Dy.analyse(setup)
paths = {scheme: Dy.trajectory(setup, start, steps, scheme) for scheme in Dy.SCHEMES}

# ------------------------------------------------------------------ verdict and numbers
eig_text = ", ".join(Dy.fmt_complex(z) for z in an.eig)
st.markdown(tr(f"dyn.verdict.{an.verdict}", eig=eig_text))
for scheme in Dy.SCHEMES:
    _, rho, verdict = an.maps[scheme]
    st.markdown(tr("dyn.map.line", scheme=tr(f"dyn.scheme.{scheme}"), eta=f"{eta:g}", k=k,
                   verdict=tr(f"dyn.word.{verdict}"),
                   rho="—" if not np.isfinite(rho) else f"{rho:.4f}"))

cols = st.columns(4)
for col, scheme in zip(cols[:2], Dy.SCHEMES, strict=True):
    rho = an.maps[scheme][1]
    col.metric(tr(f"dyn.metric.rho_{scheme}"), "—" if not np.isfinite(rho) else f"{rho:.4f}",
               help=tr("dyn.metric.rho_help"))
for col, scheme in zip(cols[2:], Dy.SCHEMES, strict=True):
    r = paths[scheme].radius
    col.metric(tr(f"dyn.metric.end_{scheme}"), f"{r[-1]:.3g}", delta=f"{r[-1] - r[0]:+.3g}",
               delta_color="inverse", help=tr("dyn.metric.end_help"))
for scheme, path in paths.items():
    if path.blew_up:
        st.warning(tr("dyn.blewup", scheme=tr(f"dyn.scheme.{scheme}")))

st.plotly_chart(Dy.figure(setup, start, steps, lang), config=PLOTLY_CONFIG, theme=None,
                key="dyn_chart")
st.caption(tr(f"dyn.note.{loss}"))
st.caption(tr("dyn.rule"))

# ------------------------------------------------------------------ formulas and lesson
with st.expander(tr("dyn.formulas"), expanded=False):
    st.markdown(tr("dyn.formulas.text"))
    st.latex(r"V_D=\mathbb{E}\,a(u_f)+\mathbb{E}\,b(u_r)-P(\psi),\qquad "
             r"L_G=\mathbb{E}\,g(u_f),\qquad f(t)=-\log\!\big(1+e^{-t}\big)")
    st.latex(r"v(\theta,\psi)=\Big(-\mathbb{E}\big[\psi\,g'(u_f)\big],\;"
             r"\mathbb{E}\big[(\theta+\varepsilon_1)\,a'(u_f)\big]"
             r"+\mathbb{E}\big[\varepsilon_2\,b'(u_r)\big]-P'(\psi)\Big)")
    st.latex(r"J(0,0)=\begin{pmatrix}0&-g'(0)\\ a'(0)&\sigma^2\big(a''(0)+b''(0)\big)-P''(0)"
             r"\end{pmatrix},\qquad \lambda=\tfrac{d}{2}\pm\sqrt{\tfrac{d^2}{4}-g'(0)\,a'(0)}")
    st.latex(r"\text{R1: } P=\tfrac{\gamma}{2}\psi^2\;\Rightarrow\;"
             r"\lambda=-\tfrac{\gamma}{2}\pm\sqrt{\tfrac{\gamma^2}{4}-f'(0)^2}")
    st.markdown(tr("dyn.schemes.text"))

st.header(tr("dyn.lesson.header"))
st.markdown(tr("dyn.lesson.body"))
