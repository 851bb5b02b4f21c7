// The operator's dashboard: line charts (SVG, no library) of the samples the service keeps.
"use strict";

const root = document.getElementById("charts");
const series = JSON.parse(root.dataset.series);
const SVG = "http://www.w3.org/2000/svg";

function values(samples, key, rate) {
  if (!rate) return samples.map((s) => [s.t, s[key] || 0]);
  const points = [];
  for (let i = 1; i < samples.length; i += 1) {
    const seconds = (samples[i].t - samples[i - 1].t) / 1000;
    const delta = (samples[i][key] || 0) - (samples[i - 1][key] || 0);
    // A counter that went down was reset (Redis emptied): no rate for that step.
    if (seconds > 0 && delta >= 0) points.push([samples[i].t, delta / seconds]);
  }
  return points;
}

function draw(chart, samples) {
  const width = 600, height = 160, pad = 4;
  const lines = chart.lines.map(([key, color]) => ({ key, color, points: values(samples, key, chart.rate) }));
  const all = lines.flatMap((l) => l.points);
  const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
  const top = Math.max(1, ...all.map((p) => p[1]));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  for (const line of lines) {
    if (line.points.length < 2) continue;
    const path = document.createElementNS(SVG, "polyline");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", line.color);
    path.setAttribute("stroke-width", "2");
    path.setAttribute("vector-effect", "non-scaling-stroke");
    path.setAttribute("points", line.points.map(([t, v]) =>
      `${pad + ((t - t0) / Math.max(1, t1 - t0)) * (width - 2 * pad)},${height - pad - (v / top) * (height - 2 * pad)}`).join(" "));
    svg.append(path);
  }
  const box = document.getElementById(chart.id);
  box.querySelector("svg").replaceWith(svg);
  const legend = box.querySelector(".legend");
  legend.replaceChildren();
  for (const line of lines) {
    const now = line.points.length ? line.points[line.points.length - 1][1] : 0;
    const span = document.createElement("span");
    span.dataset.key = line.key;
    span.dataset.now = String(now);
    span.innerHTML = `<i style="background:${line.color}"></i>`;
    span.append(`${line.key.replace("_", " ")}: ${chart.rate ? now.toFixed(1) + "/s" : Math.round(now)}`);
    legend.append(span);
  }
}

for (const chart of series) {
  const box = document.createElement("section");
  box.className = "chart";
  box.id = chart.id;
  box.innerHTML = `<h2></h2><svg></svg><p class="legend"></p>`;
  box.querySelector("h2").textContent = chart.title;
  root.append(box);
}

async function refresh() {
  const status = document.getElementById("dashboard-status");
  try {
    const response = await fetch(root.dataset.samples, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { samples } = await response.json();
    for (const chart of series) draw(chart, samples);
    const last = samples.length ? new Date(samples[samples.length - 1].t).toLocaleTimeString() : "none yet";
    status.textContent = `${samples.length} samples; latest at ${last}.`;
  } catch (error) {
    status.textContent = `Could not read the samples: ${error.message}`;
  }
}
refresh();
setInterval(refresh, 5000);
