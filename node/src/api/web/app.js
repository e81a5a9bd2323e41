// The network page: reads GET /v1/network with the read-only token (a
// bearer header; the token lives in this tab's sessionStorage) every few
// seconds and draws the graph, the servers and the chain events. No
// framework, no outside files (the Content-Security-Policy allows none).
"use strict";

const POLL_MS = 3000;
const KEY = "por-api-token";
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

// A token in the fragment (#token=...) is taken once and removed from the
// address bar and this history entry; the fragment never reaches a server.
function takeFragmentToken() {
  const m = /^#token=([0-9a-fA-F]{64})$/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, m[1].toLowerCase());
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function token() { return sessionStorage.getItem(KEY); }

function showLogin(message) {
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("status").textContent = "needs a token";
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("token").value.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) {
    showLogin("a token is 64 hexadecimal characters");
    return;
  }
  sessionStorage.setItem(KEY, t.toLowerCase());
  $("token").value = "";
  $("login").hidden = true;
  refresh();
});

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function short(s) { return s && s.length > 20 ? s.slice(0, 12) + "…" : (s || ""); }

function edgeClass(e) {
  if (e.state !== "open") return e.state;
  if (e.on_time_ratio_1h === null || e.on_time_ratio_1h === undefined) return "open";
  if (e.on_time_ratio_1h >= 0.99) return "good";
  if (e.on_time_ratio_1h >= 0.9) return "fair";
  return "poor";
}

function drawGraph(v) {
  const svg = $("graph");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const n = v.nodes.length;
  const W = 640, H = 480, cx = W / 2, cy = H / 2, R = Math.min(W, H) / 2 - 50;
  const pos = v.nodes.map((_, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    return n === 1 ? [cx, cy] : [cx + R * Math.cos(a), cy + R * Math.sin(a)];
  });
  // Stakes are yocto strings beyond 2^53: compare them as numbers of NEAR.
  const near = v.nodes.map((x) => Number(BigInt(x.stake) / 10n ** 18n) / 1e6);
  const most = Math.max(...near, 1e-9);
  const edges = el("g", { class: "edges" });
  // Parallel edges between the same two nodes are fanned out.
  const pairs = {};
  for (const e of v.edges) {
    const k = Math.min(e.a, e.b) + "-" + Math.max(e.a, e.b);
    const i = (pairs[k] = (pairs[k] || 0) + 1) - 1;
    const [a, b] = [pos[e.a], pos[e.b]];
    if (!a || !b) continue;
    const dx = b[0] - a[0], dy = b[1] - a[1], len = Math.hypot(dx, dy) || 1;
    const off = (i % 2 ? -1 : 1) * Math.ceil(i / 2) * 8;
    const ox = (-dy / len) * off, oy = (dx / len) * off;
    const cls = edgeClass(e);
    const line = el("line", {
      x1: a[0] + ox, y1: a[1] + oy, x2: b[0] + ox, y2: b[1] + oy,
      class: cls, "data-edge": e.channel, "data-state": e.state, "data-class": cls,
    });
    const share = e.on_time_ratio_1h === null || e.on_time_ratio_1h === undefined
      ? "no requests of this node over it in the last hour"
      : (100 * e.on_time_ratio_1h).toFixed(1) + " % within bound of " + e.ended_1h + " (1 h)";
    line.appendChild(el("title", {}, "channel " + e.channel + ": " + e.state + (e.by ? " by " + e.by : "") + "; " + share));
    edges.appendChild(line);
    edges.appendChild(el("text", { x: (a[0] + b[0]) / 2 + ox, y: (a[1] + b[1]) / 2 + oy - 4, class: "edge-label" }, "#" + e.channel));
  }
  svg.appendChild(edges);
  const nodes = el("g", { class: "nodes" });
  v.nodes.forEach((x, i) => {
    const r = 8 + 22 * Math.sqrt(near[i] / most);
    const g = el("g", {
      class: "node" + (x.me ? " me" : "") + (x.active ? "" : " inactive"),
      "data-node": x.index, "data-account": x.account, "data-stake": x.stake,
    });
    g.appendChild(el("circle", { cx: pos[i][0], cy: pos[i][1], r: r.toFixed(1) }));
    g.appendChild(el("text", { x: pos[i][0], y: pos[i][1] + r + 13 }, x.account || short(x.key)));
    g.appendChild(el("title", {}, (x.account || x.key) + "\nstake " + near[i].toFixed(3) + " NEAR" + (x.active ? "" : " (inactive)") + (x.me ? "\n(this node)" : "")));
    nodes.appendChild(g);
  });
  svg.appendChild(nodes);
  $("graph-version").textContent = v.graph_version === null ? "(no graph yet)" : "version " + v.graph_version;
}

function drawServers(v) {
  const names = {};
  for (const x of v.nodes) names[x.key] = x.account;
  const body = $("servers").tBodies[0];
  body.replaceChildren();
  v.servers.forEach((s, i) => {
    const w = s.windows, h = w["1h"];
    const tr = document.createElement("tr");
    tr.dataset.server = s.key;
    const refused = Object.values(h.refused).reduce((a, b) => a + b, 0);
    const ended = h.on_time + h.late + h.notices + refused;
    cell(tr, String(i + 1));
    cell(tr, names[s.key] || short(s.key), "text");
    cell(tr, String(w["5m"].on_time));
    cell(tr, String(h.on_time));
    cell(tr, String(w["24h"].on_time));
    cell(tr, String(h.late));
    cell(tr, h.late ? Math.round(h.late_ms_total / h.late) + " / " + h.late_ms_max : "–");
    cell(tr, String(h.notices));
    const reasons = Object.entries(h.refused).map(([k, n]) => k + " " + n).join(", ");
    cell(tr, refused ? refused + " (" + reasons + ")" : "0");
    cell(tr, ended ? (100 * h.on_time / ended).toFixed(1) + " %" : "–");
    body.appendChild(tr);
  });
}

function drawEvents(v) {
  const body = $("events").tBodies[0];
  body.replaceChildren();
  for (const e of v.events.slice().reverse()) {
    const tr = document.createElement("tr");
    tr.dataset.kind = e.kind;
    cell(tr, String(e.seq));
    cell(tr, new Date(e.at_ms).toLocaleTimeString(), "text");
    cell(tr, e.kind, "text");
    cell(tr, e.channel === null ? "" : String(e.channel));
    cell(tr, e.nodes.join(" – "), "text");
    cell(tr, e.by || "", "text");
    cell(tr, e.amount || "");
    body.appendChild(tr);
  }
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  const t = token();
  if (!t) { showLogin(); return; }
  try {
    const r = await fetch("/v1/network", { headers: { Authorization: "Bearer " + t }, cache: "no-store" });
    if (r.status === 401 || r.status === 403) {
      sessionStorage.removeItem(KEY);
      showLogin("the node refused that token (" + r.status + ")");
      return;
    }
    const v = await r.json();
    if (!r.ok) throw new Error((v && v.error) || ("HTTP " + r.status));
    drawGraph(v);
    drawServers(v);
    drawEvents(v);
    $("main").hidden = false;
    $("status").textContent = "updated " + new Date().toLocaleTimeString() + " · " + v.nodes.length + " nodes, " +
      v.edges.length + " edges · " + v.pending + " requests pending";
    document.body.dataset.updated = String(v.now_ms);
  } catch (e) {
    $("status").textContent = "cannot read the node: " + e.message + " (retrying)";
  }
  timer = setTimeout(refresh, POLL_MS);
}

// A link with a token opened in this tab changes only the fragment.
window.addEventListener("hashchange", () => {
  takeFragmentToken();
  $("login").hidden = true;
  refresh();
});

takeFragmentToken();
refresh();
