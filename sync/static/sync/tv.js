// The TV: shows the profile's Continue Watching row and keeps it current over the WebSocket.
"use strict";

const titles = new Map(); // movie_id -> {position_ms, duration_ms, last_watched, event_type}
let lastSeen = 0; // greatest client_request_time received: where a reconnect catches up from

function render() {
  const row = document.getElementById("row");
  row.replaceChildren();
  const items = [...titles.entries()].sort((a, b) => b[1].last_watched - a[1].last_watched);
  for (const [movieId, t] of items) {
    const li = document.createElement("li");
    li.dataset.movie = movieId;
    li.dataset.position = t.position_ms;
    li.dataset.event = t.event_type || "";
    const pct = t.duration_ms ? Math.min(100, (100 * t.position_ms) / t.duration_ms) : 0;
    li.innerHTML = `<strong></strong> at <span class="pos"></span> <em></em>` +
      `<span class="bar"><span style="width:${pct}%"></span></span>`;
    li.querySelector("strong").textContent = movieId;
    li.querySelector(".pos").textContent = demo.clock(t.position_ms);
    li.querySelector("em").textContent = t.event_type ? `(${t.event_type.toLowerCase()})` : "";
    row.append(li);
  }
}

function apply(message) {
  if (message.type === "playstate.removed") {
    titles.delete(message.movie_id);
  } else if (message.type === "playstate.update") {
    lastSeen = Math.max(lastSeen, message.client_request_time);
    const known = titles.get(message.movie_id);
    if (known && known.last_watched > message.client_request_time) return; // older news
    if (message.completed) {
      titles.delete(message.movie_id);
    } else {
      titles.set(message.movie_id, {
        position_ms: message.position_ms,
        duration_ms: known ? known.duration_ms : null,
        last_watched: message.client_request_time,
        event_type: message.event_type,
      });
    }
  }
  render();
}

async function load() {
  const response = await demo.api(`/api/v1/profiles/${encodeURIComponent(demo.profileId)}/continue-watching?limit=50`);
  if (!response.ok) {
    demo.status(`Continue Watching: HTTP ${response.status}`);
    return;
  }
  for (const item of (await response.json()).results) {
    titles.set(item.movie_id, { ...item, event_type: null });
    lastSeen = Math.max(lastSeen, item.last_watched);
  }
  render();
}

function listen() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({
    profile_id: demo.profileId, device_id: demo.deviceId, token: demo.token, since: String(lastSeen),
  });
  const socket = new WebSocket(`${scheme}://${location.host}/ws/v1/sync?${query}`);
  socket.onopen = () => demo.status(`live as ${demo.deviceId}`);
  socket.onmessage = (event) => apply(JSON.parse(event.data));
  socket.onclose = (event) => {
    if (event.code === 4401 || event.code === 4403) {
      demo.status(`refused (${event.code}): check the token and profile`);
      return;
    }
    demo.status("reconnecting…");
    setTimeout(listen, 1000);
  };
}

document.getElementById("profile").textContent = demo.profileId;
if (demo.token) load().then(listen);
