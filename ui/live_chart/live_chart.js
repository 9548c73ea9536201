// gandemo live chart (Streamlit Components v2, no iframe, no build step): one Plotly chart per
// key that stays mounted; every message either carries the whole figure ("full", a keyframe) or
// only the data arrays ("arrays") and other values ("patch") that differ from keyframe `base`;
// the figure is drawn with Plotly.react.
// See ui/live_chart.py for the protocol and the array encoding.

const charts = new Map(); // chart key -> {rev, seq, keyframe, data, layout, config, gd, frame}
let plotlyLoad = null;

/** plotly.js from the `plotly` Python package, served by this app's server; loaded once. */
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyLoad) {
    plotlyLoad = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = new URL("../gandemo.plotlyjs/plotly.min.js", import.meta.url).href;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        plotlyLoad = null;
        reject(new Error("gandemo live chart: plotly.js could not be loaded"));
      };
      document.head.appendChild(script);
    });
  }
  return plotlyLoad;
}

function bytesOf(b64) {
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out.buffer;
}

/** {f4: base64 float32} or {u2: base64 uint16, lo, hi} (65535 = NaN), optional shape [rows, cols]. */
function decode(enc) {
  let flat;
  if (enc.f4 !== undefined) {
    flat = new Float32Array(bytesOf(enc.f4));
  } else {
    const q = new Uint16Array(bytesOf(enc.u2));
    const step = (enc.hi - enc.lo) / 65534;
    flat = new Float32Array(q.length);
    for (let i = 0; i < q.length; i++) flat[i] = q[i] === 65535 ? NaN : enc.lo + q[i] * step;
  }
  if (!enc.shape) return flat;
  const [rows, cols] = enc.shape;
  const out = new Array(rows);
  for (let r = 0; r < rows; r++) out[r] = flat.subarray(r * cols, (r + 1) * cols);
  return out;
}

/** Put the decoded arrays ("<trace index>.<dotted path>") into the figure's traces; a tail
 * marked `from` is appended to the first `from` values of the array held. False when a tail
 * does not fit what this page holds (then the whole figure is needed). */
function applyArrays(data, arrays) {
  for (const [path, enc] of Object.entries(arrays || {})) {
    const parts = path.split(".");
    let node = data[Number(parts[0])];
    for (const part of parts.slice(1, -1)) node = node[part] ??= {};
    const last = parts[parts.length - 1];
    let value = decode(enc);
    if (enc.from !== undefined) {
      const held = node[last];
      if (!held || held.length < enc.from) return false;
      const grown = new Float32Array(enc.from + value.length);
      grown.set(held.subarray ? held.subarray(0, enc.from) : held.slice(0, enc.from));
      grown.set(value, enc.from);
      value = grown;
    }
    node[last] = value;
  }
  return true;
}

/** Set the changed skeleton values ("layout.title.text", "data.0.zmax"; null = remove). */
function applyPatch(chart, patch) {
  for (const [path, value] of Object.entries(patch || {})) {
    const parts = path.split(".");
    let node = chart;
    for (const part of parts.slice(0, -1)) node = node[part] ??= {};
    const last = parts[parts.length - 1];
    if (value === null) delete node[last];
    else node[last] = value;
  }
}

function draw(chart) {
  if (chart.frame) return; // one Plotly.react per animation frame, with the newest data
  chart.frame = requestAnimationFrame(() => {
    chart.frame = null;
    loadPlotly()
      // A copy of the layout as sent: Plotly writes its computed state (autorange, the
      // constrained ranges) into the layout it is given, and a remounted chart must start
      // from the figure's own fixed ranges; the user's zoom is kept by uirevision.
      .then((Plotly) => Plotly.react(chart.gd, chart.data, structuredClone(chart.layout),
                                     chart.config))
      .catch((err) => console.error(err));
  });
}

function chartDiv(parentElement, chart) {
  let gd = parentElement.querySelector(":scope > .gandemo-live-chart");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "gandemo-live-chart";
    parentElement.appendChild(gd);
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        // only a displayed chart can be resized (Plotly rejects a hidden one)
        if (window.Plotly && gd._fullLayout && gd.isConnected && gd.getClientRects().length) {
          window.Plotly.Plots.resize(gd).catch(() => {});
        }
      }).observe(parentElement);
    }
  }
  if (chart.layout.height) gd.style.minHeight = `${chart.layout.height}px`; // no jump while loading
  return gd;
}

/** The figure of keyframe `full` with `msg` (a delta against it, or the keyframe itself)
 * applied: fresh objects, the keyframe stays as sent. Null when a tail does not fit. */
function rebuild(full, msg) {
  const data = structuredClone(full.full.data);
  const layout = structuredClone(full.full.layout);
  applyArrays(data, full.arrays);
  if (msg !== full) {
    if (!applyArrays(data, msg.arrays)) return null;
    applyPatch({ data, layout }, msg.patch);
  }
  return { data, layout };
}

export default function (component) {
  const { data: msg, parentElement, setStateValue } = component;
  if (!msg || !msg.key) return;
  let chart = charts.get(msg.key);
  const held = chart && chart.rev === msg.rev;
  let figure = null;
  if (msg.full && !(held && chart.seq === msg.seq)) {
    // The same object, updated: a draw already queued for this chart (chart.frame) must still
    // find it. (A copy kept the pending frame's id, which the queued draw then cleared on the
    // old object only: every later draw saw a frame pending and the chart froze.)
    if (!chart) charts.set(msg.key, (chart = {}));
    Object.assign(chart, { rev: msg.rev, seq: msg.seq, config: msg.config, keyframe: msg });
    figure = rebuild(msg, msg);
  } else if (held && chart.seq === msg.seq) {
    // a message already applied (the server repeats it while nothing changes): redraw only if
    // the chart left the page
    if (chart.gd && chart.gd.parentNode === parentElement) return;
  } else if (held && chart.keyframe.seq === msg.base) {
    figure = rebuild(chart.keyframe, msg); // any delta applies: earlier ones may never come
  }
  if (figure) {
    chart.data = figure.data;
    chart.layout = figure.layout;
    chart.seq = msg.seq;
  } else if (!(held && chart.seq === msg.seq)) {
    // A message on top of a figure this page does not hold: ask the server for the whole one.
    window.__gandemoLiveNeeds = (window.__gandemoLiveNeeds || []); // read by bench/live_rate.py
    window.__gandemoLiveNeeds.push([msg.key, chart ? chart.seq : null, msg.base ?? null, msg.seq]);
    setStateValue("need", `${msg.rev}:${msg.seq}:${Date.now()}`);
    return;
  }
  chart.layout.datarevision = chart.seq;
  chart.gd = chartDiv(parentElement, chart);
  draw(chart);
}
