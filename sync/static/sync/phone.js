// The phone: plays a title, sends a heartbeat every 10 s while playing and one at once on
// play, pause, seek and stop. Heartbeats wait in a queue while offline (kept across a reload)
// and go in batches. While it is not playing, what other devices do to the title moves it.
"use strict";

const movieId = params.get("movie_id") || "m1";
const HEARTBEAT_MS = 10000;
const BATCH = 50; // the API's limit per request
// Where the player starts: the service's resume position, unless the address names one.
let position = Number(params.get("position_ms") || 0);
let playing = false;
let sent = 0;
let counter = 0;
// Event ids must not repeat across page loads of the same device, or a retry filter would
// take a new heartbeat for an old one: this page's own prefix.
const session = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let lastBeat = 0;
let duration = 0;
let known = 0; // client_request_time of the newest state this page has taken from the service
let hiding = false; // this page asked to hide the title: the socket's next "removed" is its echo
// Heartbeats not yet taken by the service, kept in the browser so that a reload sends them.
const stored = `playstate-demo-queue:${demo.profileId}:${movieId}`;
const queue = JSON.parse(localStorage.getItem(stored) || "[]");
function keep() {
  localStorage.setItem(stored, JSON.stringify(queue));
}

function now() {
  return Date.now();
}

function show() {
  document.getElementById("position").textContent = demo.clock(position);
  document.getElementById("queue").textContent = queue.length
    ? `${queue.length} heartbeat(s) waiting` : `nothing waiting (${sent} sent)`;
}

function beat(eventType) {
  counter += 1;
  known = Math.max(known, now()); // what this page does is newer than what it heard before
  queue.push({
    profile_id: demo.profileId, movie_id: movieId, video_timestamp_ms: Math.max(0, Math.round(position)),
    client_request_time: now(), device_id: demo.deviceId, event_type: eventType,
    event_id: `${demo.deviceId}-${session}-${counter}`, // a retried batch is applied once
  });
  keep();
  flush();
}

async function flush() {
  if (!queue.length || document.getElementById("offline").checked || !navigator.onLine) {
    show();
    return;
  }
  const batch = queue.splice(0, BATCH);
  try {
    const response = await demo.api("/api/v1/heartbeats", { method: "POST", body: JSON.stringify({ heartbeats: batch }) });
    if (response.status === 503 || response.status === 429) throw new Error(`HTTP ${response.status}`);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      // Refused whole (a revoked token, a profile not this account's): retrying cannot help.
      demo.status(`refused ${batch.length} (HTTP ${response.status}): ${answer.detail || JSON.stringify(answer)}`);
    } else {
      const refused = answer.rejected || [];
      sent += batch.length - refused.length;
      demo.status(refused.length
        ? `sent ${batch.length - refused.length}, refused ${refused.length}: ${JSON.stringify(refused[0].errors)}`
        : `sent ${batch.length} (${response.status})`);
    }
  } catch (error) {
    queue.unshift(...batch); // keep order; try again later
    demo.status(`will retry: ${error.message}`);
  }
  keep();
  show();
  if (queue.length) setTimeout(flush, 2000);
}

// The title's end: playing stops there, as a player does.
function atTheEnd() {
  if (!duration || position < duration) return false;
  position = duration;
  return true;
}

function play() {
  document.getElementById("resume-choice").hidden = true;
  playing = true;
  lastBeat = now();
  beat("START");
}

// Watched to the end: playing starts over, and there is no place to offer.
function startOver() {
  position = 0;
  document.getElementById("resume-choice").hidden = true;
  show();
}

// Offer to resume at `at` (or to start over).
function offer(at, label) {
  position = at;
  show();
  const resume = document.getElementById("resume");
  resume.dataset.position = at;
  resume.textContent = `Resume at ${demo.clock(at)}${label ? ` (${label})` : ""}`;
  document.getElementById("resume-choice").hidden = false;
}

// Before anything plays, ask the service where this title was left, and offer it: pressing
// Play then Pause at 0:03 must never be how a saved 9:00 is lost.
async function loadResume() {
  if (!demo.token) return;
  const response = await demo.api(`/api/v1/profiles/${encodeURIComponent(demo.profileId)}/positions/${encodeURIComponent(movieId)}`);
  if (!response.ok) return demo.status(`resume position: HTTP ${response.status}`);
  const answer = await response.json();
  duration = answer.duration_ms || 0;
  if (duration) document.getElementById("duration").textContent = `/ ${demo.clock(duration)}`;
  if (params.has("position_ms")) return;
  known = answer.client_request_time || 0;
  if (answer.completed) notice("watched to the end: playing starts over");
  if (answer.position_ms) offer(answer.position_ms);
}

// Another device paused, sought, restored or marked this title: while this page is not
// playing, it takes the new place, so that pressing Play does not undo what was done there.
function heard(message) {
  if (message.movie_id !== movieId) return;
  if (message.type === "playstate.removed") {
    if (!hiding) notice("hidden from history on another device");
    hiding = false; // the echo came
    return;
  }
  if (message.type !== "playstate.update" || playing || message.client_request_time <= known) return;
  known = message.client_request_time;
  if (message.device_id === demo.deviceId) return;
  if (message.completed) {
    startOver();
  } else {
    offer(message.position_ms, message.device_id);
  }
  notice(`${message.device_id}: ${message.event_type.toLowerCase()} at ${demo.clock(message.position_ms)}`);
}

document.getElementById("movie").textContent = movieId;
document.getElementById("play").onclick = play;
document.getElementById("resume").onclick = () => { position = Number(document.getElementById("resume").dataset.position); play(); };
document.getElementById("start-over").onclick = () => { position = 0; play(); };
document.getElementById("pause").onclick = () => { playing = false; beat("PAUSE"); };
document.getElementById("stop").onclick = () => { playing = false; beat("STOP"); };
document.getElementById("back").onclick = () => { position = Math.max(0, position - 30000); beat("SEEK"); };
document.getElementById("forward").onclick = () => {
  position += 30000;
  const end = atTheEnd();
  if (end) playing = false;
  beat(end ? "STOP" : "SEEK");
};
document.getElementById("offline").onchange = flush;

// A person's own control: back to an earlier resume point, watched, hidden from history.
const title = `/api/v1/profiles/${encodeURIComponent(demo.profileId)}`;
function notice(text) {
  document.getElementById("notice").textContent = text;
}
document.getElementById("undo").onclick = async () => {
  playing = false;
  const response = await demo.api(`${title}/positions/${encodeURIComponent(movieId)}/versions`);
  if (!response.ok) return notice(`versions: HTTP ${response.status}`);
  const points = (await response.json()).results;
  // The latest point is where we are; undo goes to the one before it.
  const target = points.find((p) => Math.abs(p.position_ms - points[0].position_ms) > 1000);
  if (!target) return notice("nothing to undo");
  const restored = await demo.api(`${title}/positions/${encodeURIComponent(movieId)}/restore`, {
    method: "POST", body: JSON.stringify({ position_ms: target.position_ms }),
  });
  if (!restored.ok) return notice(`undo: HTTP ${restored.status}`);
  const state = await restored.json();
  known = Math.max(known, state.client_request_time);
  offer(state.position_ms);
  notice(`back to ${demo.clock(position)} (${target.device_id})`);
};
document.getElementById("watched").onclick = async () => {
  playing = false;
  const response = await demo.api(`${title}/watched/${encodeURIComponent(movieId)}`, { method: "PUT" });
  if (!response.ok) return notice(`mark watched: HTTP ${response.status}`);
  // This page's own mark: its echo over the socket is not news (and must not replace this notice).
  known = Math.max(known, (await response.json()).client_request_time);
  startOver();
  notice("marked watched");
};
document.getElementById("hide").onclick = async () => {
  playing = false;
  hiding = true;
  const response = await demo.api(`${title}/history/${encodeURIComponent(movieId)}`, { method: "DELETE" });
  if (!response.ok) hiding = false; // no echo will come
  notice(response.ok ? "hidden from history on every device" : `hide: HTTP ${response.status}`);
};
window.addEventListener("online", flush);

if (demo.token) {
  loadResume().then(() => demo.listen({ onMessage: heard, onOpen: () => {} }));
}
flush(); // what a reload left waiting

setInterval(() => {
  if (!playing) return;
  position += 1000;
  show();
  if (atTheEnd()) {
    playing = false;
    beat("STOP");
  } else if (now() - lastBeat >= HEARTBEAT_MS) {
    lastBeat = now();
    beat("HEARTBEAT");
  }
}, 1000);
show();
