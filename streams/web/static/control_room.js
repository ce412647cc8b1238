"use strict";
const alerts = new Map();   // alert_id -> newest version
let sequence = 0;
let open = null;
const $ = (id) => document.getElementById(id);

// Every value from an event goes through here before it reaches markup: text, and attribute-safe.
const ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
function text(value) {
  return (value == null ? "" : String(value)).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

let csrfToken = null;
async function whoAmI() {
  const response = await fetch("/control-room/api/me", {cache: "no-store"});
  if (response.status === 401) { signIn(); return; }
  const body = await response.json();
  csrfToken = body.csrf_token;
  const u = body.user;
  $("user").textContent = `${u.username} · ${u.role.toLowerCase()}` +
    (u.offices.length ? ` · ${u.offices.join(", ")}` : "");
}

function signIn() {
  window.location.assign("/sign-in?next=" + encodeURIComponent("/control-room/"));
}

function render(freshIds) {
  const office = $("office").value;
  const order = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
  const floor = order.indexOf($("severity").value || "LOW");
  const rows = [...alerts.values()]
    .filter((a) => (!office || a.office_code === office) && order.indexOf(a.severity) >= floor)
    .sort((a, b) => b.sequence - a.sequence);
  const html = [];
  for (const a of rows) {
    const fresh = freshIds.has(a.alert_id) ? " fresh" : "";
    html.push(`<tr class="alert${fresh}" data-id="${text(a.alert_id)}">` +
      `<td>${text(a.event_time.replace("T", " ").slice(0, 19))}</td>` +
      `<td><span class="sev ${a.severity}">${a.severity}</span></td>` +
      `<td>${a.score}</td><td>${text(a.rule_id)}</td>` +
      `<td>${text(a.office_code)}${a.gate_id ? " · " + text(a.gate_id) : ""}</td>` +
      `<td>${text(a.subject_type.toLowerCase())} <code>${text(a.subject_id)}</code></td>` +
      `<td>${text(a.explanation)}</td></tr>`);
    if (open === a.alert_id) {
      const items = a.evidence.map((e) =>
        `<dt>${text(e.name)}</dt><dd>observed: ${text(e.observed)}</dd><dd>expected: ${text(e.expected)}</dd>`);
      html.push(`<tr class="evidence"><td colspan="7"><dl>${items.join("")}</dl>` +
        `<div>alert <code>${text(a.alert_id)}</code> · version ${a.version} · rule version ${a.rule_version}` +
        ` · declarations ${text(a.declaration_ids.join(", ") || "–")}` +
        ` · containers ${text(a.container_nos.join(", ") || "–")}</div></td></tr>`);
    }
  }
  $("alerts").innerHTML = html.join("");
  $("empty").style.display = rows.length ? "none" : "block";
  const counts = {};
  for (const a of alerts.values()) counts[a.severity] = (counts[a.severity] || 0) + 1;
  $("counts").innerHTML = order.slice().reverse()
    .map((s) => `<span><span class="sev ${s}">${s}</span> ${counts[s] || 0}</span>`).join("");
  const offices = [...new Set([...alerts.values()].map((a) => a.office_code))].sort();
  const select = $("office");
  for (const o of offices) {
    if (![...select.options].some((opt) => opt.value === o)) select.add(new Option(o, o));
  }
}

async function poll() {
  try {
    const response = await fetch(`/control-room/api/alerts?since=${sequence}`, {cache: "no-store"});
    if (response.status === 401) { signIn(); return; }
    if (!response.ok) throw new Error(response.status);
    const body = await response.json();
    const fresh = new Set();
    for (const a of body.alerts) { alerts.set(a.alert_id, a); fresh.add(a.alert_id); }
    sequence = body.sequence;
    if (fresh.size) render(fresh);
    $("status").textContent = `live · ${new Date().toLocaleTimeString()}`;
    $("status").className = "status";
  } catch (error) {
    $("status").textContent = `no connection to the worker (${error.message})`;
    $("status").className = "status down";
  }
  setTimeout(poll, 1000);
}

$("alerts").addEventListener("click", (event) => {
  const row = event.target.closest("tr.alert");
  if (!row) return;
  open = open === row.dataset.id ? null : row.dataset.id;
  render(new Set());
});
$("office").addEventListener("change", () => render(new Set()));
$("severity").addEventListener("change", () => render(new Set()));
$("sign-out").addEventListener("click", async () => {
  await fetch("/sign-out", {method: "POST", headers: {"X-CSRF-Token": csrfToken || ""}});
  signIn();
});
render(new Set());
whoAmI();
poll();
