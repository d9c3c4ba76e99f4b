// Keys, users and plans: create (shown once), revoke, change plan; usage charts; CSV export.
import { h, fill, table, empty } from "./dom.js";
import { timeChart } from "./charts.js";
import * as fmt from "./format.js";

export const title = "Keys & usage";

/** Per-second rates from cumulative totals. */
function rates(t, totals) {
  const out = [null];
  for (let i = 1; i < t.length; i++) out.push(Math.max(0, totals[i] - totals[i - 1]) / ((t[i] - t[i - 1]) || 1));
  return out;
}

export function mount(root, { api, poll, onLeave, session, status }) {
  const created = h("div", { "aria-live": "polite" });
  const form = session.admin ? createForm() : null;
  const keysBox = h("div", { "data-testid": "keys" });
  const usersBox = h("div", { "data-testid": "users" });
  const pick = h("select", { "aria-label": "Key whose usage is charted", onchange: () => drawUsage() });
  const charts = [
    timeChart("Messages delivered", [{ label: "messages/s" }], { format: fmt.num }),
    timeChart("Bytes delivered", [{ label: "bytes/s" }], { format: fmt.bytes }),
    timeChart("Connection time", [{ label: "connection-s/s" }], { format: fmt.num }),
    timeChart("Prediction requests", [{ label: "requests/s" }], { format: fmt.num }),
  ];
  onLeave(() => charts.forEach((c) => c.destroy()));
  const usageNote = h("p", { class: "empty", "data-testid": "usage-note" });
  let data = null;
  root.append(...[
    h("h1", {}, "Keys, users and plans"),
    form, created,
    h("h2", {}, session.admin ? "Keys" : "Your keys"), keysBox,
    session.admin ? [h("h2", {}, "Users and plans"), usersBox] : null,
    h("h2", {}, "Usage over time"),
    h("div", { class: "toolbar" }, pick,
      h("a", { href: "/dashboard/api/usage.csv", download: "usage.csv" }, "Export usage as CSV"),
      h("span", { class: "hint" }, "Totals are flushed by the node every few seconds.")),
    usageNote,
    h("div", { class: "charts" }, charts.map((c) => c.el)),
  ].filter(Boolean).flat());

  function createForm() {
    const user = h("input", { id: "new-user", required: true, placeholder: "user name", "aria-label": "User" });
    const plan = h("select", { id: "new-plan", "aria-label": "Plan for a new user" });
    return h("form", { class: "toolbar", "data-testid": "create-key", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const made = await api("keys", { method: "POST", body: { user: user.value.trim(), plan: plan.value } });
        fill(created, h("p", {}, `New key for ${made.user} (${made.key_id}). Copy it now: it is not shown again.`),
          h("p", { class: "secret", "data-testid": "new-key" }, made.key));
        user.value = "";
        await load();
      } catch (error) { fill(created, h("p", { class: "error", role: "alert" }, error.message)); }
    } }, h("strong", {}, "Create a key"), user, plan, h("button", { type: "submit" }, "Create key"));
  }

  async function act(path, options, done) {
    try { await api(path, options); status(done); await load(); } catch (error) { status(error.message); }
  }

  function drawUsage() {
    const series = data?.usage[pick.value];
    const t = series?.t ?? [];
    const cols = ["messages", "bytes", "connection_seconds", "predictions"];
    charts.forEach((chart, i) => chart.update([t, series ? rates(t, series[cols[i]]) : []]));
    fill(usageNote, series ? (t.length < 2 ? "Collecting usage: the server samples every key's totals every 2 s." : "")
      : "No usage recorded yet: a key's usage appears once its connections were metered.");
    usageNote.dataset.samples = String(t.length);
    usageNote.dataset.first = t.length ? String(t[0]) : "";
    const busy = series ? rates(t, series.messages).findIndex((v) => v > 0) : -1;
    usageNote.dataset.firstBusy = busy >= 0 ? String(t[busy]) : "";
  }

  function render() {
    const plans = data.plans;
    if (form) {
      const select = form.querySelector("#new-plan");
      if (select.options.length !== plans.length) fill(select, plans.map((p) => h("option", { value: p, selected: p === "pro" }, p)));
    }
    fill(keysBox, data.keys.length ? table([
      { key: "key_id", label: "Key id" }, { key: "user", label: "User" }, { key: "prefix", label: "Prefix" },
      { key: "plan", label: "Key plan", render: (k) => k.plan ?? "(user's)" },
      { key: "created_ns", label: "Created", render: (k) => fmt.timeOfNs(k.created_ns) },
      { key: "revoked", label: "State", render: (k) => h("span", { class: k.revoked ? "error" : "ok" }, k.revoked ? "revoked" : "active") },
      { key: null, label: "", render: (k) => (session.admin && !k.revoked ? h("button", { type: "button", class: "danger",
        "aria-label": `Revoke key ${k.key_id}`, onclick: () => act(`keys/${k.key_id}`, { method: "DELETE" }, `Revoked ${k.key_id}.`) }, "Revoke") : null) },
    ], data.keys, { rowAttrs: (k) => ({ "data-key": k.key_id }) }) : empty("No key."));
    if (session.admin) {
      fill(usersBox, data.users.length ? table([
        { key: "name", label: "User" },
        { key: "plan", label: "Plan", render: (u) => {
          const select = h("select", { "aria-label": `Plan of ${u.name}` }, plans.map((p) => h("option", { value: p, selected: p === u.plan }, p)));
          return h("span", {}, select, " ", h("button", { type: "button", onclick: () => act(`users/${encodeURIComponent(u.name)}/plan`,
            { method: "PUT", body: { plan: select.value } }, `Plan of ${u.name} is now ${select.value}.`) }, "Change plan"));
        } },
        { key: "created_ns", label: "Created", render: (u) => fmt.timeOfNs(u.created_ns) },
      ], data.users, { rowAttrs: (u) => ({ "data-user": u.name }) }) : empty("No user."));
    }
    const ids = Object.keys(data.usage);
    if ([...pick.options].map((o) => o.value).join() !== ids.join()) {
      const chosen = pick.value || session.key_id;
      fill(pick, ids.map((id) => h("option", { value: id, selected: id === chosen }, id)));
    }
    drawUsage();
  }

  let editing = false;
  usersBox.addEventListener("focusin", () => { editing = true; });
  usersBox.addEventListener("focusout", () => { editing = false; });
  async function load() { data = await api("keys"); render(); }
  poll(3000, async () => { if (!editing) await load(); });
}
