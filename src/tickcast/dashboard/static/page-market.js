// Market view: live candles (from trades), depth chart, book ladder with its checksum status and a
// trades tape, fed from the browser by the native protocol (tickcast-client.js). The WebSocket is
// authenticated by the session's HttpOnly `id` cookie (path /api/v1/ws): page code never sees the key.
import { h, fill, empty } from "./dom.js";
import { drawCandles, drawDepth } from "./charts.js";
import { TickcastClient } from "./tickcast-client.js";

export const title = "Market";
const CANDLE_S = 5;
const MAX_CANDLES = 90;
const TAPE = 40;
const HISTORY = 1000; // trades replayed on open (within the server's history) for the candles
const BOOK_DEPTH = 50; // the ladder shows 10 levels, the depth chart 50

export function mount(root, { onLeave, status }) {
  const select = h("select", { id: "market-pick", "aria-label": "Market" });
  const state = h("span", { class: "badge", "data-testid": "ws-state" }, "connecting");
  const candleCanvas = h("canvas", { height: 320, style: "height:320px", role: "img", "aria-label": "Candles, 5 s" });
  const depthCanvas = h("canvas", { height: 220, style: "height:220px", role: "img", "aria-label": "Depth chart" });
  const checksum = h("span", { class: "badge", "data-testid": "checksum" }, "no book yet");
  const ladder = h("div", { class: "ladder", "data-testid": "ladder" }, empty("Waiting for the book snapshot…"));
  const tape = h("div", { class: "tape", "data-testid": "tape" }, empty("No trade yet."));
  const info = h("p", { class: "hint", "data-testid": "market-info" });
  root.append(
    h("h1", {}, "Market"),
    h("div", { class: "toolbar" }, h("label", { for: "market-pick" }, "Market"), select, state, info),
    h("div", { class: "market" },
      h("div", {}, h("figure", { class: "card" }, h("figcaption", {}, `Candles (${CANDLE_S} s, built from trades)`), candleCanvas),
        h("figure", { class: "card" }, h("figcaption", {}, "Depth (cumulative size)"), depthCanvas)),
      h("div", {}, h("section", { class: "card", "aria-label": "Order book" }, h("h2", {}, "Book ", checksum), ladder),
        h("section", { class: "card", "aria-label": "Trades" }, h("h2", {}, "Trades"), tape))));

  let client = null;
  let candles = [];
  let trades = [];
  let counts = { trades: 0, verified: 0, mismatches: 0 };
  let dirty = false;
  let frame = null;

  function schedule() {
    dirty = true;
    if (frame === null) frame = setTimeout(() => { frame = null; if (dirty) draw(); }, 250);
  }

  function onTrade(d) {
    const price = Number(d.price);
    const ms = Date.parse(String(d.time).slice(0, 23) + "Z");
    const bucket = Math.floor((Number.isFinite(ms) ? ms : Date.now()) / 1000 / CANDLE_S) * CANDLE_S;
    const last = candles[candles.length - 1];
    if (last && last.t === bucket) {
      last.h = Math.max(last.h, price); last.l = Math.min(last.l, price); last.c = price;
    } else if (!last || bucket > last.t) {
      candles.push({ t: bucket, o: price, h: price, l: price, c: price });
      if (candles.length > MAX_CANDLES) candles.shift();
    }
    trades.unshift(d);
    trades.length = Math.min(trades.length, TAPE);
    counts.trades += 1;
  }

  function onMessage(m, market) {
    if (m.type === "Update" && m.stream.startsWith("trades:")) onTrade(m.data);
    else if ((m.type === "Snapshot" || m.type === "Update") && m.stream.startsWith("book:")) {
      if (m.checksum !== undefined) counts.verified += 1;
    } else if (m.type === "ChecksumMismatch") counts.mismatches += 1;
    else if (m.type === "Error") status(`Market stream error: ${m.message}`);
    schedule();
  }

  function draw() {
    dirty = false;
    const market = select.value;
    const book = client?.book(`book:${market}`);
    drawCandles(candleCanvas, candles);
    candleCanvas.dataset.candles = String(candles.length);
    if (book && book.seq !== null) {
      const asks = book.asks(10), bids = book.bids(10);
      drawDepth(depthCanvas, book.bids(50).map(([p, s]) => [Number(p), Number(s)]), book.asks(50).map(([p, s]) => [Number(p), Number(s)]));
      const row = (side) => ([p, s]) => h("tr", {}, h("td", { class: `num ${side}` }, p), h("td", { class: "num" }, s));
      fill(ladder, h("table", {}, h("thead", {}, h("tr", {}, h("th", { class: "num", scope: "col" }, "Price"), h("th", { class: "num", scope: "col" }, "Size"))),
        h("tbody", {}, [...asks].reverse().map(row("sell")), h("tr", {}, h("td", { colspan: 2, class: "hint" }, spread(bids, asks))), bids.map(row("buy")))));
      fill(checksum, book.valid ? `checksum ok · seq ${book.seq} · ${counts.verified} verified` : "checksum mismatch: resyncing");
      checksum.className = `badge ${book.valid ? "ok" : "error"}`;
      checksum.dataset.seq = String(book.seq);
      checksum.dataset.valid = String(book.valid);
    }
    if (trades.length) {
      fill(tape, h("table", {}, h("tbody", {}, trades.map((t) => h("tr", {},
        h("td", {}, String(t.time).slice(11, 23)), h("td", { class: `num ${t.side}` }, t.price),
        h("td", { class: "num" }, t.size), h("td", { class: t.side }, t.side))))));
    }
    tape.dataset.trades = String(counts.trades);
    fill(info, `${counts.trades} trades · ${counts.mismatches} checksum mismatches · ${client?.reconnects ?? 0} reconnects`);
  }

  function spread(bids, asks) {
    if (!bids.length || !asks.length) return "–";
    return `spread ${(Number(asks[0][0]) - Number(bids[0][0])).toFixed(Math.max(0, (asks[0][0].split(".")[1] ?? "").length))}`;
  }

  /** Where to start the trades stream so that the candles begin with recent history. */
  async function tradesFrom(market) {
    try {
      const streams = await (await fetch("/api/v1/streams")).json();
      const head = streams.find((s) => s.stream === `trades:${market}`);
      return head ? { [head.stream]: { epoch: head.epoch, seq: Math.max(0, head.seq - HISTORY) } } : {};
    } catch {
      return {};
    }
  }

  async function open(market) {
    client?.close();
    client = null;
    const from = await tradesFrom(market);
    if (left || select.value !== market) return;  // page left or another market picked meanwhile
    candles = []; trades = []; counts = { trades: 0, verified: 0, mismatches: 0 };
    fill(ladder, empty("Waiting for the book snapshot…"));
    fill(tape, empty("No trade yet."));
    client = new TickcastClient({
      streams: [`trades:${market}`, `book:${market}`],
      depth: BOOK_DEPTH,
      from,
      onMessage: (m) => onMessage(m, market),
      onStatus: (s) => { fill(state, s.status === "closed" ? `closed ${s.code ?? ""} ${s.reason ?? ""}`.trim() : s.status);
        state.className = `badge ${s.status === "open" ? "ok" : "warn"}`; },
    });
    client.start();
    history.replaceState(null, "", `#/market?m=${encodeURIComponent(market)}`);
    schedule();
  }

  let left = false;
  onLeave(() => { left = true; client?.close(); clearTimeout(frame); });
  select.addEventListener("change", () => open(select.value));
  window.addEventListener("resize", schedule);
  onLeave(() => window.removeEventListener("resize", schedule));
  fetch("/api/v1/markets").then((r) => r.json()).then((markets) => {
    if (!markets.length) { fill(ladder, empty("This node serves no market.")); return; }
    const wanted = new URLSearchParams(location.hash.split("?")[1] ?? "").get("m");
    const chosen = markets.find((m) => m.id === wanted)?.id ?? markets.find((m) => m.kind === "spot")?.id ?? markets[0].id;
    fill(select, markets.map((m) => h("option", { value: m.id, selected: m.id === chosen }, m.id)));
    open(chosen);
  }).catch((error) => status(`Markets unavailable: ${error.message}`));
}
