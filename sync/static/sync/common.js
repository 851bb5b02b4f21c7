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
  clock(ms) {
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  },
};
if (!demo.token || !demo.profileId) {
  demo.status("Add ?token=...&profile_id=... to the address (python manage.py issue_token NAME --profile ID).");
}
