// The teaching game's page: talks to the JSON API of experiments/serve.py.
// All game logic is on the server (experiments/teaching.py Session); this only draws states.
"use strict";

const $ = (id) => document.getElementById(id);
const ANGER = ["calm", "annoyed", "upset", "angry", "furious"];
const TRUST = ["none", "low", "some", "high"];

let options = null;
// The conversation on screen: its id, whether a policy plays, the states seen so far and which one is shown.
let current = null;
let busy = false;
let generation = 0; // bumped by every "New conversation": answers for older ones are dropped

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data;
  try {
    data = await response.json();
  } catch (e) {
    data = { error: `HTTP ${response.status} without a JSON body` };
  }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// With `serve --record DIR` the server saves every conversation a student finishes: say so, and say where each went.
function showRecording(recording) {
  if (!recording) return;
  if (recording.saved) $("recording-saved").textContent = `Last conversation saved as ${recording.file}.`;
  else showError(recording.error);
}

function teacherOn() {
  return $("teacher").checked;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function signed(value) {
  return (value >= 0 ? "+" : "") + value.toFixed(3);
}

function lineKind(line) {
  const text = line.trim();
  if (/^\[\s*\d+\]/.test(text)) return "agent";
  if (text.startsWith("Customer [")) return "customer";
  if (text.startsWith("[")) return "stage";
  return "meta";
}

function renderLine(line) {
  const text = line.trim();
  const kind = lineKind(line);
  const node = el("div", { class: `line ${kind}` });
  const customer = kind === "customer" ? text.match(/^Customer \[([^\]]*)\]: (.*)$/) : null;
  const agent = kind === "agent" ? text.match(/^(\[\s*\d+\] Agent \([^)]*\)):(.*)$/) : null;
  if (customer) {
    node.append(el("b", { text: "Customer " }), el("span", { class: "tag", text: customer[1] }), " " + customer[2]);
  } else if (agent) {
    node.append(el("b", { text: agent[1] + ":" }), agent[2]);
  } else {
    node.textContent = text;
  }
  return node;
}

function shownState() {
  return current ? current.states[current.index] : null;
}

function render() {
  const state = shownState();
  if (!state) return;
  const persona = state.persona === "mixture" ? "hidden (mixture)" : state.persona.replaceAll("_", " ");
  const who = state.policy ? `policy ${state.policy}` : "you";
  $("status").textContent =
    `Turn ${state.turn} of ${state.max_turns} · agent: ${who} · customer: ${persona} · seed ${state.seed}` +
    ` · tone ${state.tone}, ${state.reaction.replaceAll("_", " ")}`;

  const transcript = $("transcript");
  transcript.replaceChildren(...state.transcript.map(renderLine));
  transcript.scrollTop = transcript.scrollHeight;

  const replay = Boolean(state.policy);
  $("moves").hidden = replay;
  for (const button of $("moves").querySelectorAll("button")) button.disabled = state.done || busy;
  $("replay").hidden = !replay;
  if (replay) {
    const last = current.index === current.states.length - 1;
    $("prev").disabled = busy || current.index === 0;
    $("next").disabled = busy || (last && state.done);
    $("to-end").disabled = busy || (last && state.done);
    $("position").textContent = `move ${state.turn}` + (state.done ? " (end)" : "");
  }

  const summary = state.summary;
  $("summary").hidden = !summary;
  if (summary) {
    $("summary").className = `summary ${summary.outcome}`;
    $("outcome").textContent = summary.outcome.replaceAll("_", " ");
    $("summary-lines").replaceChildren(...summary.lines.map((line) => el("li", { text: line })));
  }
  renderTeacher(state);
}

function gauge(label, kind, value, maximum, text) {
  const fill = el("div");
  fill.style.width = `${Math.max(0, Math.min(1, value / maximum)) * 100}%`;
  return el("div", { class: "gauge" }, el("span", { text: label }), el("div", { class: `bar ${kind}` }, fill),
    el("span", { text }));
}

function renderTeacher(state) {
  const panel = $("teacher-panel");
  const view = state.teacher;
  panel.hidden = !(teacherOn() && view);
  if (panel.hidden) return;
  const h = view.hidden;
  $("gauges").replaceChildren(
    gauge("anger", "anger", h.anger, 4, `${h.anger}/4 ${ANGER[h.anger]} (belief ${view.expected_anger.toFixed(1)})`),
    gauge("trust", "trust", h.trust, 3, `${h.trust}/3 ${TRUST[h.trust]} (belief ${view.expected_trust.toFixed(1)})`),
    gauge("patience", "patience", h.patience, 4, `${h.patience}/4`),
    el("p", { class: "note", text: `true persona: ${h.persona.replaceAll("_", " ")}; heard: ${h.heard ? "yes" : "no"};` +
      ` apologies: ${h.apologies}; abuse: ${h.abuse}` }),
  );
  $("belief").replaceChildren(
    ...Object.entries(view.persona_belief).map(([name, p]) =>
      gauge(name.replaceAll("_", " "), "persona", p, 1, p.toFixed(2))),
  );
  const body = $("advice").querySelector("tbody");
  const advice = view.advice;
  if (!advice) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "3", text: "The conversation is over." })));
    return;
  }
  $("believer").textContent = advice.believer;
  // In a replay whose next state is known, mark the move the policy played from here.
  const following = current.states[current.index + 1];
  const played = following ? following.played[following.played.length - 1] : null;
  body.replaceChildren(
    ...options.moves.map((move) => {
      const name = move.name;
      const marks = [name === advice.belief_best ? "best" : "", name === played ? "played" : ""].filter(Boolean);
      return el("tr", { class: name === advice.belief_best ? "best" : "", "data-move-name": name },
        el("td", { text: `${move.key} ${name}` + (marks.length ? ` (${marks.join(", ")})` : "") }),
        el("td", { class: "num", text: signed(advice.belief_q[name]) }),
        el("td", { class: `num${name === advice.oracle_best ? " oracle-best" : ""}`, text: signed(advice.oracle_q[name]) }));
    }),
  );
}

function setBusy(value) {
  busy = value;
  document.body.dataset.busy = value ? "1" : "0"; // tests wait for data-busy="0"
}

async function withBusy(action, force = false) {
  if (busy && !force) return;
  setBusy(true);
  render();
  try {
    showError("");
    await action();
  } catch (error) {
    showError(error.message);
  } finally {
    setBusy(false);
    render();
  }
}

function startConversation(event) {
  if (event) event.preventDefault();
  const mine = ++generation;
  return withBusy(async () => {
    const replay = document.querySelector("input[name=mode]:checked").value === "replay";
    const body = { persona: $("persona").value, teacher: replay || teacherOn() };
    const seed = $("seed").value.trim();
    if (seed !== "") body.seed = Number(seed);
    if (replay) body.policy = $("policy").value;
    const data = await api("POST", "/api/sessions", body);
    if (mine !== generation) return;
    current = { id: data.id, states: [data.state], index: 0 };
    $("seed").placeholder = `random (last: ${data.state.seed})`;
  }, true);
}

function makeMove(moveId) {
  const state = shownState();
  if (!state || state.policy || state.done) return;
  const session = current;
  return withBusy(async () => {
    const data = await api("POST", `/api/sessions/${session.id}/move`, { move: moveId, teacher: teacherOn() });
    session.states.push(data.state);
    session.index = session.states.length - 1;
    showRecording(data.recording);
  });
}

async function stepOnce(session) {
  if (session.index < session.states.length - 1) {
    session.index += 1;
    return;
  }
  const data = await api("POST", `/api/sessions/${session.id}/step`, { teacher: true });
  session.states.push(data.state);
  session.index = session.states.length - 1;
}

function next() {
  const state = shownState();
  if (!state || !state.policy) return;
  const session = current;
  return withBusy(() => stepOnce(session));
}

function toEnd() {
  const state = shownState();
  if (!state || !state.policy) return;
  const session = current;
  return withBusy(async () => {
    const atEnd = () => session.index === session.states.length - 1 && session.states[session.index].done;
    while (!atEnd() && session === current) await stepOnce(session);
  });
}

function previous() {
  if (current && current.index > 0 && !busy) {
    current.index -= 1;
    render();
  }
}

function toggleTeacher() {
  const state = shownState();
  if (!state) return;
  if (!teacherOn() || state.teacher || state.policy) {
    render();
    return;
  }
  const session = current;
  const index = session.index;
  return withBusy(async () => {
    const data = await api("GET", `/api/sessions/${session.id}?teacher=1`);
    if (index === session.states.length - 1) session.states[index] = data.state;
  });
}

function onKey(event) {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const state = shownState();
  if (!state) return;
  if (!state.policy && /^[1-6]$/.test(event.key)) makeMove(Number(event.key) - 1);
  else if (state.policy && event.key === "ArrowRight") next();
  else if (state.policy && event.key === "ArrowLeft") previous();
}

async function init() {
  try {
    options = await api("GET", "/api/options");
  } catch (error) {
    showError(`cannot load the options: ${error.message}`);
    setBusy(false);
    return;
  }
  if (options.recording && options.recording.on) {
    $("recording-notice").textContent = options.recording.notice;
    $("recording").hidden = false;
  }
  $("persona").replaceChildren(...options.personas.map((name) => el("option", { value: name, text: name })));
  $("persona").value = options.defaults.persona;
  $("policy").replaceChildren(
    ...options.policies.map((p) => el("option", { value: p.name, text: `${p.name} (${p.kind})`, title: p.description })),
  );
  $("policy").value = options.defaults.policy;
  $("moves").replaceChildren(
    ...options.moves.map((move) => {
      const button = el("button", { type: "button", "data-move": String(move.id), title: `key ${move.key}` },
        el("span", { class: "key", text: move.key }), ` ${move.name.replace("_", " ")}`);
      button.addEventListener("click", () => makeMove(move.id));
      return button;
    }),
  );
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => {
      $("policy").disabled = document.querySelector("input[name=mode]:checked").value !== "replay";
    });
  }
  $("setup").addEventListener("submit", startConversation);
  $("teacher").addEventListener("change", toggleTeacher);
  $("next").addEventListener("click", next);
  $("prev").addEventListener("click", previous);
  $("to-end").addEventListener("click", toEnd);
  document.addEventListener("keydown", onKey);
  await startConversation();
}

init();
