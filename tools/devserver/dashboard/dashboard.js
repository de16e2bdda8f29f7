// SPDX-License-Identifier: Apache-2.0
// The dashboard page: the session list, one session's detail, live via Server-Sent
// Events. Every text from clients and backends goes in as textContent (never innerHTML).
"use strict";

const API = "/dashboard/api";
let selected = new URLSearchParams(location.search).get("session");
let lastEnded = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function fmt(n, digits) {
  return (n === null || n === undefined) ? "" : Number(n).toFixed(digits ?? 0);
}

function clock(t) {
  return t ? new Date(t * 1000).toLocaleTimeString() : "";
}

function since(t, start) {
  return (t && start) ? (t - start).toFixed(2) : "";
}

async function getJson(url) {
  const resp = await fetch(url, {cache: "no-store"});
  if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
  return resp.json();
}

function replaceRows(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows);
}

async function loadList() {
  const data = await getJson(API + "/sessions");
  const rows = data.sessions.map((s) => {
    const state = s.open ? "open" : "ended";
    const row = el("tr", {"data-session": s.id, class: s.id === selected ? "selected" : null},
      el("td", {class: "id"}, s.id),
      el("td", {}, s.agent_id || s.agent || ""),
      el("td", {}, clock(s.started)),
      el("td", {}, el("span", {class: "badge " + state}, state)),
      el("td", {class: "num"}, s.turn_count),
      el("td", {class: "num"}, fmt(s.latency_p50_ms)),
      el("td", {class: "num"}, s.error_count));
    row.addEventListener("click", () => select(s.id));
    return row;
  });
  replaceRows(document.getElementById("sessions"), rows);
  document.getElementById("list-note").textContent =
    data.sessions.length ? (data.dropped ? data.dropped + " older session(s) dropped" : "")
      : "No sessions yet.";
}

function select(id) {
  selected = id;
  lastEnded = null;
  history.replaceState(null, "", "?session=" + encodeURIComponent(id));
  loadList().catch(showDown);
  loadDetail().catch(showDown);
}

function audioNotes(d) {
  for (const side of ["user", "agent"]) {
    const a = d.audio[side];
    let note = fmt(a.seconds, 1) + " s" + (a.rate ? " @ " + a.rate + " Hz" : "");
    if (a.dropped_seconds) note += ", " + fmt(a.dropped_seconds, 1) + " s not kept";
    if (a.released) note += " (released to bound memory)";
    document.getElementById("a-" + side + "-note").textContent = note;
  }
}

function setAudio(d) {
  for (const side of ["user", "agent"]) {
    document.getElementById("a-" + side).src = API + "/sessions/" +
      encodeURIComponent(d.id) + "/audio/" + side + ".wav?v=" + Date.now();
  }
  audioNotes(d);
}

function turnText(t) {
  const parts = [];
  if (t.role === "user") {
    parts.push(el("div", {class: "transcript"}, t.transcript ?? t.interim ?? ""));
    if (t.asr) {
      parts.push(el("div", {class: "muted"}, "asr " + (t.asr.engine || "") + ": " +
        fmt(t.asr.ms) + " ms for " + fmt(t.asr.audio_seconds, 1) + " s"));
    }
  } else {
    parts.push(el("div", {class: "agent-text"}, t.text || t.tts || ""));
    if (t.tts && t.text && t.tts !== t.text) parts.push(el("div", {class: "muted"}, "tts: " + t.tts));
    const audio = t.audio_chunks ? t.audio_chunks + " audio chunk(s)" : "no audio";
    parts.push(el("div", {class: "muted"}, audio));
    if (t.interrupted) parts.push(el("div", {class: "interrupted"}, "interrupted"));
  }
  return parts;
}

function callSummary(c) {
  return (c.event || "?") + " " + (c.status ?? "…") + " " + (c.outcome || "in flight");
}

function renderTurns(d) {
  const calls = Object.fromEntries(d.webhook_calls.map((c) => [c.request_id, c]));
  const rows = d.turns.map((t) => el("tr", {"data-turn": t.turn_id, "data-role": t.role},
    el("td", {class: "num"}, since(t.t, d.started)),
    el("td", {class: "role-" + t.role}, t.role),
    el("td", {class: "id"}, t.turn_id),
    el("td", {}, ...turnText(t)),
    el("td", {class: "num latency" + (t.latency_source === "derived" ? " derived" : ""),
      title: t.latency_source === "derived" ? "derived: transcript sent -> first audio sent"
        : (t.trigger ? "trigger " + t.trigger : "")}, fmt(t.latency_ms)),
    el("td", {}, ...t.webhook.map((id) => el("div", {}, calls[id] ? callSummary(calls[id]) : id)))));
  replaceRows(document.getElementById("turns"), rows);
  document.getElementById("turns-note").textContent =
    (d.turns.length ? "" : "No turns yet. ") +
    (d.turns_dropped ? d.turns_dropped + " older turn(s) dropped." : "");
}

function renderCalls(d) {
  const rows = d.webhook_calls.map((c) => el("tr", {"data-request": c.request_id},
    el("td", {class: "num"}, since(c.t, d.started)),
    el("td", {}, c.event || ""),
    el("td", {class: "id"}, c.turn_id || ""),
    el("td", {class: "num"}, c.status ?? ""),
    el("td", {class: "num"}, fmt(c.first_event_ms)),
    el("td", {class: "num"}, fmt(c.end_ms)),
    el("td", {class: c.outcome && c.outcome !== "ok" ? "error" : ""},
      (c.outcome || "in flight") + (c.error ? ": " + c.error : "")),
    el("td", {}, el("ul", {class: "events"},
      ...c.events.map((e) => el("li", {}, fmt(e.ms) + " ms " + e.event)),
      c.events_dropped ? el("li", {class: "muted"}, c.events_dropped + " more not kept") : null))));
  replaceRows(document.getElementById("calls"), rows);
  document.getElementById("calls-note").textContent = d.webhook_calls.length ?
    "" : "No webhook calls (the bridge is not in use for this session).";
}

function renderNotes(id, items, start) {
  const list = document.getElementById(id);
  list.replaceChildren(...items.map((n) => {
    const rest = Object.entries(n).filter(([k]) => k !== "t" && k !== "kind")
      .map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join(" ");
    return el("li", {}, "+" + since(n.t, start) + " s " + n.kind + " " + rest);
  }));
  if (!items.length) list.replaceChildren(el("li", {class: "muted"}, "none"));
}

async function loadDetail() {
  const pane = document.getElementById("detail-pane");
  if (!selected) { pane.hidden = true; return; }
  const d = await getJson(API + "/sessions/" + encodeURIComponent(selected));
  pane.hidden = false;
  document.getElementById("d-id").textContent = d.id;
  const state = document.getElementById("d-state");
  state.textContent = d.open ? "open" : "ended";
  state.className = "badge " + (d.open ? "open" : "ended");
  const info = [["agent", d.agent], ["agent_id", d.agent_id], ["conversation", d.conversation_id],
    ["turn mode", d.turn_mode], ["codec", d.codec], ["started", clock(d.started)],
    ["ended", clock(d.ended)], ["close code", d.close && d.close.code],
    ["latency p50 ms", fmt(d.latency_p50_ms)]];
  document.getElementById("d-info").replaceChildren(...info.flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", {}, v ?? "")]));
  renderTurns(d);
  renderCalls(d);
  renderNotes("faults", d.faults, d.started);
  renderNotes("errors", d.errors, d.started);
  audioNotes(d);
  if (lastEnded === null || (d.ended && d.ended !== lastEnded)) {
    setAudio(d);            // first view, and again once the session has ended
    lastEnded = d.ended || 0;
  }
}

function showDown(err) {
  const live = document.getElementById("live");
  live.textContent = "error: " + err.message;
  live.className = "badge down";
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource(API + "/events");
  source.onopen = () => { live.textContent = "live"; live.className = "badge live"; };
  source.onerror = () => { live.textContent = "reconnecting…"; live.className = "badge down"; };
  source.onmessage = (ev) => {
    let note;
    try { note = JSON.parse(ev.data); } catch (e) { return; }
    loadList().catch(showDown);
    if (selected && (note.all || note.sessions.includes(selected))) loadDetail().catch(showDown);
  };
}

document.getElementById("refresh-audio").addEventListener("click", async () => {
  if (!selected) return;
  setAudio(await getJson(API + "/sessions/" + encodeURIComponent(selected)));
});
loadList().catch(showDown);
loadDetail().catch(showDown);
connect();
