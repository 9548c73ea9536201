"""Server status: what the process-wide training scheduler is doing (for the teacher).

Layout only: numbers come from ``Scheduler.stats()`` and ``Scheduler.runs_info()``; nothing here
touches a run, so watching this page never keeps a student's run alive. Run ids are not shown
(an id in the URL attaches to a run), only a row number. A comparison is one row ("comparison of
N variants (losses …)"); the place in line shows only for a waiting run, with the reason; the
rate is the run's effective steps/s measured by the scheduler over the last seconds, so it is
what a run really gets while it shares the workers.
"""

from __future__ import annotations

import streamlit as st

from gandemo.runner import get_scheduler
from ui.common import tr as _tr

REFRESH_S = 2


def _what(r: dict) -> str:
    """The loss of a run, or "comparison of N variants (losses a, b)" for a comparison."""
    if r.get("kind") == "comparison":
        return _tr("status.comparison", n=r["variants"], losses=", ".join(r["losses"]))
    return r["loss"]


@st.fragment(run_every=REFRESH_S)
def status_panel() -> None:
    sched = get_scheduler()
    stats = sched.stats()
    runs = sched.runs_info()
    lim = sched.limits

    st.caption(_tr("status.caption", max_running=stats["max_running"], workers=stats["workers"],
                   memory_mb=stats["memory_budget_mb"], seconds=REFRESH_S))
    top = st.columns(4)
    top[0].metric(_tr("status.running"), f"{stats['running']} / {stats['max_running']}")
    top[1].metric(_tr("status.queued"), stats["queued"])
    top[2].metric(_tr("status.paused"), stats["paused"])
    top[3].metric(_tr("status.runs"), stats["runs"])
    low = st.columns(4)
    low[0].metric(_tr("status.workers"), stats["workers"])
    low[1].metric(_tr("status.threads"), stats["threads"])
    low[2].metric(_tr("status.rss"), f"{stats['rss_mb']:.0f}")
    low[3].metric(_tr("status.memory"),
                  f"{stats['memory_predicted_mb']:.0f} / {stats['memory_budget_mb']}")
    st.caption(_tr("status.limits", max_steps=lim.max_steps, max_run_s=lim.max_run_s,
                   max_width=lim.max_width, max_batch=lim.max_batch,
                   heartbeat_s=int(lim.heartbeat_s), grace_s=int(lim.grace_s)))

    st.subheader(_tr("status.runs_title"))
    if not runs:
        st.info(_tr("status.none"))
    else:
        rows = [
            {
                _tr("status.col.run"): i,
                _tr("status.col.target"): r["target"],
                _tr("status.col.loss"): _what(r),
                _tr("status.col.state"): _tr(f"status.state.{r['state']}"),
                _tr("status.col.step"): f"{r['step']} / {r['steps']}",
                _tr("status.col.rate"): f"{r['rate']:.1f}" if r["state"] == "running" else "",
                _tr("status.col.line"): str(r["position"]) if r["position"] else "",
                _tr("status.col.age"): int(r["age_s"]),
                _tr("status.col.tab"): _tr("status.tab.closed" if r["detached"]
                                           else "status.tab.open"),
                _tr("status.col.note"): r["message"],
            }
            for i, r in enumerate(runs, start=1)
        ]
        st.dataframe(rows, hide_index=True, width="stretch")

    with st.expander(_tr("status.raw")):
        public = [{k: v for k, v in r.items() if k != "id"} for r in runs]
        st.json({"stats": stats, "runs": public}, expanded=True)


st.title(_tr("status.title"))
status_panel()
