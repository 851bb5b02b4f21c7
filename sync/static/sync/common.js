// Shared by the demo pages: who we are (from the address) and how to call the API.
"use strict";

const params = new URLSearchParams(location.search);
const demo = {
  token: params.get("token") || "",
  profileId: params.get("profile_id") || "",
  deviceId: params.get("device_id") || `${document.title.split(": ")[1] || "device"}-${Math.random().toString(36).slice(2, 7)}`,
  api(path, options = {}) {
    const headers = { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" };
    return fetch(path, { ...options, headers });
  },
  status(text) {
    document.getElementById("status").textContent = text;
  },
  // The profile's socket, opened again after a break: after 1 s, then 2, 4… up to 30 s while
  // it keeps closing soon after it opened (Redis down: accepted, then closed with 1013), so a
  // page does not knock every second. `handlers.since()`, if given, is where a reconnect
  // catches up from.
  listen(handlers) {
    let delay = 1000, openedAt = 0, again = false;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const query = new URLSearchParams({ profile_id: this.profileId, device_id: this.deviceId, token: this.token });
      if (handlers.since) query.set("since", String(handlers.since()));
      const socket = new WebSocket(`${scheme}://${location.host}/ws/v1/sync?${query}`);
      socket.onopen = () => {
        openedAt = Date.now();
        handlers.onOpen(again);
      };
      socket.onmessage = (event) => handlers.onMessage(JSON.parse(event.data));
      socket.onclose = (event) => {
        if ([4400, 4401, 4403].includes(event.code)) {
          this.status(`refused (${event.code}): check the token and profile`);
          return;
        }
        if (openedAt && Date.now() - openedAt > 10000) delay = 1000; // it was up: a break
        openedAt = 0;
        again = true;
        this.status(`reconnecting in ${delay / 1000} s…`);
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      };
    };
    open();
  },
  clock(ms) {
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  },
};
if (!demo.token || !demo.profileId) {
  demo.status("Add ?token=...&profile_id=... to the address (python manage.py issue_token NAME --profile ID).");
}
