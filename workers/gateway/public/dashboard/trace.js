// The trace page: one correlation ID's steps across every worker as a timeline, from
// GET /api/foundation/traces/:correlationId. The token stays in this tab's sessionStorage.
"use strict";

const form = document.getElementById("lookup");
const idInput = document.getElementById("correlation-id");
const tokenInput = document.getElementById("token");
const status = document.getElementById("status");
const summary = document.getElementById("summary");
const list = document.getElementById("steps");

function setStatus(text, state) {
  status.textContent = text;
  status.dataset.state = state;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function render(trace) {
  const start = Date.parse(trace.startedAt);
  const total = Math.max(1, Date.parse(trace.endedAt) - start);
  summary.textContent = `${trace.steps.length} steps across ${trace.services.join(", ")} in ${total} ms`;
  list.replaceChildren(
    ...trace.steps.map((step) => {
      const offset = Date.parse(step.startedAt) - start;
      const li = element("li", "step");
      li.dataset.kind = step.kind;
      li.dataset.level = step.level;
      const head = element("div", "head");
      head.append(
        element("span", "at", `+${offset} ms`),
        element("span", "kind", step.kind),
        element("span", "svc", step.service),
        element("span", "summary", step.summary),
      );
      const track = element("div", "track");
      const span = element("div", "span");
      span.style.left = `${(100 * offset) / total}%`;
      span.style.width = `${(100 * (step.durationMs ?? 0)) / total}%`;
      track.append(span);
      const details = element("details");
      details.append(element("summary", "", "fields"), element("pre", "", JSON.stringify(step.fields, null, 2)));
      li.append(head, track, details);
      return li;
    }),
  );
}

async function show(id, token) {
  setStatus("Loading…", "loading");
  list.replaceChildren();
  summary.textContent = "";
  try {
    const res = await fetch(`/api/foundation/traces/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    if (!res.ok) {
      setStatus(body.detail || `The API answered ${res.status}.`, "error");
      return;
    }
    render(body);
    setStatus(`Trace ${body.correlationId}`, "ok");
  } catch (err) {
    setStatus(`Could not load the trace: ${err.message}`, "error");
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const id = idInput.value.trim();
  sessionStorage.setItem("foundation-token", tokenInput.value);
  history.replaceState(null, "", `?id=${encodeURIComponent(id)}`);
  void show(id, tokenInput.value);
});

const params = new URLSearchParams(location.search);
idInput.value = params.get("id") ?? "";
tokenInput.value = sessionStorage.getItem("foundation-token") ?? "";
if (idInput.value && tokenInput.value) void show(idInput.value, tokenInput.value);
