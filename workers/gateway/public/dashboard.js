// The status page: renders GET /dashboard/state and follows the live WebSocket (/dashboard/live), reconnecting
// with backoff. Status changes from the socket show at once; a full re-read follows shortly after.
"use strict";

const WINDOWS = [
  ["uptime24h", "24 h"],
  ["uptime7d", "7 d"],
  ["uptime30d", "30 d"],
];
const PING_MS = 30_000;
const REFRESH_MS = 30_000;
const REFETCH_DELAY_MS = 300;

/** Status changes heard on the socket, by instance: they win over a state read before they happened. */
const overrides = new Map();
let snapshot = null;
let refetchTimer;
let attempt = 0;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}

function percent(ratio) {
  return ratio === null ? "—" : `${(ratio * 100).toFixed(ratio === 1 ? 0 : 2)}%`;
}

function uptimeBar(label, ratio) {
  const level = ratio === null || ratio >= 0.99 ? "ok" : ratio >= 0.9 ? "warn" : "bad";
  const fill = el("div", { class: "fill", "data-level": level });
  fill.style.width = `${ratio === null ? 0 : Math.round(ratio * 100)}%`;
  return el("div", { class: "uptime", title: `uptime over ${label}` }, `${label} ${percent(ratio)}`, el("div", { class: "bar" }, fill));
}

function statusOf(service, instance) {
  const o = overrides.get(`${service}/${instance.id}`);
  return o && o.at >= snapshot.generatedAt ? o.to : instance.status;
}

function instanceRow(service, instance) {
  const status = statusOf(service, instance);
  const who = el(
    "div",
    { class: "who" },
    el("span", { class: "status", "data-status": status }, status),
    instance.id.slice(0, 8),
    el("small", {}, `v${instance.version}`),
  );
  const bars = WINDOWS.map(([key, label]) => uptimeBar(label, instance[key]));
  return el("div", { class: "instance", "data-instance": instance.id, "data-status": status }, who, ...bars);
}

function renderServices(services) {
  const box = document.getElementById("services");
  if (services === null) return box.replaceChildren(el("p", { class: "empty" }, "The registry did not answer."));
  const live = services
    .map((s) => ({ ...s, instances: s.instances.filter((i) => overrides.get(`${s.name}/${i.id}`)?.to !== "deregistered") }))
    .filter((s) => s.instances.length > 0);
  if (live.length === 0) return box.replaceChildren(el("p", { class: "empty" }, "No service has registered instances."));
  box.replaceChildren(
    ...live.map((s) =>
      el("article", { class: "service", "data-service": s.name }, el("h3", {}, s.name), ...s.instances.map((i) => instanceRow(s.name, i))),
    ),
  );
}

function table(boxId, rows, columns, emptyText) {
  const box = document.getElementById(boxId);
  if (rows === null) return box.replaceChildren(el("p", { class: "empty" }, "Not available."));
  if (rows.length === 0) return box.replaceChildren(el("p", { class: "empty" }, emptyText));
  const head = el("tr", {}, ...columns.map(([title, , numeric]) => el("th", { class: numeric ? "n" : "" }, title)));
  const body = rows.map((r) => el("tr", {}, ...columns.map(([, get, numeric]) => el("td", { class: numeric ? "n" : "" }, String(get(r))))));
  box.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
}

function render() {
  if (!snapshot) return;
  renderServices(snapshot.services);
  table(
    "streams",
    snapshot.streams,
    [
      ["Stream", (r) => r.stream],
      ["Group", (r) => r.group],
      ["Lag", (r) => r.lag ?? "—", true],
      ["Pending", (r) => r.pending ?? "—", true],
      ["Dead letters", (r) => r.dlqSize ?? "—", true],
    ],
    "No subscriptions.",
  );
  table(
    "ratelimits",
    snapshot.rateLimitRejections,
    [
      ["Quota", (r) => r.labels.quota],
      ["Rejected", (r) => r.value, true],
    ],
    "No request has been rejected.",
  );
  table(
    "errors",
    snapshot.serverErrors,
    [
      ["Service", (r) => r.labels.service],
      ["Route", (r) => r.labels.route],
      ["5xx", (r) => r.value, true],
    ],
    "No server errors.",
  );
  document.getElementById("generated").textContent = `State as of ${new Date(snapshot.generatedAt).toLocaleString()}`;
}

async function refetch() {
  clearTimeout(refetchTimer);
  try {
    const res = await fetch("/dashboard/state", { cache: "no-store" });
    if (!res.ok) return;
    snapshot = await res.json();
    for (const [key, o] of overrides) if (o.at < snapshot.generatedAt) overrides.delete(key);
    render();
  } catch {
    setConnection("offline", "offline: showing the last state read");
  }
}

function refetchSoon() {
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(refetch, REFETCH_DELAY_MS);
}

function setConnection(state, text) {
  const node = document.getElementById("connection");
  node.dataset.state = state;
  node.textContent = text;
}

function onMessage(event) {
  const message = JSON.parse(event.data);
  if (message.type === "status") {
    for (const c of message.changes) overrides.set(`${c.service}/${c.instanceId}`, c);
    render();
  }
  refetchSoon();
}

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/dashboard/live`);
  let ping;
  socket.addEventListener("open", () => {
    attempt = 0;
    setConnection("live", "live");
    ping = setInterval(() => socket.send("ping"), PING_MS);
    void refetch();
  });
  socket.addEventListener("message", (event) => {
    if (event.data !== "pong") onMessage(event);
  });
  socket.addEventListener("close", (event) => {
    clearInterval(ping);
    const delay = Math.min(30_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    // 1008 carries why the gateway refused the socket (e.g. too many dashboards from this address).
    const why = event.code === 1008 && event.reason ? `${event.reason}: ` : "";
    setConnection("reconnecting", `${why}reconnecting in ${Math.round(delay / 1000)} s`);
    setTimeout(connect, delay);
  });
}

void refetch();
setInterval(refetch, REFRESH_MS);
connect();
