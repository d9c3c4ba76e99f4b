// Overview: node, sources, connections per dialect, and live rates as small charts.
import { h, fill, kv, table, empty } from "./dom.js";
import { timeChart } from "./charts.js";
import * as fmt from "./format.js";

export const title = "Overview";

export function mount(root, { api, poll, onLeave, session }) {
  const node = h("div", { class: "card", "data-testid": "node" });
  const sources = h("div", { class: "card" });
  const dialects = h("div", { class: "card", "data-testid": "dialects" });
  const events = timeChart("Events in", [{ label: "events/s" }], { format: fmt.num });
  const out = timeChart("Deliveries out", [{ label: "messages/s" }], { format: fmt.num });
  const volume = timeChart("Bytes out", [{ label: "bytes/s" }], { format: (v) => fmt.bytes(v) });
  const conns = timeChart("Connections", [{ label: "open" }, { label: "slow consumers" }], { format: fmt.num });
  const drops = timeChart("Gaps, resyncs and refusals", [{ label: "dropped frames/s" }, { label: "refusals/s" }],
    { format: fmt.num });
  const counters = h("p", { class: "hint", "data-testid": "counters" });
  const charts = [events, out, volume, conns, drops];
  onLeave(() => charts.forEach((c) => c.destroy()));
  root.append(...[
    h("h1", {}, "Overview"),
    h("div", { class: "grid" }, node, sources, dialects),
    counters,
    h("div", { class: "charts" }, charts.map((c) => c.el)),
    session.admin ? null : h("p", { class: "hint" }, "Connections per dialect are shown to admin keys only."),
  ].filter(Boolean).flat());
  poll(1000, async () => {
    const data = await api("overview");
    const n = data.node;
    fill(node, h("h2", {}, "Node"), kv([
      ["Role", n.role], ["Uptime", fmt.duration(n.uptime_s)], ["Bus", n.bus], ["Store", n.store],
      ["Ready", n.ready ? "yes" : "no"], ["Markets", fmt.num(n.markets)],
    ]));
    fill(sources, h("h2", {}, "Sources"), data.sources.length ? table([
      { key: "name", label: "Source" },
      { key: "markets", label: "Markets", num: true },
      { key: "health", label: "Health", render: (r) => h("span", { class: r.health === "running" ? "ok" : "error" }, r.health) },
    ], data.sources) : empty("No source configured: events arrive through the publish API only."));
    const rows = Object.entries(data.dialects).map(([dialect, count]) => ({ dialect, count }));
    fill(dialects, h("h2", {}, "Connections per dialect"),
      rows.length ? table([{ key: "dialect", label: "Dialect" }, { key: "count", label: "Open", num: true }], rows)
        : empty(session.admin ? "No client connected." : "Admin only."));
    const s = data.series;
    events.update([s.t, s.events]);
    out.update([s.t, s.messages]);
    volume.update([s.t, s.bytes]);
    conns.update([s.t, s.connections, s.slow]);
    drops.update([s.t, s.drops, s.refusals]);
    const last = (col) => (col.length ? col[col.length - 1] : 0);
    fill(counters, `Now: ${fmt.rate(last(s.events), "events/s")} in · ${fmt.rate(last(s.messages), "msg/s")} out · `
      + `${fmt.bytes(last(s.bytes))}/s · ${fmt.num(last(s.connections))} connections`);
    counters.dataset.events = String(last(s.events));
    counters.dataset.samples = String(s.t.length);
  });
}
