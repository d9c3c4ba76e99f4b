// DOM helpers: build elements without innerHTML (every value is text), tables, empty states.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** A definition list from [label, value] pairs. */
export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** A table: columns [{key, label, num?, render?(row)}], sortable by header buttons when
 * `sort` ({key, dir}) and `onSort` are given. */
export function table(columns, rows, { sort, onSort, rowAttrs, caption } = {}) {
  const head = h("tr", {}, columns.map((c) => {
    const label = onSort && c.key
      ? h("button", { type: "button", onclick: () => onSort(c.key),
          "aria-label": `Sort by ${c.label}` }, c.label,
          sort && sort.key === c.key ? (sort.dir > 0 ? " ▲" : " ▼") : "")
      : c.label;
    const ariaSort = sort && sort.key === c.key ? (sort.dir > 0 ? "ascending" : "descending") : null;
    return h("th", { class: c.num ? "num" : null, scope: "col", "aria-sort": ariaSort }, label);
  }));
  const body = rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map((c) =>
    h("td", { class: c.num ? "num" : null }, c.render ? c.render(row) : row[c.key]))));
  return h("div", { class: "scroll" },
    h("table", {}, caption ? h("caption", { class: "hint" }, caption) : null,
      h("thead", {}, head), h("tbody", {}, body)));
}

export function sortRows(rows, sort) {
  if (!sort) return rows;
  return [...rows].sort((a, b) => {
    const x = a[sort.key], y = b[sort.key];
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return order * sort.dir;
  });
}
