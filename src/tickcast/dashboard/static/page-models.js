// Models: prediction models with their metrics, live attachments and /ws connections.
import { h, fill, table, empty } from "./dom.js";
import * as fmt from "./format.js";

export const title = "Models";

const metrics = (m) => Object.entries(m.metrics ?? {}).map(([k, v]) =>
  `${k} ${typeof v === "number" ? v.toFixed(4) : v}`).join(", ") || "–";

export function mount(root, { api, poll }) {
  const body = h("div", { "data-testid": "models" });
  root.append(h("h1", {}, "Models"), body);
  poll(5000, async () => {
    const data = await api("models");
    if (!data.enabled) { fill(body, empty("Predictions are off on this node (the 'predict' extra or predictions = \"off\").")); return; }
    fill(body,
      h("h2", {}, "Models"),
      data.models.length ? table([
        { key: "user", label: "User" }, { key: "strategy", label: "Strategy" }, { key: "name", label: "Name" },
        { key: "type", label: "Type" }, { key: "version", label: "Version", num: true },
        { key: "rows", label: "Rows", num: true, render: (m) => fmt.num(m.rows) },
        { key: "metrics", label: "Held-out metrics", render: metrics },
      ], data.models) : empty("No model trained yet (POST /api/v1/models)."),
      h("h2", {}, "Live attachments"),
      data.live.length ? table(Object.keys(data.live[0]).map((key) => ({ key, label: key,
        render: (r) => (typeof r[key] === "object" ? JSON.stringify(r[key]) : r[key]) })), data.live)
        : empty("No model is attached to a market."),
      h("h2", {}, "Prediction connections (/ws)"),
      data.connections.length ? table(Object.keys(data.connections[0]).map((key) => ({ key, label: key,
        render: (r) => (typeof r[key] === "object" ? JSON.stringify(r[key]) : r[key]) })), data.connections)
        : empty("No /ws connection."),
    );
  });
}
