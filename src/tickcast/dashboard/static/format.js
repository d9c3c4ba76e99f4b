// Number, size and time formatting with units (the page's only formatting rules).
const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function num(value) {
  return value === null || value === undefined ? "–" : nf.format(value);
}

export function rate(value, unit = "/s") {
  return `${num(value)} ${unit}`;
}

export function bytes(value) {
  let v = Number(value) || 0;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i += 1; }
  return `${nf.format(v)} ${UNITS[i]}`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function since(epochSeconds) {
  return duration(Date.now() / 1000 - epochSeconds);
}

export function timeOfNs(ns) {
  return new Date(Number(ns) / 1e6).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}
