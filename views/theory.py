"""Theory: divergences, the optimal discriminator and BCE, live and instant (no training).

Layout only: every number and figure comes from ``gandemo.theory`` (which computes with the same
``gandemo.metrics`` functions the trainer uses) and every word from the ``theory.*`` locale keys.
In presentation mode (``ui.present``) the figures are drawn in ``figures.PRESENT``.
Runs on its own (``streamlit run views/theory.py``, ``AppTest.from_file``) and inside the app's
``st.navigation``; the language is ``st.session_state["lang"]`` (set by app.py).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from gandemo import theory as T
from gandemo.i18n import t
from ui import present

lang = st.session_state.get("lang", "en")
style = present.style()  # figures.PRESENT in presentation mode, else the normal style


def tr(key: str, **fmt) -> str:
    return t(key, lang, **fmt)


def show(fig) -> None:
    st.plotly_chart(fig, config=T.PLOTLY_CONFIG, theme=None)


# The pair shown first: asymmetric KL, partial overlap.
DEFAULTS = {"p": ("gaussian", {"mu": 0.0, "sigma": 1.0}),
            "q": ("gaussian", {"mu": 2.0, "sigma": 0.6})}


def dist_controls(side: str) -> T.Dist:
    """Family selector and one slider per parameter, for ``p`` or ``q``."""
    family0, values0 = DEFAULTS[side]
    families = list(T.FAMILIES)
    family = st.selectbox(tr("theory.explorer.family", side=side), families,
                          index=families.index(family0), key=f"th_{side}_family",
                          format_func=lambda f: tr(f"theory.family.{f}"))
    values: dict[str, float] = {}
    if family == "uniform":
        spec = {p.name: p for p in T.FAMILIES["uniform"]}
        a, b = st.slider(tr("theory.param.ab"), spec["a"].lo, spec["b"].hi,
                         (spec["a"].default, spec["b"].default) if side == "p" else (0.5, 2.5),
                         step=spec["a"].step, key=f"th_{side}_uniform_ab")
        values.update(a=a, b=b)
    else:
        for prm in T.FAMILIES[family]:
            default = values0.get(prm.name, prm.default) if family == family0 else prm.default
            values[prm.name] = st.slider(tr(f"theory.param.{prm.name}"), prm.lo, prm.hi,
                                         float(default), step=prm.step,
                                         key=f"th_{side}_{family}_{prm.name}")
    return T.Dist.make(family, **values)


@st.cache_data(max_entries=64, show_spinner=False)
def sweep_for(dist: T.Dist, smax: float) -> dict:
    return T.shift_sweep(dist, np.linspace(0.0, smax, int(round(smax / 0.05)) + 1))


SWEEP_MAX = 12.0

st.title(tr("theory.title"))
st.markdown(tr("theory.intro"))

# ------------------------------------------------------------------ 1. divergence explorer
st.header(tr("theory.explorer.header"))
st.markdown(tr("theory.explorer.intro"))
col_p, col_q = st.columns(2)
with col_p:
    st.markdown(f"**{tr('theory.explorer.p')}**")
    dist_p = dist_controls("p")
with col_q:
    st.markdown(f"**{tr('theory.explorer.q')}**")
    dist_q = dist_controls("q")
p, q = T.density(dist_p), T.density(dist_q)
table = T.divergence_table(p, q)

cols = st.columns(5)
cols[0].metric(tr("theory.num.kl_pq"), T.fmt(table.kl_pq), help=tr("theory.help.kl_pq"))
cols[1].metric(tr("theory.num.kl_qp"), T.fmt(table.kl_qp), help=tr("theory.help.kl_qp"))
cols[2].metric(tr("theory.num.js"), T.fmt(table.js),
               delta=tr("theory.unit.bits_value", value=T.fmt(table.js_bits)),
               delta_color="off", delta_arrow="off", help=tr("theory.help.js"))
cols[3].metric(tr("theory.num.w1"), T.fmt(table.w1), help=tr("theory.help.w1"))
cols[4].metric(tr("theory.num.tv"), T.fmt(table.tv), help=tr("theory.help.tv"))
if not np.isfinite(table.kl_pq) or not np.isfinite(table.kl_qp):
    st.caption(tr("theory.explorer.kl_inf"))
    for (a, b), name in (((p, q), "kl_pq"), ((q, p), "kl_qp")):
        if not np.isfinite(getattr(table, name)):
            st.caption(tr("theory.explorer.kl_inf_mass", kl=tr(f"theory.num.{name}"),
                          mass=f"{T.off_support_mass(a, b, T.DX):.3g}"))

which = st.radio(tr("theory.explorer.integrand_pick"), T.INTEGRAND_KEYS, horizontal=True,
                 key="th_integrand", format_func=lambda k: tr(f"theory.num.{k}"))
show(T.explorer_figure(p, q, which, lang, style=style))
st.caption(tr("theory.explorer.integrand_caption"))
with st.expander(tr("theory.explorer.formulas"), expanded=False):
    st.latex(r"\mathrm{KL}(p\,\|\,q)=\int p(x)\,\log\frac{p(x)}{q(x)}\,dx \;\ge 0")
    st.latex(r"\mathrm{JS}(p,q)=\tfrac12\,\mathrm{KL}(p\,\|\,m)+\tfrac12\,\mathrm{KL}(q\,\|\,m),"
             r"\quad m=\tfrac{p+q}{2},\quad 0\le\mathrm{JS}\le\ln 2")
    st.latex(r"W_1(p,q)=\inf_{\gamma\in\Pi(p,q)}\mathbb{E}_{(x,y)\sim\gamma}|x-y|"
             r"=\int_{-\infty}^{\infty}\big|F_p(x)-F_q(x)\big|\,dx\quad(\text{1D})")
    st.latex(r"\mathrm{TV}(p,q)=\tfrac12\int\big|p(x)-q(x)\big|\,dx")
    st.markdown(tr("theory.explorer.units"))

# sliding q away from p
st.subheader(tr("theory.sweep.header"))
st.markdown(tr("theory.sweep.intro"))
sweep = sweep_for(dist_p, SWEEP_MAX)
s = st.slider(tr("theory.sweep.slider"), 0.0, SWEEP_MAX, 1.0, step=0.05, key="th_shift")
i = int(np.argmin(np.abs(sweep["shift"] - s)))
slopes = T.sweep_slopes(dist_p, max(s, 0.05))
cols = st.columns(4)
cols[0].metric(tr("theory.sweep.js"), T.fmt(sweep["js"][i]),
               delta=tr("theory.unit.bits_value", value=T.fmt(sweep["js_bits"][i])),
               delta_color="off", delta_arrow="off")
cols[1].metric(tr("theory.sweep.w1"), T.fmt(sweep["w1"][i]))
cols[2].metric(tr("theory.sweep.slope_js"), T.fmt(slopes["js"]))
cols[3].metric(tr("theory.sweep.slope_w1"), T.fmt(slopes["w1"]))
show(T.sweep_figure(dist_p, sweep, float(sweep["shift"][i]), lang, style=style))
st.info(tr("theory.sweep.takeaway"))

# ------------------------------------------------------------------ 2. f-divergences
st.header(tr("theory.f.header"))
st.markdown(tr("theory.f.intro"))
st.latex(r"D_f(p\,\|\,q)=\int q(x)\,f\!\Big(\frac{p(x)}{q(x)}\Big)dx,\qquad f\ \text{"
         + tr("theory.f.convex") + r"},\ f(1)=0")
st.latex(r"f^*(t)=\sup_{u}\,\big(ut-f(u)\big),\qquad D_f(p\,\|\,q)\;\ge\;\sup_T\;"
         r"\mathbb{E}_{p}\,T(x)-\mathbb{E}_{q}\,f^*\big(T(x)\big),\quad T^*=f'\!\big(p/q\big)")
name = st.radio(tr("theory.f.pick"), T.F_NAMES, horizontal=True, key="th_f",
                format_func=lambda k: tr(f"theory.f.{k}"))
st.latex(T.F_LATEX[name])
view = T.f_view(name, p, q)
cols = st.columns(3)
cols[0].metric(tr("theory.f.d_f"), T.fmt(view.d_f), help=tr("theory.f.d_f_help"))
cols[1].metric(tr("theory.f.bound"), T.fmt(view.bound), help=tr("theory.f.bound_help"))
cols[2].metric(tr("theory.f.fprime1"), T.fmt(view.f_prime_at_1), help=tr("theory.f.fprime1_help"))
st.markdown(tr(f"theory.f.relation.{name}", value=T.fmt(view.closed_form),
               js=T.fmt(table.js)))
show(T.f_figure(view, lang, style=style))

# ------------------------------------------------------------------ 3. optimal discriminator
st.header(tr("theory.opt.header"))
st.markdown(tr("theory.opt.intro"))
st.latex(r"D^*(x)=\frac{p_r(x)}{p_r(x)+p_g(x)}")
st.latex(r"V(G,D^*)=\mathbb{E}_{x\sim p_r}\log D^*(x)+\mathbb{E}_{x\sim p_g}\log\big(1-D^*(x)\big)"
         r"=2\,\mathrm{JS}(p_r,p_g)-2\ln 2")
opt = T.optimal_view(p, q)
cols = st.columns(3)
cols[0].metric(tr("theory.opt.v"), T.fmt(opt.v_opt, 6))
cols[1].metric(tr("theory.opt.two_js"), T.fmt(opt.two_js_minus, 6))
cols[2].metric(tr("theory.opt.d_loss"), T.fmt(opt.d_loss, 6), help=tr("theory.opt.d_loss_help"))
show(T.optimal_figure(p, q, opt, lang, style=style))
st.caption(tr("theory.opt.caption"))

# ------------------------------------------------------------------ 4. BCE as the GAN loss
st.header(tr("theory.bce.header"))
st.markdown(tr("theory.bce.intro"))
st.latex(r"\mathrm{BCE}(o,t)=-\big[t\log o+(1-t)\log(1-o)\big]"
         r"=H(t)+\mathrm{KL}\big(\mathrm{Bern}(t)\,\|\,"
         r"\mathrm{Bern}(o)\big)")
col_t, col_o = st.columns(2)
target = col_t.slider(tr("theory.bce.t"), 0.0, 1.0, 1.0, step=0.05, key="th_bce_t")
o = col_o.slider(tr("theory.bce.o"), 0.01, 0.99, 0.30, step=0.01, key="th_bce_o")
bv = T.bce_view(o, target)
cols = st.columns(3)
cols[0].metric(tr("theory.bce.bce"), T.fmt(bv["bce"]))
cols[1].metric(tr("theory.bce.h_t"), T.fmt(bv["h_t"]))
cols[2].metric(tr("theory.bce.kl"), T.fmt(bv["kl"]))
st.markdown(tr("theory.bce.labels"))
st.latex(r"L_D=\mathbb{E}_{x\sim p_r}\big[-\log D(x)\big]+\mathbb{E}_{x\sim p_g}"
         r"\big[-\log(1-D(x))\big]\;\xrightarrow{\;D=D^*\;}\;2\ln2-2\,\mathrm{JS}(p_r,p_g)")
st.markdown(tr("theory.bce.gan", d_loss=T.fmt(opt.d_loss), js=T.fmt(opt.js)))
show(T.g_loss_figure(o, lang, style=style))
st.markdown(tr("theory.bce.gloss"))
st.latex(r"H(p,q)=-\int p\log q\,dx=H(p)+\mathrm{KL}(p\,\|\,q)")
ce = T.cross_entropy_view(p, q)
cols = st.columns(3)
cols[0].metric(tr("theory.bce.h_pq"), T.fmt(ce["h_pq"]))
cols[1].metric(tr("theory.bce.h_p"), T.fmt(ce["h_p"]))
cols[2].metric(tr("theory.num.kl_pq"), T.fmt(ce["kl"]))

# ------------------------------------------------------------------ 5. misconceptions
st.header(tr("theory.myth.header"))
mis = T.misconceptions(p, q)
with st.container(border=True):
    for key in ("a", "b", "c", "d", "e"):
        numbers = {k: T.fmt(v) for k, v in mis[key].items()}
        st.markdown(f"**{tr(f'theory.myth.{key}.myth')}**")
        st.markdown(tr(f"theory.myth.{key}.truth", **numbers))
