// gandemo live chart (Streamlit Components v2, no iframe, no build step): one Plotly chart per
// key that stays mounted; every message either carries the whole figure ("full") or only the
// data arrays ("arrays") and other values ("patch") that changed since message `base`; the
// figure is drawn with Plotly.react.
// See ui/live_chart.py for the protocol and the array encoding.

const charts = new Map(); // chart key -> {rev, seq, data, layout, config, gd, frame}
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

/** Put the decoded arrays ("<trace index>.<dotted path>") into the figure's traces. */
function applyArrays(data, arrays) {
  for (const [path, enc] of Object.entries(arrays || {})) {
    const parts = path.split(".");
    let node = data[Number(parts[0])];
    for (const part of parts.slice(1, -1)) node = node[part] ??= {};
    node[parts[parts.length - 1]] = decode(enc);
  }
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
        if (window.Plotly && gd._fullLayout) window.Plotly.Plots.resize(gd);
      }).observe(parentElement);
    }
  }
  if (chart.layout.height) gd.style.minHeight = `${chart.layout.height}px`; // no jump while loading
  return gd;
}

export default function (component) {
  const { data: msg, parentElement, setStateValue } = component;
  if (!msg || !msg.key) return;
  let chart = charts.get(msg.key);
  if (msg.full) {
    chart = { ...(chart || {}), rev: msg.rev, seq: msg.seq, config: msg.config,
              data: msg.full.data, layout: msg.full.layout };
    applyArrays(chart.data, msg.arrays);
    charts.set(msg.key, chart);
  } else if (chart && chart.rev === msg.rev && chart.seq === msg.base) {
    applyPatch(chart, msg.patch);
    applyArrays(chart.data, msg.arrays);
    chart.seq = msg.seq;
  } else if (!(chart && chart.rev === msg.rev && chart.seq === msg.seq)) {
    // A delta on top of a figure this page does not hold: ask the server for the whole figure.
    setStateValue("need", `${msg.rev}:${msg.seq}:${Date.now()}`);
    return;
  } else if (chart.gd && chart.gd.parentNode === parentElement) {
    return; // "same" (or a message already applied) and the chart is on the page as drawn
  }
  chart.layout.datarevision = chart.seq;
  chart.gd = chartDiv(parentElement, chart);
  draw(chart);
}
