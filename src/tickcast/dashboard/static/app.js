// The dashboard shell: session, navigation (hash routes), polling, theme.
import { h, fill } from "./dom.js";
import * as overview from "./page-overview.js";
import * as connections from "./page-connections.js";
import * as keys from "./page-keys.js";
import * as streams from "./page-streams.js";
import * as market from "./page-market.js";
import * as models from "./page-models.js";

const PAGES = { overview, connections, keys, streams, market, models };
const $ = (id) => document.getElementById(id);
let session = null;
let current = null;

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** JSON from /dashboard/api; state-changing methods carry the session's CSRF token. */
async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = session?.csrf ?? "";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/dashboard/api/${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) { signedOut("Your session ended: sign in again."); throw new ApiError(401, "signed out"); }
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).message; } catch { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  return response.status === 204 ? null : response.json();
}

/** Call `load` every `ms` until the page is left; errors show in the status line. */
function poll(ms, load) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    try { await load(); status(""); } catch (error) { if (!stopped && error.status !== 401) status(`Update failed: ${error.message}`); }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function status(text) {
  fill($("status"), text);
}

function route() {
  if (!session) return;
  const name = (location.hash.replace(/^#\//, "") || "overview").split("?")[0];
  const page = PAGES[name] ?? overview;
  current?.stop?.();
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name}`);
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
  }
  const root = $("page");
  fill(root);
  const stops = [];
  current = { stop: () => stops.splice(0).forEach((s) => s()) };
  page.mount(root, { api, poll: (ms, load) => stops.push(poll(ms, load)), onLeave: (f) => stops.push(f), session, status });
  document.title = `${page.title} · tickcast`;
}

function signedIn(info) {
  session = info;
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("signout").hidden = false;
  fill($("who"), `${info.user} · ${info.plan}${info.admin ? " (admin)" : ""}`);
  route();
}

function signedOut(message = "") {
  session = null;
  current?.stop?.();
  current = null;
  fill($("page"));
  fill($("who"));
  $("nav").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  fill($("signin-error"), message);
  $("signin-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("signin-key").value.trim();
  const response = await fetch("/dashboard/api/session", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key }),
    credentials: "same-origin",
  });
  $("signin-key").value = "";
  if (!response.ok) { fill($("signin-error"), "That key was not accepted."); return; }
  signedIn(await response.json());
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("tickcast-theme", theme);
  window.dispatchEvent(new Event("themechange"));
}

async function start() {
  const saved = localStorage.getItem("tickcast-theme");
  setTheme(saved ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  $("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", async () => { await api("session", { method: "DELETE" }); signedOut("Signed out."); });
  window.addEventListener("hashchange", route);
  const response = await fetch("/dashboard/api/session", { credentials: "same-origin" });
  if (response.ok) signedIn(await response.json());
  else signedOut();
}

start();
