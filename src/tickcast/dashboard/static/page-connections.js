// Connections: every live connection (own user's for non-admin keys); filter, sort, close.
import { h, fill, table, empty, sortRows } from "./dom.js";
import * as fmt from "./format.js";

export const title = "Connections";

export function mount(root, { api, poll, status }) {
  let sort = { key: "opened_at", dir: -1 };
  let rows = [];
  const filter = h("input", { type: "search", placeholder: "Filter by user, key, dialect, stream…",
    "aria-label": "Filter connections", size: 40, oninput: () => render() });
  const list = h("div", { "data-testid": "connections" });
  root.append(h("h1", {}, "Connections"), h("div", { class: "toolbar" }, filter), list);

  async function close(id) {
    try {
      await api(`connections/${encodeURIComponent(id)}`, { method: "DELETE" });
      rows = rows.filter((r) => r.id !== id);
      status(`Closed connection ${id}.`);
      render();
    } catch (error) { status(`Could not close: ${error.message}`); }
  }

  function render() {
    const needle = filter.value.trim().toLowerCase();
    const shown = sortRows(rows.filter((r) => !needle || [r.user, r.key_id, r.dialect, r.remote, ...r.subscriptions]
      .some((v) => String(v).toLowerCase().includes(needle))), sort);
    if (!shown.length) { fill(list, empty(rows.length ? "No connection matches the filter." : "No live connection.")); return; }
    fill(list, table([
      { key: "user", label: "User" },
      { key: "key_id", label: "Key" },
      { key: "dialect", label: "Dialect" },
      { key: "remote", label: "Remote" },
      { key: "opened_at", label: "Open for", render: (r) => fmt.since(r.opened_at) },
      { key: "streams", label: "Streams", render: (r) => h("span", { title: r.subscriptions.join("\n") },
        r.subscriptions.length ? `${r.subscriptions.slice(0, 2).join(", ")}${r.subscriptions.length > 2 ? ` +${r.subscriptions.length - 2}` : ""}` : "–") },
      { key: "messages", label: "Messages", num: true, render: (r) => fmt.num(r.messages) },
      { key: "bytes", label: "Sent", num: true, render: (r) => fmt.bytes(r.bytes) },
      { key: "pending_bytes", label: "Outbox", num: true, render: (r) => h("span",
        { class: r.pending_bytes > 262144 ? "warn" : null }, fmt.bytes(r.pending_bytes)) },
      { key: "lag_s", label: "Lag", num: true, render: (r) => h("span", { class: r.lag_s >= 1 ? "warn" : null,
        title: "How long the oldest frame still queued for this client has waited (at least; 0 when nothing is queued)" },
        r.lag_s > 0 ? `≥ ${fmt.duration(r.lag_s)}` : "0 s") },
      { key: null, label: "", render: (r) => h("button", { type: "button", class: "danger",
        "aria-label": `Close connection ${r.id}`, onclick: () => close(r.id) }, "Close") },
    ], shown, { sort, onSort: (key) => { sort = { key, dir: sort.key === key ? -sort.dir : 1 }; render(); },
      rowAttrs: (r) => ({ "data-id": r.id, "data-lag": String(r.lag_s) }) }));
  }

  poll(1000, async () => {
    rows = (await api("connections")).map((r) => ({ ...r, streams: r.subscriptions.length }));
    render();
  });
}
