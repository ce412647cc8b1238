"use strict";
// The control room: cases pushed by the worker (server-sent events), acted on through the API.
// Every value that comes from an event reaches the page through textContent or an attribute,
// never as markup.

const MAX_CASES = 1000;          // a page left open for days holds at most this many
const ORDER = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
const STATES = ["NEW", "TAKEN", "INSPECTION_REQUESTED", "DISPOSED"];
const cases = new Map();         // case_id -> newest summary
const fresh = new Set();
let me = null;
let csrfToken = "";
let cursor = "";
let openId = null;
let openDetail = null;
let openEvents = {events: [], note: ""};   // the open case's shipment events
const $ = (id) => document.getElementById(id);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
  }
  return node;
}

const time = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
const label = (state) => state.toLowerCase().replace("_", " ");

function signIn() {
  window.location.assign("/sign-in?next=" + encodeURIComponent("/control-room/"));
}

async function whoAmI() {
  const response = await fetch("/control-room/api/me", {cache: "no-store"});
  if (response.status === 401) { signIn(); return false; }
  const body = await response.json();
  me = body.user;
  csrfToken = body.csrf_token;
  $("user").textContent = `${me.username} · ${me.role.toLowerCase()}` +
    (me.offices.length ? ` · ${me.offices.join(", ")}` : "");
  const acts = me.role === "OFFICER" || me.role === "SUPERVISOR";
  $("panel-actions").hidden = !acts;
  for (const node of document.querySelectorAll(".supervisor")) node.hidden = me.role !== "SUPERVISOR";
  $("show-outcomes").hidden = !(me.role === "ANALYST" || me.role === "SUPERVISOR");
  return true;
}

function keep(summary) {
  const known = cases.get(summary.case_id);
  if (known && known.version >= summary.version) return;
  cases.delete(summary.case_id);
  cases.set(summary.case_id, summary);
  fresh.add(summary.case_id);
  if (cases.size > MAX_CASES) {
    // Disposed cases go first, the longest unchanged first; then the longest unchanged of all.
    const byAge = [...cases.values()].sort((a, b) => a.changed_at - b.changed_at);
    const victim = byAge.find((c) => c.state === "DISPOSED") || byAge[0];
    cases.delete(victim.case_id);
  }
}

function shown(c) {
  const office = $("office").value, rule = $("rule").value, state = $("state").value;
  if (office && c.office_code !== office) return false;
  if (ORDER.indexOf(c.severity) < ORDER.indexOf($("severity").value)) return false;
  if (rule && !c.rule_ids.includes(rule)) return false;
  if ($("mine").checked && c.owner !== me.username) return false;
  if (state === "snoozed") return c.snoozed;
  if (c.snoozed && state !== "all") return false;
  if (state === "open") return c.state !== "DISPOSED";
  return state === "all" || c.state === state;
}

function addOptions(select, values) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const value of [...values].sort()) if (!have.has(value)) select.add(new Option(value, value));
}

function render() {
  const rows = [...cases.values()].filter(shown).sort((a, b) => b.changed_at - a.changed_at);
  const body = $("cases");
  body.replaceChildren(...rows.map((c) => {
    const row = el("tr", {class: `case ${c.severity} ${c.state}` + (fresh.has(c.case_id) ? " fresh" : "") +
                                 (c.case_id === openId ? " open" : ""), "data-id": c.case_id},
      el("td", {}, time(c.last_event_time)),
      el("td", {}, el("span", {class: `sev ${c.severity}`}, c.severity)),
      el("td", {title: c.score_explanation}, c.score),
      el("td", {}, c.rule_ids.join(", ")),
      el("td", {}, c.office_code),
      el("td", {}, el("code", {}, c.transport_doc_no || c.case_key)),
      el("td", {}, label(c.state) + (c.snoozed ? " · snoozed" : "") +
                   (c.alerts_after_disposal ? ` · ${c.alerts_after_disposal} new alerts` : "")),
      el("td", {}, c.owner || "–"));
    return row;
  }));
  fresh.clear();
  $("empty").style.display = rows.length ? "none" : "block";
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const c of cases.values()) counts[c.state] += 1;
  $("counts").replaceChildren(...STATES.map((s) => el("span", {}, label(s) + " ", el("b", {}, counts[s]))));
  addOptions($("office"), new Set([...cases.values()].map((c) => c.office_code)));
  addOptions($("rule"), new Set([...cases.values()].flatMap((c) => c.rule_ids)));
}

async function openCase(caseId) {
  openId = caseId;
  const response = await fetch(`/control-room/api/cases/${encodeURIComponent(caseId)}`, {cache: "no-store"});
  if (response.status === 401) { signIn(); return; }
  if (!response.ok) { openId = null; $("panel").hidden = true; return; }
  openDetail = await response.json();
  openEvents = await shipmentEvents(caseId);
  renderPanel();
  render();
}

// The shipment's own events come from the worker holding its state; while the
// group rebalances nobody may (503): the timeline says so and shows the alerts.
async function shipmentEvents(caseId) {
  const response = await fetch(`/control-room/api/cases/${encodeURIComponent(caseId)}/events`, {cache: "no-store"});
  if (response.ok) return {events: (await response.json()).events, note: ""};
  return {events: [], note: "the shipment's own events are not available now; open the case again shortly"};
}

const facts = (f) => Object.entries(f).map(([name, value]) => `${name} ${value}`).join(", ");

function renderPanel() {
  const {case: c, alerts, actions} = openDetail;
  $("panel").hidden = false;
  $("panel-title").replaceChildren(el("span", {class: `sev ${c.severity}`}, c.severity), " ",
                                   c.transport_doc_no || c.case_key);
  $("panel-score").textContent = `score ${c.score}: ${c.score_explanation}`;
  $("panel-parts").replaceChildren(...c.score_parts.map((p) =>
    el("li", {}, `${p.rule_id}: ${p.score} (${p.severity}, ${p.alerts} alert${p.alerts === 1 ? "" : "s"})`)));
  $("panel-state").textContent = `${label(c.state)}` + (c.owner ? ` · ${c.owner}` : "") +
    (c.outcome ? ` · ${c.outcome}` : "") + (c.outcome_note ? `: ${c.outcome_note}` : "") +
    ` · office ${c.office_code} · declarations ${c.declaration_ids.join(", ") || "–"}` +
    ` · containers ${c.container_nos.join(", ") || "–"}`;
  const ruleSelect = $("snooze-rule"), subjectSelect = $("snooze-subject");
  ruleSelect.replaceChildren(...c.rule_ids.map((r) => new Option(r, r)));
  subjectSelect.replaceChildren(...c.subjects.map((s) => new Option(s, s)));
  const entries = [
    ...openEvents.events.map((e) => ({at: e.event_time, node: el("li", {class: "event"},
      `${time(e.event_time)} · ${e.kind} at ${e.office_code} · ${facts(e.facts)}`)})),
    ...alerts.map((a) => ({at: Date.parse(a.event_time), node: el("li", {class: "alert-entry"},
      `${a.event_time.replace("T", " ").slice(0, 19)} · `, el("span", {class: `sev ${a.severity}`}, a.rule_id),
      ` ${a.explanation}`)})),
  ].sort((x, y) => x.at - y.at);
  $("timeline").replaceChildren(...entries.map((e) => e.node));
  $("timeline-note").textContent = openEvents.note;
  $("alerts").replaceChildren(...alerts.map((a) => el("div", {class: "alert"},
    el("div", {}, el("span", {class: `sev ${a.severity}`}, a.severity), ` ${a.rule_id} · score ${a.score} · `,
       el("code", {}, a.alert_id), ` v${a.version}`),
    el("div", {}, a.explanation),
    el("dl", {}, ...a.evidence.flatMap((e) => [el("dt", {}, e.name), el("dd", {}, `observed: ${e.observed}`),
                                                el("dd", {}, `expected: ${e.expected}`)])))));
  $("audit").replaceChildren(...actions.map((a) => el("li", {},
    `${a.at.replace("T", " ").slice(0, 19)} · ${a.by} · ${label(a.action)}` +
    (a.assignee ? ` to ${a.assignee}` : "") + (a.outcome ? ` ${a.outcome}` : "") +
    (a.rule_id ? ` ${a.rule_id} on ${a.subject} until ${a.until.replace("T", " ").slice(0, 16)}` : "") +
    (a.note ? `: ${a.note}` : ""))));
}

async function act(kind) {
  const body = {action: kind};
  const note = $("note").value.trim();
  if (note) body.note = note;
  if (kind === "DISPOSE") body.outcome = $("outcome").value;
  if (kind === "ASSIGN") body.assignee = $("assignee").value.trim();
  if (kind === "SNOOZE") {
    body.rule_id = $("snooze-rule").value;
    body.subject = $("snooze-subject").value;
    body.until = Date.now() + Number($("snooze-hours").value) * 3600 * 1000;
  }
  const response = await fetch(`/control-room/api/cases/${encodeURIComponent(openId)}/actions`, {
    method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken},
    body: JSON.stringify(body)});
  if (response.status === 401) { signIn(); return; }
  const answer = await response.json();
  $("action-error").textContent = response.ok ? "" : answer.error;
  if (response.ok) $("note").value = "";
}

let outcomesTimer = null;
async function showOutcomes() {
  clearTimeout(outcomesTimer);
  if ($("outcomes").hidden) return;
  const response = await fetch("/control-room/api/outcomes", {cache: "no-store"});
  if (response.ok) {
    const {rules} = await response.json();
    const percent = (x) => `${(100 * x).toFixed(0)} %`;
    $("outcome-rows").replaceChildren(...rules.map((r) => el("tr", {class: r.precision < r.floor ? "under" : ""},
      el("td", {}, r.rule_id), el("td", {}, r.inspected), el("td", {}, r.confirmed),
      el("td", {}, percent(r.precision)), el("td", {}, percent(r.floor)))));
    $("outcomes-empty").hidden = rules.length > 0;
  }
  outcomesTimer = setTimeout(showOutcomes, 30000);
}

function connect() {
  // The cursor (topic positions) resumes the stream on any worker, after a restart too.
  const source = new EventSource("/control-room/api/cases/stream" +
                                 (cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""));
  source.addEventListener("case", (event) => {
    const summary = JSON.parse(event.data);
    keep(summary);
    if (summary.case_id === openId) openCase(openId);
  });
  source.addEventListener("cursor", (event) => {
    cursor = JSON.parse(event.data);
    render();
    $("status").textContent = `live · ${new Date().toLocaleTimeString()}`;
    $("status").className = "status";
  });
  source.onerror = async () => {
    $("status").textContent = "no connection to the worker, reconnecting…";
    $("status").className = "status down";
    if (source.readyState === EventSource.CLOSED) {
      if (await whoAmI()) setTimeout(connect, 2000);
    }
  };
}

$("cases").addEventListener("click", (event) => {
  const row = event.target.closest("tr.case");
  if (row) openCase(row.dataset.id);
});
$("close").addEventListener("click", () => { openId = null; $("panel").hidden = true; render(); });
$("panel-actions").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button.dataset.action);
});
for (const id of ["office", "severity", "rule", "state", "mine"]) $(id).addEventListener("change", render);
$("show-outcomes").addEventListener("click", () => {
  $("outcomes").hidden = !$("outcomes").hidden;
  showOutcomes();
});
$("sign-out").addEventListener("click", async () => {
  await fetch("/sign-out", {method: "POST", headers: {"X-CSRF-Token": csrfToken}});
  signIn();
});
whoAmI().then((signedIn) => { if (signedIn) { render(); connect(); } });
