// Overview: nodes, sources and connectors with their health, connections per dialect, and live
// rates, gaps and resyncs as small charts (the server samples them once a second).
import { h, fill, kv, table, empty } from "./dom.js";
import { timeChart } from "./charts.js";
import * as fmt from "./format.js";

export const title = "Overview";

const HEALTH = { running: "ok", live: "ok", degraded: "warn", down: "error", stopped: "error" };
const badge = (state) => h("span", { class: HEALTH[state] || "warn", "data-state": state }, state);
const perMin = (col) => col.map((v) => (v === null ? null : v * 60));

function nodesCard(el, nodes, admin) {
  fill(el, h("h2", {}, "Nodes"), nodes.length ? table([
    { key: "id", label: "Node", render: (r) => (r.self ? `${r.id} (this one)` : r.id) },
    { key: "role", label: "Role", render: (r) => r.role ?? "–" },
    { key: "uptime_s", label: "Uptime", render: (r) => (r.uptime_s === null ? "–" : fmt.duration(r.uptime_s)) },
    { key: "connections", label: "Clients", num: true, render: (r) => fmt.num(r.connections) },
  ], nodes, { rowAttrs: (r) => ({ "data-node": r.id, "data-role": r.role ?? "", "data-connections": String(r.connections) }) })
    : empty(admin ? "No node." : "Admin only."),
  nodes.length === 1 ? h("p", { class: "hint" }, "One node: nodes sharing a Redis bus are listed here.") : null);
}

function connectorsCard(el, reports) {
  const rows = Object.entries(reports).map(([name, r]) => ({ name, ...r }));
  fill(el, h("h2", {}, "Connectors"), rows.length ? table([
    { key: "name", label: "Connector" },
    { key: "state", label: "State", render: (r) => badge(r.state) },
    { key: "live", label: "Live", num: true, render: (r) => `${r.live} / ${r.connections}` },
    { key: "messages", label: "Messages", num: true, render: (r) => fmt.num(r.messages) },
    { key: "reconnects", label: "Reconnects", num: true, render: (r) => fmt.num(r.reconnects) },
    { key: "resyncs", label: "Resyncs", num: true, render: (r) => fmt.num(r.resyncs) },
    { key: "trade_gaps", label: "Trade gaps", num: true, render: (r) => fmt.num(r.trade_gaps) },
    { key: "last_message_ns", label: "Last message", render: (r) =>
      (r.last_message_ns ? `${fmt.duration(Date.now() / 1000 - r.last_message_ns / 1e9)} ago` : "never") },
    { key: "last_error", label: "Last error", render: (r) => r.last_error ?? "–" },
  ], rows, { rowAttrs: (r) => ({ "data-connector": r.name, "data-resyncs": String(r.resyncs) }) })
    : empty("No live venue connector (sources such as binance:btc-usdt are listed here)."));
}

function windowCard(el, window) {
  const t = window.totals;
  const pairs = [["Venue resyncs", t.resyncs], ["Venue trade gaps", t.trade_gaps],
    ["Venue reconnects", t.reconnects], ["Client gaps (dropped frames)", t.drops],
    ["Gap notices (unencodable)", t.encode_gaps], ["Bus holes", t.bus_holes]].filter(([, v]) => v !== undefined);
  fill(el, h("h2", {}, `Gaps and resyncs, last ${fmt.duration(window.seconds)}`), kv(pairs.map(([k, v]) => [k, fmt.num(v)])));
  for (const [name, value] of Object.entries(t)) el.dataset[name.replace(/_(.)/g, (m, c) => c.toUpperCase())] = String(value);
}

export function mount(root, { api, poll, onLeave, session }) {
  const card = (id) => h("div", { class: "card", "data-testid": id });
  const [node, nodes, sources, connectors, dialects, gaps] =
    ["node", "nodes", "sources", "connectors", "dialects", "gaps"].map(card);
  nodes.classList.add("wide");
  const events = timeChart("Events in", [{ label: "events/s" }], { format: fmt.num });
  const out = timeChart("Deliveries out", [{ label: "messages/s" }], { format: fmt.num });
  const volume = timeChart("Bytes out", [{ label: "bytes/s" }], { format: (v) => fmt.bytes(v) });
  const conns = timeChart("Connections", [{ label: "open" }, { label: "slow consumers" }], { format: fmt.num });
  const clientGaps = timeChart("Client gaps", [{ label: "dropped frames/min" }, { label: "gap notices/min" }], { format: fmt.num });
  const venue = timeChart("Venue resyncs and gaps",
    [{ label: "resyncs/min" }, { label: "trade gaps/min" }, { label: "reconnects/min" }], { format: fmt.num });
  const refusals = timeChart("Refusals and bus holes", [{ label: "refusals/min" }, { label: "bus holes/min" }], { format: fmt.num });
  const counters = h("p", { class: "hint", "data-testid": "counters" });
  const charts = [events, out, volume, conns, clientGaps, venue, refusals];
  onLeave(() => charts.forEach((c) => c.destroy()));
  root.append(...[
    h("h1", {}, "Overview"),
    h("div", { class: "grid" }, node, session.admin ? nodes : null, sources, dialects, gaps),
    connectors, counters,
    h("div", { class: "charts" }, charts.map((c) => c.el)),
    session.admin ? null : h("p", { class: "hint" }, "Nodes, connections per dialect and client traffic are shown to admin keys only."),
  ].filter(Boolean).flat());
  poll(1000, async () => {
    const data = await api("overview");
    const n = data.node;
    fill(node, h("h2", {}, "This node"), kv([
      ["Id", n.id], ["Role", n.role], ["Uptime", fmt.duration(n.uptime_s)], ["Bus", n.bus], ["Store", n.store],
      ["Ready", n.ready ? "yes" : "no"], ["Markets", fmt.num(n.markets)],
    ]));
    nodesCard(nodes, data.nodes, session.admin);
    fill(sources, h("h2", {}, "Sources"), data.sources.length ? table([
      { key: "name", label: "Source" },
      { key: "markets", label: "Markets", num: true },
      { key: "health", label: "Health", render: (r) => badge(r.health) },
    ], data.sources) : empty("No source configured: events arrive through the publish API only."));
    connectorsCard(connectors, data.connectors);
    windowCard(gaps, data.window);
    const rows = Object.entries(data.dialects).map(([dialect, count]) => ({ dialect, count }));
    fill(dialects, h("h2", {}, "Connections per dialect"),
      rows.length ? table([{ key: "dialect", label: "Dialect" }, { key: "count", label: "Open", num: true }], rows)
        : empty(session.admin ? "No client connected." : "Admin only."));
    const s = data.series;
    events.update([s.t, s.events]);
    out.update([s.t, s.messages]);
    volume.update([s.t, s.bytes]);
    conns.update([s.t, s.connections, s.slow]);
    clientGaps.update([s.t, perMin(s.drops), perMin(s.encode_gaps)]);
    venue.update([s.t, perMin(s.resyncs), perMin(s.trade_gaps), perMin(s.reconnects)]);
    refusals.update([s.t, perMin(s.refusals), perMin(s.bus_holes)]);
    const last = (col) => (col.length ? col[col.length - 1] : 0);
    fill(counters, `Now: ${fmt.rate(last(s.events), "events/s")} in · ${fmt.rate(last(s.messages), "msg/s")} out · `
      + `${fmt.bytes(last(s.bytes))}/s · ${fmt.num(last(s.connections))} connections`);
    counters.dataset.events = String(last(s.events));
    counters.dataset.samples = String(s.t.length);
    venue.el.dataset.resyncs = String(s.resyncs.reduce((a, b) => a + (b || 0), 0));
  });
}
