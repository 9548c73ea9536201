"""Server status: what the process-wide training scheduler is doing (for the teacher).

Layout only: numbers come from ``Scheduler.stats()`` and ``Scheduler.runs_info()``; nothing here
touches a run, so watching this page never keeps a student's run alive. Run ids are not shown
(an id in the URL attaches to a run), only a row number. The per-run rate is measured between two
refreshes of this page, so it is what a run really gets while it shares the workers.
"""

from __future__ import annotations

import time

import streamlit as st

from gandemo.i18n import t
from gandemo.runner import get_scheduler

REFRESH_S = 2

lang = st.session_state.get("lang", "en")


def _tr(key: str, **fmt) -> str:
    return t(key, lang, **fmt)


def _effective_rates(runs: list[dict]) -> dict[str, float | None]:
    """Steps per second of each run since this page's previous refresh (None on first sight)."""
    now = time.monotonic()
    seen = st.session_state.setdefault("_status_seen", {})
    rates: dict[str, float | None] = {}
    for r in runs:
        prev = seen.get(r["id"])
        rates[r["id"]] = (
            round((r["step"] - prev[0]) / (now - prev[1]), 1)
            if prev and now > prev[1] and r["step"] >= prev[0] else None
        )
    st.session_state["_status_seen"] = {r["id"]: (r["step"], now) for r in runs}
    return rates


@st.fragment(run_every=REFRESH_S)
def status_panel() -> None:
    sched = get_scheduler()
    stats = sched.stats()
    runs = sched.runs_info()
    lim = sched.limits

    st.caption(_tr("status.caption", max_running=stats["max_running"], workers=stats["workers"],
                   seconds=REFRESH_S))
    top = st.columns(4)
    top[0].metric(_tr("status.running"), f"{stats['running']} / {stats['max_running']}")
    top[1].metric(_tr("status.queued"), stats["queued"])
    top[2].metric(_tr("status.paused"), stats["paused"])
    top[3].metric(_tr("status.runs"), stats["runs"])
    low = st.columns(4)
    low[0].metric(_tr("status.workers"), stats["workers"])
    low[1].metric(_tr("status.threads"), stats["threads"])
    low[2].metric(_tr("status.rss"), f"{stats['rss_mb']:.0f}")
    st.caption(_tr("status.limits", max_steps=lim.max_steps, max_run_s=lim.max_run_s,
                   max_width=lim.max_width, max_batch=lim.max_batch,
                   heartbeat_s=int(lim.heartbeat_s), grace_s=int(lim.grace_s)))

    st.subheader(_tr("status.runs_title"))
    rates = _effective_rates(runs)
    if not runs:
        st.info(_tr("status.none"))
    else:
        rows = [
            {
                _tr("status.col.run"): i,
                _tr("status.col.target"): r["target"],
                _tr("status.col.loss"): r["loss"],
                _tr("status.col.state"): _tr(f"status.state.{r['state']}"),
                _tr("status.col.step"): f"{r['step']} / {r['steps']}",
                _tr("status.col.rate"): rates[r["id"]],
                _tr("status.col.line"): r["position"],
                _tr("status.col.age"): int(r["age_s"]),
                _tr("status.col.tab"): _tr("status.tab.closed" if r["detached"]
                                           else "status.tab.open"),
            }
            for i, r in enumerate(runs, start=1)
        ]
        st.dataframe(rows, hide_index=True, width="stretch")

    with st.expander(_tr("status.raw")):
        public = [{k: v for k, v in r.items() if k != "id"} | {"rate": rates[r["id"]]}
                  for r in runs]
        st.json({"stats": stats, "runs": public}, expanded=True)


st.title(_tr("status.title"))
status_panel()
