// The status page: renders GET /dashboard/state and follows the live WebSocket (/dashboard/live), reconnecting
// with backoff. Status changes from the socket show at once; a full re-read follows shortly after. With an admin
// token (kept in this tab's sessionStorage), it also reads the job board's jobs (GET /dashboard/jobs) and offers
// retry and cancel, which call the queue API with that token. Every text is set as text, never as HTML: job names
// and failure reasons come from publishers and workers.
"use strict";

const WINDOWS = [
  ["uptime24h", "24 h"],
  ["uptime7d", "7 d"],
  ["uptime30d", "30 d"],
];
const PING_MS = 30_000;
const REFRESH_MS = 30_000;
const REFETCH_DELAY_MS = 300;
/** Re-reads after a retry or cancel, so the job's next state shows (it starts within milliseconds, runs for longer). */
const FOLLOW_UP_MS = [1_000, 3_000];
const ADMIN_TOKEN_KEY = "foundation.dashboard.adminToken";
const JOB_STATES = ["waiting", "delayed", "active", "completed", "failed", "cancelled"];

/** Status changes heard on the socket, by instance: they win over a state read before they happened. */
const overrides = new Map();
let snapshot = null;
/** The job board's jobs (GET /dashboard/jobs), read only with an admin token. */
let board = null;
let adminToken = sessionStorage.getItem(ADMIN_TOKEN_KEY);
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

function timeOf(iso) {
  return iso === null ? "—" : new Date(iso).toLocaleTimeString();
}

function jobRow(job, action) {
  const when = job.state === "failed" ? `failed ${timeOf(job.finishedAt)}` : `${job.state}, due ${timeOf(job.runAt)}`;
  const head = el(
    "div",
    { class: "job-head" },
    el("strong", {}, job.name),
    el("code", {}, job.id),
    el("small", {}, `${when} · attempts ${job.attemptsMade}/${job.attempts}`),
  );
  const button = el("button", { type: "button", "data-action": action }, action === "retry" ? "Retry" : "Cancel");
  const reason = job.failedReason === null ? [] : [el("p", { class: "reason" }, job.failedReason)];
  return el("li", { class: "job", "data-job": job.id, "data-state": job.state }, head, ...reason, button);
}

function jobList(title, kind, jobs, action, emptyText) {
  const items = jobs.map((j) => jobRow(j, action));
  const body = items.length === 0 ? el("p", { class: "empty" }, emptyText) : el("ul", { class: "jobs" }, ...items);
  return el("div", { class: "job-list", "data-list": kind }, el("h4", {}, title), body);
}

function queueJobs(name) {
  if (!board) return [];
  if (board.queues === null) return [el("p", { class: "empty" }, "The queue list did not answer.")];
  const jobs = board.queues.find((q) => q.name === name);
  if (!jobs) return [];
  if (jobs.failed === null || jobs.unfinished === null) return [el("p", { class: "empty" }, "This queue's jobs did not answer.")];
  return [
    jobList("Last failed", "failed", jobs.failed, "retry", "No failed jobs."),
    jobList("Next unfinished", "unfinished", jobs.unfinished, "cancel", "No unfinished jobs."),
  ];
}

function queueCard(q) {
  const title = el("h3", {}, q.name, ...(q.paused ? [el("span", { class: "paused" }, "paused")] : []));
  const counts = el(
    "div",
    { class: "counts" },
    ...JOB_STATES.map((s) =>
      el("span", { class: "count", "data-state": s }, el("b", {}, q.counts === null ? "—" : String(q.counts[s])), ` ${s}`),
    ),
  );
  const minute = q.lastMinute;
  const throughput = el(
    "p",
    { class: "throughput" },
    minute === null ? "Last minute: —" : `Last minute: ${minute.completed} completed, ${minute.failed} failed`,
  );
  return el("article", { class: "queue", "data-queue": q.name }, title, counts, throughput, ...queueJobs(q.name));
}

function renderQueues(queues) {
  const box = document.getElementById("queues");
  if (queues === null) return box.replaceChildren(el("p", { class: "empty" }, "Not available."));
  if (queues.length === 0) return box.replaceChildren(el("p", { class: "empty" }, "No job queues."));
  box.replaceChildren(...queues.map(queueCard));
}

function render() {
  if (!snapshot) return;
  renderServices(snapshot.services);
  renderQueues(snapshot.queues);
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

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

function setAdminToken(token) {
  adminToken = token;
  if (token) sessionStorage.setItem(ADMIN_TOKEN_KEY, token);
  else sessionStorage.removeItem(ADMIN_TOKEN_KEY);
  if (!token) board = null;
  document.getElementById("admin-forget").hidden = !token;
}

async function problemDetail(res) {
  const problem = await res.json().catch(() => ({}));
  return typeof problem.detail === "string" ? problem.detail : `HTTP ${res.status}`;
}

/** Reads the job board's jobs with the admin token; a token the gateway refuses is forgotten. */
async function refetchBoard() {
  const token = adminToken;
  if (!token) return;
  try {
    const res = await fetch("/dashboard/jobs", { cache: "no-store", headers: { authorization: `Bearer ${token}` } });
    if (token !== adminToken) return;
    if (res.status === 401 || res.status === 403) {
      setAdminToken(null);
      setText("admin-status", `Token refused: ${await problemDetail(res)}`);
      return;
    }
    if (res.ok) board = await res.json();
  } catch {
    // Offline: the state read says so; the last board read stays.
  }
}

async function act(action, queue, id) {
  const verb = action === "retry" ? "retry" : "cancel";
  try {
    const path = `/api/foundation/queues/${encodeURIComponent(queue)}/jobs/${encodeURIComponent(id)}/${verb}`;
    const res = await fetch(path, { method: "POST", headers: { authorization: `Bearer ${adminToken}` } });
    setText(
      "board-status",
      res.ok
        ? `${verb === "retry" ? "Retried" : "Cancelled"} job ${id} of ${queue}.`
        : `Could not ${verb} job ${id}: ${await problemDetail(res)}`,
    );
  } catch {
    setText("board-status", `Could not ${verb} job ${id}: the gateway did not answer.`);
  }
  await refetch();
  for (const ms of FOLLOW_UP_MS) setTimeout(refetch, ms);
}

async function refetch() {
  clearTimeout(refetchTimer);
  try {
    const [res] = await Promise.all([fetch("/dashboard/state", { cache: "no-store" }), refetchBoard()]);
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

document.getElementById("admin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("admin-token");
  const token = input.value.trim();
  input.value = "";
  setAdminToken(token || null);
  setText("admin-status", "Checking the token…");
  void refetch().then(() => {
    if (adminToken === token && board) setText("admin-status", "Token accepted: the job board lists jobs with retry and cancel.");
  });
});
document.getElementById("admin-forget").addEventListener("click", () => {
  setAdminToken(null);
  setText("admin-status", "Token forgotten.");
  render();
});
document.getElementById("queues").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  button.disabled = true;
  void act(button.dataset.action, button.closest("[data-queue]").dataset.queue, button.closest("[data-job]").dataset.job);
});

setAdminToken(adminToken);
void refetch();
setInterval(refetch, REFRESH_MS);
connect();
