// The TV: shows the profile's Continue Watching and Next Up rows, and keeps them current over
// the WebSocket. The rows come from the API (which folds a show's episodes into one tile);
// a pushed message says which title changed and how, and makes the TV read the rows again.
"use strict";

const heard = new Map(); // movie_id -> {event_type, position_ms} from the latest push
let lastSeen = 0; // greatest client_request_time received: where a reconnect catches up from
let pending = null;

function item(list, movieId) {
  const li = document.createElement("li");
  li.dataset.movie = movieId;
  list.append(li);
  return li;
}

function ago(ms) {
  const minutes = Math.round((Date.now() - ms) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

function renderRow(results) {
  const row = document.getElementById("row");
  row.replaceChildren();
  for (const t of results) {
    const li = item(row, t.movie_id);
    const pushed = heard.get(t.movie_id);
    // The row is read after every push; a push newer than it (still on its way) wins.
    const newer = pushed && !t.next_up && pushed.client_request_time > t.last_watched;
    const position = newer ? pushed.position_ms : t.position_ms;
    li.dataset.position = position;
    li.dataset.event = pushed ? pushed.event_type : "";
    li.dataset.nextUp = t.next_up ? "true" : "false";
    const pct = t.duration_ms ? Math.min(100, (100 * position) / t.duration_ms) : 0;
    li.innerHTML = `<strong></strong> <span class="pos"></span> <em></em>` +
      `<span class="bar"><span style="width:${pct}%"></span></span><small class="meta"></small>`;
    li.querySelector("strong").textContent = t.title || t.movie_id;
    const device = pushed && newer ? pushed.device_id : t.device_id;
    li.querySelector(".meta").textContent = t.next_up ? "" : `${device} · ${ago(newer ? pushed.client_request_time : t.last_watched)}`;
    li.querySelector(".pos").textContent = t.next_up ? "up next" : `at ${demo.clock(position)}`;
    li.querySelector("em").textContent = pushed ? `(${pushed.event_type.toLowerCase()})` : "";
  }
  for (const li of Array.from(row.children).slice(0, CHOICES)) {
    offerChoice(li, results.find((t) => t.movie_id === li.dataset.movie));
  }
}

// When the latest resume points of a title differ ("20:00 on the phone, 0:03 on the TV"),
// the tile asks which one to resume from; the answer is a restore, seen by every device.
const CHOICES = 6; // tiles that ask; the rest resume where the row says
const CLOSE_MS = 60000; // points closer than this are one place (6:40 and 6:37 ask nothing)
async function offerChoice(li, t) {
  const path = `/api/v1/profiles/${encodeURIComponent(demo.profileId)}/positions/${encodeURIComponent(t.movie_id)}`;
  const response = await demo.api(`${path}/versions`);
  if (!response.ok) return;
  const points = (await response.json()).results;
  const here = Number(li.dataset.position);
  // A choice worth asking: a place a minute or more away, not a mark at the end (watched).
  const other = points.find((p) => Math.abs(p.position_ms - here) >= CLOSE_MS && p.event_type !== "WATCHED");
  if (!other || t.next_up) return;
  const current = points.find((p) => Math.abs(p.position_ms - here) < CLOSE_MS);
  const when = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const choice = document.createElement("p");
  choice.className = "choice";
  choice.append("Resume from ");
  const options = [
    [here, current ? `${current.device_id}, ${when(current.client_request_time)}` : t.device_id],
    [other.position_ms, other.device_id],
  ];
  options.forEach(([position, label], i) => {
    const button = document.createElement("button");
    button.dataset.position = position;
    button.textContent = `${demo.clock(position)} (${label})`;
    button.onclick = async () => {
      const restored = await demo.api(`${path}/restore`, {
        method: "POST", body: JSON.stringify({ position_ms: position }),
      });
      demo.status(restored.ok ? `resuming at ${demo.clock(position)}` : `restore: HTTP ${restored.status}`);
      if (restored.ok) {
        heard.set(t.movie_id, await restored.json());
        load();
      }
    };
    if (i) choice.append(" or ");
    choice.append(button);
  });
  choice.append("?");
  li.append(choice);
}

function renderNextUp(results) {
  const list = document.getElementById("next-up");
  list.replaceChildren();
  for (const e of results) {
    const li = item(list, e.movie_id);
    li.dataset.reason = e.reason;
    li.textContent = `${e.title} (S${e.season}E${e.episode}, ${e.reason.replace("_", " ")})`;
  }
}

async function load() {
  const base = `/api/v1/profiles/${encodeURIComponent(demo.profileId)}`;
  const [row, next] = await Promise.all([
    demo.api(`${base}/continue-watching?limit=50`), demo.api(`${base}/next-up`),
  ]);
  if (!row.ok || !next.ok) {
    demo.status(`rows: HTTP ${row.status}, ${next.status}`);
    return;
  }
  const results = (await row.json()).results;
  for (const t of results) lastSeen = Math.max(lastSeen, t.last_watched);
  renderRow(results);
  renderNextUp((await next.json()).results);
}

function apply(message) {
  if (message.type === "playstate.update") {
    lastSeen = Math.max(lastSeen, message.client_request_time);
    // Pushes come from several processes (a web process tells of a PAUSE at once, a worker of
    // the plain heartbeat it just wrote): an older one may arrive last, and must not win.
    const known = heard.get(message.movie_id);
    if (!known || message.client_request_time >= known.client_request_time) {
      heard.set(message.movie_id, message);
    }
  } else if (message.type === "playstate.removed") {
    heard.delete(message.movie_id);
  }
  clearTimeout(pending);
  pending = setTimeout(load, 100); // a burst of messages, one read
}

document.getElementById("profile").textContent = demo.profileId;
if (demo.token) {
  load().then(() => demo.listen({
    since: () => lastSeen,
    onMessage: apply,
    onOpen: (again) => {
      demo.status(`live as ${demo.deviceId}`);
      if (again) load(); // back after a break: the rows again too (the catch-up follows client times; README)
    },
  }));
}
