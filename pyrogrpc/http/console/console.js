// pyrogrpc console: a browser client of the Connect protocol, written out by hand (no
// framework, no build step) so an integrator can read how one works.
//
// Unary calls: POST /pyronear.v1.<Service>/<Method>, Content-Type application/json, the
// request as proto3 JSON; errors come back as {"code", "message", "details"} with an HTTP
// error status. Server streams (WatchAlerts, DownloadMedia): Content-Type
// application/connect+json, request and responses framed as envelopes (1 flag byte, 4-byte
// big-endian length, JSON); the last envelope has flag 0x02 and carries {"error"?: ...}.
// int64 fields are JSON strings; the token goes in "Authorization: Bearer <token>".
"use strict";

const TOKEN_KEY = "pyrogrpc.token";
const LIST_SIZE = 20;
const $ = (id) => document.getElementById(id);

class RpcError extends Error {
  constructor(error) {
    super(error.message || error.code || "request failed");
    this.code = error.code || "unknown";
  }
}

function headers(contentType) {
  const result = { "Content-Type": contentType, "Connect-Protocol-Version": "1" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) result.Authorization = `Bearer ${token}`;
  return result;
}

async function call(method, request) {
  const response = await fetch(`/pyronear.v1.${method}`, {
    method: "POST", headers: headers("application/json"), body: JSON.stringify(request),
  });
  const body = await response.json().catch(() => ({ code: "unknown", message: `HTTP ${response.status}` }));
  if (!response.ok) throw new RpcError(body);
  return body;
}

function envelope(request) {
  const data = new TextEncoder().encode(JSON.stringify(request));
  const frame = new Uint8Array(5 + data.length);
  new DataView(frame.buffer).setUint32(1, data.length);
  frame.set(data, 5);
  return frame;
}

// Yields the response messages of a server-streaming RPC as they arrive.
async function* stream(method, request, signal) {
  const response = await fetch(`/pyronear.v1.${method}`, {
    method: "POST", headers: headers("application/connect+json"), body: envelope(request), signal,
  });
  if (!response.ok) throw new RpcError({ code: "unavailable", message: `HTTP ${response.status}` });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new RpcError({ code: "unavailable", message: "stream cut" });
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
    while (buffer.length >= 5) {
      const length = new DataView(buffer.buffer, buffer.byteOffset).getUint32(1);
      if (buffer.length < 5 + length) break;
      const flags = buffer[0];
      const message = JSON.parse(decoder.decode(buffer.subarray(5, 5 + length)) || "{}");
      buffer = buffer.slice(5 + length);
      if (flags & 0x02) {
        if (message.error) throw new RpcError(message.error);
        return;
      }
      yield message;
    }
  }
}

// --- pictures: a presigned URL with S3, else the bytes through DownloadMedia ----------------

async function pictureUrl(mediaId) {
  try {
    return (await call("DetectionService/GetMediaUrl", { mediaId })).url;
  } catch (error) {
    if (error.code !== "failed_precondition") throw error; // local media folder: no URLs
  }
  const parts = [];
  let type = "application/octet-stream";
  for await (const message of stream("DetectionService/DownloadMedia", { mediaId })) {
    if (message.media && message.media.contentType) type = message.media.contentType;
    if (message.chunk) parts.push(Uint8Array.from(atob(message.chunk), (c) => c.charCodeAt(0)));
  }
  return URL.createObjectURL(new Blob(parts, { type }));
}

// --- rendering -------------------------------------------------------------------------

const events = new Map(); // id -> <li>
const when = (timestamp) => (timestamp ? new Date(timestamp).toLocaleString() : "");
// EventLabel values (proto3 JSON sends enums by name) and how the page names them.
const LABELS = [
  ["EVENT_LABEL_WILDFIRE_SMOKE", "Wildfire smoke"],
  ["EVENT_LABEL_OTHER_SMOKE", "Other smoke"],
  ["EVENT_LABEL_OTHER", "Other"],
];
const labelName = (label) => (LABELS.find(([value]) => value === label) || [])[1];

function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").className = kind || "";
}

function showEvent(event, isNew) {
  let item = events.get(event.id);
  if (!item) {
    item = document.createElement("li");
    item.dataset.eventId = event.id;
    events.set(event.id, item);
    if (isNew) $("events").prepend(item); else $("events").append(item);
  }
  item.classList.toggle("acknowledged", Boolean(event.isAcknowledged));
  item.classList.toggle("new", Boolean(isNew));
  item.replaceChildren();
  const title = document.createElement("div");
  title.textContent = `Event ${event.id} · ${(event.type || "").replace("EVENT_TYPE_", "").toLowerCase()}`;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${when(event.startTime)} · ${Number(event.lat || 0).toFixed(4)}, ${Number(event.lon || 0).toFixed(4)}`
    + (event.endTime ? ` · ended ${when(event.endTime)}` : " · ongoing");
  item.append(title, meta);
  const label = labelName(event.label); // undefined while unlabelled
  item.classList.toggle("labelled", Boolean(label));
  if (event.isAcknowledged) {
    const done = document.createElement("div");
    done.className = "meta state";
    done.textContent = label ? `labelled ${label.toLowerCase()} · acknowledged` : "acknowledged";
    item.append(done);
  }
  const actions = document.createElement("div");
  actions.className = "actions";
  if (!event.isAcknowledged) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "ack";
    button.textContent = "Acknowledge";
    button.onclick = () => acknowledge(event.id, button);
    actions.append(button);
  }
  // LabelEvent: what the event is (labelling also acknowledges; labelling again replaces it).
  for (const [value, name] of LABELS) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "label";
    button.dataset.label = value;
    button.textContent = name;
    button.setAttribute("aria-pressed", String(event.label === value));
    button.onclick = () => labelEvent(event.id, value, actions);
    actions.append(button);
  }
  item.append(actions);
}

async function labelEvent(eventId, label, actions) {
  const buttons = actions.querySelectorAll("button");
  buttons.forEach((button) => { button.disabled = true; });
  try {
    showEvent((await call("DetectionService/LabelEvent", { eventId, label })).event, false);
  } catch (error) {
    buttons.forEach((button) => { button.disabled = false; });
    setStatus(`labelling failed: ${error.message}`, "down");
  }
}

async function acknowledge(eventId, button) {
  button.disabled = true;
  try {
    showEvent((await call("DetectionService/AcknowledgeEvent", { eventId })).event, false);
  } catch (error) {
    button.disabled = false;
    setStatus(`acknowledge failed: ${error.message}`, "down");
  }
}

async function showAlert(alert, isNew) {
  const item = document.createElement("li");
  item.dataset.alertId = alert.id;
  if (isNew) item.classList.add("new");
  const picture = document.createElement("div");
  picture.className = "no-picture";
  picture.textContent = alert.mediaId ? "loading…" : "no picture";
  const text = document.createElement("div");
  const title = document.createElement("div");
  title.textContent = `Alert ${alert.id} · device ${alert.deviceId} · event ${alert.eventId}`;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${when(alert.createTime)} · azimuth ${Number(alert.azimuth || 0).toFixed(1)}°`;
  text.append(title, meta);
  item.append(picture, text);
  if (isNew) $("alerts").prepend(item); else $("alerts").append(item);
  if (alert.eventId && !events.has(alert.eventId)) {
    call("DetectionService/GetEvent", { eventId: alert.eventId })
      .then((response) => showEvent(response.event, true))
      .catch(() => {});
  }
  if (alert.mediaId) {
    try {
      const image = document.createElement("img");
      image.alt = `picture of alert ${alert.id}`;
      image.src = await pictureUrl(alert.mediaId);
      picture.replaceWith(image);
    } catch (error) {
      picture.textContent = "picture unavailable";
    }
  }
}

// --- the live part: WatchAlerts, resumed where it stopped after any error --------------------

let watching = null; // AbortController of the open stream

async function watch(afterAlertId) {
  const controller = new AbortController();
  watching = controller;
  let resume = afterAlertId;
  let delay = 1000;
  while (!controller.signal.aborted) {
    try {
      const request = resume ? { afterAlertId: resume } : {};
      for await (const message of stream("DetectionService/WatchAlerts", request, controller.signal)) {
        setStatus("live", "live");
        delay = 1000;
        if (message.alert) showAlert(message.alert, true);
        if (message.resumeAfterAlertId) resume = message.resumeAfterAlertId;
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error.code === "unauthenticated" || error.code === "permission_denied") {
        signOut(error.message);
        return;
      }
      setStatus(`reconnecting (${error.message})`, "down");
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

async function start() {
  $("login-form").hidden = true;
  $("board").hidden = false;
  $("logout").hidden = false;
  setStatus("loading…");
  try {
    const me = await call("AccessService/GetMyUser", {});
    $("who").textContent = `${me.user.login} (${me.user.scope.replace("SCOPE_", "").toLowerCase()})`;
    const [eventList, alertList] = await Promise.all([
      call("DetectionService/ListEvents", { pageSize: LIST_SIZE }),
      call("DetectionService/ListAlerts", { pageSize: LIST_SIZE }),
    ]);
    for (const event of eventList.events || []) showEvent(event, false);
    const alerts = alertList.alerts || [];
    for (const alert of alerts) showAlert(alert, false);
    // Lists are newest first: stream what comes after the newest listed alert.
    watch(alerts.length ? alerts[0].id : undefined);
  } catch (error) {
    signOut(error.message);
  }
}

function signOut(message) {
  if (watching) watching.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  events.clear();
  $("events").replaceChildren();
  $("alerts").replaceChildren();
  $("who").textContent = "";
  $("board").hidden = true;
  $("logout").hidden = true;
  $("login-form").hidden = false;
  $("login-error").textContent = message || "";
  setStatus("signed out");
}

$("login-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  $("login-error").textContent = "";
  try {
    const response = await call("AccessService/Login", { login: $("login").value, password: $("password").value });
    sessionStorage.setItem(TOKEN_KEY, response.accessToken);
    $("password").value = "";
    start();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});
$("logout").addEventListener("click", () => signOut());
if (sessionStorage.getItem(TOKEN_KEY)) start();
