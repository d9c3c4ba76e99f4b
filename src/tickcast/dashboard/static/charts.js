// Charts: uPlot (vendored, MIT) for time series; small canvas drawings for candles and depth.
import uPlot from "./vendor/uPlot.esm.js";
import { h } from "./dom.js";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const PALETTE = ["--accent", "--buy", "--sell", "--warn"];

/** A small live time-series chart: `series` is [{label, unit?}]; update(columns) with
 * columns = [t[], y1[], y2[], ...] (t in epoch seconds). */
export function timeChart(title, series, { height = 160, format = (v) => v } = {}) {
  const box = h("figure", { class: "card chart", "aria-label": title }, h("figcaption", {}, title));
  let plot = null;
  let last = [[], ...series.map(() => [])];
  const build = () => {
    plot?.destroy();
    const width = Math.max(240, box.clientWidth - 20 || 300);
    const axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 }, ticks: { stroke: css("--line") } };
    plot = new uPlot({
      width, height, legend: { show: true }, cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 60, values: (u, vals) => vals.map(format) }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: css(PALETTE[i % 4]), width: 1.5,
        value: (u, v) => (v === null ? "–" : format(v)) }))],
    }, last, box);
  };
  const observer = new ResizeObserver(() => { if (box.isConnected) build(); });
  const theme = () => build();
  window.addEventListener("themechange", theme);
  queueMicrotask(() => { build(); observer.observe(box); });
  return {
    el: box,
    update(columns) { last = columns; plot?.setData(columns); box.dataset.points = String(columns[0].length); },
    destroy() { observer.disconnect(); window.removeEventListener("themechange", theme); plot?.destroy(); },
  };
}

function sized(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 300;
  if (canvas.width !== width * ratio) { canvas.width = width * ratio; canvas.height = height * ratio; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, width, height };
}

/** Candles [{t, o, h, l, c}] (numbers), oldest first; the newest is still forming. */
export function drawCandles(canvas, candles) {
  const { ctx, width, height } = sized(canvas);
  const pad = { l: 8, r: 70, t: 8, b: 18 };
  if (!candles.length) {
    ctx.fillStyle = css("--muted");
    ctx.fillText("Waiting for trades…", pad.l + 8, height / 2);
    return;
  }
  const low = Math.min(...candles.map((c) => c.l));
  const high = Math.max(...candles.map((c) => c.h));
  const margin = (high - low) * 0.08 || Math.abs(high) * 1e-4 || 1;
  const lo = low - margin;
  const hi = high + margin;
  const span = hi - lo;
  const y = (v) => pad.t + (hi - v) / span * (height - pad.t - pad.b);
  const step = (width - pad.l - pad.r) / Math.max(candles.length, 30);
  ctx.strokeStyle = css("--line");
  ctx.fillStyle = css("--muted");
  for (let i = 0; i <= 4; i++) {
    const v = lo + span * i / 4;
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(width - pad.r, y(v)); ctx.stroke();
    ctx.fillText(v.toFixed(2), width - pad.r + 4, y(v) + 4);
  }
  candles.forEach((c, i) => {
    const x = pad.l + step * (i + 0.5);
    ctx.strokeStyle = ctx.fillStyle = css(c.c >= c.o ? "--buy" : "--sell");
    ctx.beginPath(); ctx.moveTo(x, y(c.h)); ctx.lineTo(x, y(c.l)); ctx.stroke();
    const top = y(Math.max(c.o, c.c));
    ctx.fillRect(x - step * 0.35, top, step * 0.7, Math.max(1, y(Math.min(c.o, c.c)) - top));
  });
  const lastTime = new Date(candles[candles.length - 1].t * 1000).toISOString().slice(11, 19);
  ctx.fillStyle = css("--muted");
  ctx.fillText(`${lastTime} UTC`, pad.l, height - 4);
}

/** Cumulative depth: bids and asks as [price, size] number pairs, best first. */
export function drawDepth(canvas, bids, asks) {
  const { ctx, width, height } = sized(canvas);
  if (!bids.length && !asks.length) {
    ctx.fillStyle = css("--muted");
    ctx.fillText("No book yet", 16, height / 2);
    return;
  }
  const cum = (levels) => { let t = 0; return levels.map(([p, s]) => [p, (t += s)]); };
  const b = cum(bids), a = cum(asks);
  const prices = [...b, ...a].map(([p]) => p);
  const lo = Math.min(...prices), hi = Math.max(...prices);
  const maxQ = Math.max(b.at(-1)?.[1] ?? 0, a.at(-1)?.[1] ?? 0) || 1;
  const pad = 16;
  const x = (p) => pad + (p - lo) / (hi - lo || 1) * (width - 2 * pad);
  const y = (q) => height - pad - q / maxQ * (height - 2 * pad);
  for (const [side, color] of [[b, "--buy"], [a, "--sell"]]) {
    if (!side.length) continue;
    ctx.beginPath();
    ctx.moveTo(x(side[0][0]), y(0));
    for (const [p, q] of side) ctx.lineTo(x(p), y(q));
    ctx.lineTo(x(side.at(-1)[0]), y(0));
    ctx.closePath();
    ctx.globalAlpha = 0.35; ctx.fillStyle = css(color); ctx.fill();
    ctx.globalAlpha = 1; ctx.strokeStyle = css(color); ctx.stroke();
  }
  ctx.fillStyle = css("--muted");
  ctx.fillText(lo.toFixed(2), pad, height - 2);
  ctx.fillText(hi.toFixed(2), width - pad - 60, height - 2);
}
