// Streams: per stream its epoch, last seq, rate, subscribers, history and last event age.
import { h, fill, table, empty, sortRows } from "./dom.js";
import * as fmt from "./format.js";

export const title = "Streams";

export function mount(root, { api, poll }) {
  let sort = { key: "stream", dir: 1 };
  let rows = [];
  const filter = h("input", { type: "search", placeholder: "Filter streams", "aria-label": "Filter streams",
    oninput: () => render() });
  const list = h("div", { "data-testid": "streams" });
  root.append(h("h1", {}, "Streams"), h("div", { class: "toolbar" }, filter,
    h("span", { class: "hint" }, "Rate and last-event age are measured between page refreshes (2 s).")), list);

  function render() {
    const needle = filter.value.trim().toLowerCase();
    const shown = sortRows(rows.filter((r) => r.stream.includes(needle)), sort);
    if (!shown.length) { fill(list, empty(rows.length ? "No stream matches." : "No stream has carried an event yet.")); return; }
    fill(list, table([
      { key: "stream", label: "Stream" },
      { key: "epoch", label: "Epoch" },
      { key: "seq", label: "Last seq", num: true, render: (r) => fmt.num(r.seq) },
      { key: "rate", label: "Rate", num: true, render: (r) => fmt.rate(r.rate, "events/s") },
      { key: "subscribers", label: "Subscribers", num: true },
      { key: "history", label: "History", num: true, render: (r) => `${fmt.num(r.history)} events` },
      { key: "last_event_age_s", label: "Last event", num: true, render: (r) => `${fmt.duration(r.last_event_age_s)} ago` },
    ], shown, { sort, onSort: (key) => { sort = { key, dir: sort.key === key ? -sort.dir : 1 }; render(); },
      rowAttrs: (r) => ({ "data-stream": r.stream }) }));
  }

  poll(2000, async () => { rows = await api("streams"); render(); });
}
