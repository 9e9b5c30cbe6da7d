// The operator HMI page. Data arrives over the websocket (/ws) as the server's snapshot; every
// text from the robots is put in the page with textContent, never as HTML, so that a sign or a QR
// code cannot inject markup. Actions are POSTed to /api/action with the session's CSRF token; the
// server decides who is acting from the session, never from anything this page sends.
'use strict';

const state = { who: null, snapshot: null, world: null, mapImage: null, selected: {}, rendered: {}, frames: {} };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text, isError = false) {
  const message = document.getElementById('message');
  message.textContent = text;
  message.className = isError ? 'error' : '';
}

function clock(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toLocaleTimeString() : '—';
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  return { ok: response.ok, status: response.status, body };
}

// ---- login ----------------------------------------------------------------------------------

async function start() {
  const session = await api('/api/session');
  if (session.ok) return enter(session.body);
  document.getElementById('login').hidden = false;
}

document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = document.getElementById('login-name').value;
  const secret = document.getElementById('login-secret').value;
  const answer = await api('/api/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, secret }),
  });
  if (!answer.ok) {
    document.getElementById('login-error').textContent = (answer.body && answer.body.error) || `login failed (${answer.status})`;
    return;
  }
  enter(answer.body);
});

document.getElementById('logout').addEventListener('click', async () => {
  await api('/api/logout', { method: 'POST' });
  location.reload();
});

async function enter(who) {
  state.who = who;
  document.getElementById('login').hidden = true;
  document.getElementById('main').hidden = false;
  document.getElementById('logout').hidden = false;
  document.getElementById('who').textContent = `${who.name} (${who.role})`;
  const world = await api('/api/world');
  state.world = world.ok ? world.body : null;
  if (state.world && state.world.map) {
    const image = new Image();
    image.onload = () => { state.mapImage = image; state.rendered = {}; };
    image.src = '/api/map.png';
  }
  connect();
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  const badge = document.getElementById('connection');
  socket.onopen = () => { badge.textContent = 'live'; badge.className = 'badge ok'; };
  socket.onmessage = (event) => { state.snapshot = JSON.parse(event.data); render(); };
  socket.onclose = () => {
    badge.textContent = 'disconnected: reconnecting'; badge.className = 'badge stale';
    setTimeout(async () => { if ((await api('/api/session')).ok) connect(); else location.reload(); }, 2000);
  };
}

// ---- actions --------------------------------------------------------------------------------

const mayAct = () => state.who && state.who.role === 'operator';

async function act(body, what) {
  say(`${what}…`);
  const answer = await api('/api/action', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state.who.csrf },
    body: JSON.stringify(body),
  });
  const text = answer.body ? (answer.body.message || answer.body.error) : `HTTP ${answer.status}`;
  say(`${what}: ${answer.ok ? 'done' : 'refused'}: ${text}`, !answer.ok);
}

function actionButton(label, body, what, askReason = '') {
  const button = el('button', {
    'data-action': body.action,
    disabled: !mayAct(),
    title: mayAct() ? '' : 'a viewer may not act: only operators',
    onclick: async () => {
      const request = { ...body };
      if (askReason) {
        const reason = prompt(askReason);
        if (reason === null) return;
        if (body.action === 'assign') request.assignee = reason; else request.reason = reason;
      }
      await act(request, what);
    },
  }, label);
  return button;
}

// ---- rendering ------------------------------------------------------------------------------

function render() {
  const container = document.getElementById('robots');
  for (const robot of state.snapshot.robots) {
    let panel = document.getElementById(`robot-${robot.id}`);
    if (!panel) {
      panel = el('section', { id: `robot-${robot.id}`, class: 'robot', 'data-robot': robot.id });
      container.append(panel);
    }
    // Rebuild the panel only when something other than the pose or the data's age changed, so
    // that buttons stay put under the operator's pointer.
    const key = JSON.stringify([robot.incidents, robot.proposals, robot.gate, robot.notices, robot.stale,
      state.selected[robot.id], !!state.mapImage]);
    // Not while the operator types a value into the panel's edit form (the rebuild waits for
    // the next update after it); open edit forms keep their values across a rebuild.
    const typing = panel.contains(document.activeElement) && document.activeElement.matches('input');
    if (state.rendered[robot.id] !== key && !typing) {
      state.rendered[robot.id] = key;
      const drafts = editDrafts(panel);
      panel.replaceChildren(...robotPanel(robot));
      restoreDrafts(panel, drafts);
    }
    panel.classList.toggle('is-stale', robot.stale);
    const age = panel.querySelector('.data-age');
    if (age) age.textContent = robot.last_data_age_s === null ? 'no data yet' : `last data ${robot.last_data_age_s.toFixed(1)} s ago`;
    drawMap(panel.querySelector('canvas.map'), robot);
    drawFrame(panel.querySelector('canvas.camera'), robot);
  }
  renderAudit();
}

function editDrafts(panel) {
  const drafts = {};
  for (const form of panel.querySelectorAll('details.edit[open]')) {
    const plan = form.closest('[data-plan]').dataset.plan;
    drafts[plan] = [...form.querySelectorAll('input[data-step]')].map((input) => input.value);
  }
  return drafts;
}

function restoreDrafts(panel, drafts) {
  for (const [plan, values] of Object.entries(drafts)) {
    const form = [...panel.querySelectorAll('[data-plan]')].find((p) => p.dataset.plan === plan)?.querySelector('details.edit');
    if (!form) continue;  // the plan is no longer proposed
    form.open = true;
    form.querySelectorAll('input[data-step]').forEach((input, i) => { if (i < values.length) input.value = values[i]; });
  }
}

function robotPanel(robot) {
  if (!robot.incidents.some((i) => i.id === state.selected[robot.id])) {
    state.selected[robot.id] = robot.incidents.length ? robot.incidents[0].id : null;
  }
  const incident = robot.incidents.find((i) => i.id === state.selected[robot.id]) || null;
  const proposal = incident ? robot.proposals.find((p) => p.incident_id === incident.id) : null;
  const head = el('div', { class: 'robot-head' },
    el('h2', {}, `robot ${robot.id}`),
    robot.stale ? el('span', { class: 'badge stale robot-stale' }, 'STALE: no data, state unknown') : el('span', { class: 'badge ok' }, 'live'),
    el('span', { class: 'data-age' }),
    gateSummary(robot));
  const left = el('div', {}, el('h3', {}, 'Camera'), el('canvas', { class: 'camera', width: 320, height: 240 }),
    el('h3', {}, 'Map'), el('canvas', { class: 'map', width: 320, height: 320 }));
  const middle = el('div', {}, el('h3', {}, `Incidents (${robot.incidents.length})`),
    robot.incidents.length ? robot.incidents.map((i) => incidentRow(robot, i)) : el('p', {}, 'none open'),
    incident ? evidenceList(incident) : null,
    robot.notices.length ? el('div', {}, el('h3', {}, 'Notices'), el('ul', {}, robot.notices.map((n) => el('li', {}, `${clock(n.stamp)} ${n.kind}: ${n.message}`)))) : null);
  const right = el('div', { class: 'proposal' }, el('h3', {}, 'Recovery plans'),
    incident ? proposalView(robot, incident, proposal) : el('p', {}, 'no incident selected'));
  return [head, el('div', { class: 'robot-body' }, left, middle, right)];
}

function gateSummary(robot) {
  const gate = robot.gate;
  if (!gate) return el('span', { class: 'badge stale gate-state' }, 'gate: not heard');
  const stopped = gate.stop_reasons.length > 0;
  return el('span', { class: 'gate' },
    el('span', { class: `badge gate-state ${stopped ? 'stop' : 'ok'}` }, `gate: ${gate.state}`),
    gate.estop_engaged ? el('span', { class: 'badge critical' }, 'E-STOP') : null,
    gate.person_in_zone ? el('span', { class: 'badge critical' }, 'person in zone') : null,
    ` limits ${gate.max_linear_speed.toFixed(2)} m/s, ${gate.max_angular_speed.toFixed(2)} rad/s`,
    gate.speed_limit_reason ? ` (${gate.speed_limit_reason})` : '',
    gate.active_plan_id ? ` executing ${gate.active_plan_id} step ${gate.active_step}` : '',
    stopped ? el('span', { class: 'stop-reasons' }, ' stopped: ', gate.stop_reasons.join('; ')) : null,
    gate.reset_required ? actionButton('reset gate', { action: 'reset', robot: robot.id }, 'reset', 'Why is it safe to reset?') : null);
}

function incidentRow(robot, incident) {
  const selected = incident.id === state.selected[robot.id];
  return el('div', {
    class: `incident sev-${incident.severity}${selected ? ' selected' : ''}`, 'data-incident': incident.id,
    onclick: () => { state.selected[robot.id] = incident.id; state.rendered[robot.id] = null; render(); },
  },
  el('strong', { class: 'kind' }, incident.kind), ' ',
  el('span', { class: `badge ${incident.severity}` }, incident.severity), ' ',
  el('span', { class: 'badge state' }, incident.state), incident.stale ? el('span', { class: 'badge stale' }, 'stale') : null,
  el('div', {}, incident.summary),
  el('div', {}, `opened ${clock(incident.opened)}`, incident.owner ? `, owner ${incident.owner}` : '', `, confidence ${incident.confidence.toFixed(2)} `,
    el('a', { class: 'report', target: '_blank', href: `/report/${encodeURIComponent(incident.id)}?robot=${encodeURIComponent(robot.id)}` }, 'report')),
  selected ? el('div', { class: 'incident-actions' },
    actionButton('acknowledge', { action: 'acknowledge', robot: robot.id, incident_id: incident.id }, 'acknowledge'),
    actionButton('assign…', { action: 'assign', robot: robot.id, incident_id: incident.id }, 'assign', 'Assign to which operator?'),
    actionButton('handled on site', { action: 'handled_on_site', robot: robot.id, incident_id: incident.id }, 'handled on site'),
    actionButton('dismiss…', { action: 'dismiss', robot: robot.id, incident_id: incident.id }, 'dismiss', 'Why dismiss it?')) : null);
}

function evidenceList(incident) {
  return el('div', { class: 'evidence' }, el('h3', {}, `Evidence (${incident.evidence_total})`),
    el('ul', {}, incident.evidence.map((e) => el('li', {},
      el('span', { class: 'badge' }, e.source), ' ', el('code', {}, e.signal), e.cleared ? ' (cleared)' : '', ' ',
      e.trusted ? e.summary : el('span', { class: 'untrusted' }, e.summary),
      ` · ${e.producer} · ${clock(e.stamp)}`))));
}

function proposalView(robot, incident, proposal) {
  if (!proposal) return el('p', {}, 'waiting for the reasoner…');
  return el('div', {},
    el('p', { class: 'proposal-summary' }, `${proposal.kind}, confidence ${proposal.confidence.toFixed(2)}, ${proposal.mode} mode, ${proposal.backend}, ${proposal.reasoning_ms.toFixed(0)} ms`),
    proposal.confidence < 0.5 ? el('p', { class: 'badge stale' }, 'the reasoner is unsure: it asks a person first') : null,
    el('details', {}, el('summary', {}, 'assessment'), el('pre', {}, proposal.summary)),
    proposal.plans.map((plan, rank) => planView(robot, incident, plan, rank)),
    el('details', { class: 'trace' }, el('summary', {}, `tool trace (${proposal.trace.length} calls)`),
      el('ol', {}, proposal.trace.map((t) => el('li', {}, `${t.tool}: ${t.summary} (${Number(t.latency_ms).toFixed(1)} ms)`)))),
    proposal.dropped.length ? el('details', {}, el('summary', {}, `${proposal.dropped.length} plan(s) dropped by the validator`), el('ul', {}, proposal.dropped.map((d) => el('li', {}, d)))) : null);
}

function planView(robot, incident, plan, rank) {
  const e = plan.evaluation;
  return el('div', { class: `plan${rank === 0 ? ' best' : ''}`, 'data-plan': plan.id },
    el('h4', {}, `${rank + 1}. ${plan.sources.join(', ') || plan.generator}`, ` · tier ${plan.tier}`, plan.requires_approval ? ' · needs approval' : ''),
    el('ol', { class: 'steps' }, plan.steps.map((s) => el('li', {}, el('code', {}, s.skill), ' ', Object.entries(s.args).map(([k, v]) => `${k}=${v}`).join(', ')))),
    el('div', {}, `confidence ${plan.confidence.toFixed(2)}, risk ${plan.risk.toFixed(2)}`),
    e ? el('div', { class: 'prediction' }, `simulator: ${e.outcome}, success ${(100 * e.success_probability).toFixed(0)} %, ${e.duration_s.toFixed(1)} s, ${e.distance.toFixed(1)} m`,
      e.findings.length ? el('ul', {}, e.findings.map((f) => el('li', {}, f))) : null) : el('div', {}, 'not simulated'),
    el('details', {}, el('summary', {}, 'why'), el('p', {}, plan.rationale)),
    el('div', { class: 'digest' }, el('small', {}, `digest ${plan.digest.slice(0, 16)}…`)),
    actionButton('approve', { action: 'approve', robot: robot.id, incident_id: incident.id, plan_id: plan.id, plan_digest: plan.digest }, `approve ${plan.id}`),
    actionButton('reject…', { action: 'reject', robot: robot.id, incident_id: incident.id, plan_id: plan.id }, `reject ${plan.id}`, 'Why reject it?'),
    editForm(robot, incident, plan));
}

// Edit parameters: new values for the plan's numbers and names. The reasoner validates the
// edited plan, simulates it again and shows it first under a new digest; it is then approved
// like any other plan. The page never builds a plan itself.
function editForm(robot, incident, plan) {
  const fields = [];
  plan.steps.forEach((step, index) => {
    for (const [name, type] of Object.entries(step.editable || {})) {
      const input = el('input', { type: type === 'number' ? 'number' : 'text', step: 'any', value: step.args[name], 'data-step': index, 'data-name': name, 'data-type': type, 'data-shown': step.args[name], disabled: !mayAct() });
      fields.push(el('label', {}, `${index + 1}. ${step.skill} ${name} `, input));
    }
  });
  if (!fields.length) return null;
  const submit = el('button', {
    'data-action': 'edit',
    disabled: !mayAct(),
    title: mayAct() ? '' : 'a viewer may not act: only operators',
    onclick: async (event) => {
      const form = event.target.closest('details');
      const edits = [...form.querySelectorAll('input[data-step]')]
        .filter((input) => input.value !== input.dataset.shown)
        .map((input) => ({ step: Number(input.dataset.step), name: input.dataset.name, value: input.dataset.type === 'number' ? Number(input.value) : input.value }));
      if (!edits.length) { say('edit: change a value first', true); return; }
      await act({ action: 'edit', robot: robot.id, incident_id: incident.id, plan_id: plan.id, plan_digest: plan.digest, edits }, `edit ${plan.id}`);
    },
  }, 'validate and simulate the edited plan');
  return el('details', { class: 'edit' }, el('summary', {}, 'edit parameters…'), ...fields, submit);
}

function renderAudit() {
  const body = document.querySelector('#audit tbody');
  body.replaceChildren(...state.snapshot.audit.slice().reverse().map((a) => el('tr', { class: a.accepted ? '' : 'error' },
    el('td', {}, clock(a.stamp)), el('td', {}, a.actor ? `${a.actor} (${a.role})` : `nobody (${a.remote})`),
    el('td', {}, a.action), el('td', {}, a.robot), el('td', {}, [a.incident_id, a.plan_id].filter(Boolean).join(' / ')),
    el('td', {}, `${a.accepted ? 'accepted' : 'refused'}: ${a.message}`))));
}

// ---- drawing --------------------------------------------------------------------------------

function toCanvas(canvas, x, y) {
  const w = state.world;
  const scale = canvas.width / (w.width * w.resolution);
  return [(x - w.origin[0]) * scale, canvas.height - (y - w.origin[1]) * (canvas.height / (w.height * w.resolution))];
}

function drawMap(canvas, robot) {
  if (!canvas || !state.world || !state.world.width) return;
  const context = canvas.getContext('2d');
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (state.mapImage) context.drawImage(state.mapImage, 0, 0, canvas.width, canvas.height);
  for (const zone of state.world.zones || []) {
    context.beginPath();
    zone.polygon.forEach(([x, y], i) => { const [u, v] = toCanvas(canvas, x, y); if (i) context.lineTo(u, v); else context.moveTo(u, v); });
    context.closePath(); context.fillStyle = 'rgba(220, 38, 38, 0.2)'; context.fill();
  }
  context.font = '10px sans-serif';
  for (const place of state.world.places || []) {
    const [u, v] = toCanvas(canvas, place.x, place.y);
    context.fillStyle = place.kind === 'charger' ? '#059669' : '#2563eb';
    context.fillRect(u - 3, v - 3, 6, 6); context.fillText(place.name, u + 4, v - 4);
  }
  const incident = robot.incidents.find((i) => i.id === state.selected[robot.id]);
  const proposal = incident && robot.proposals.find((p) => p.incident_id === incident.id);
  (proposal ? proposal.plans : []).forEach((plan, rank) => {
    const path = plan.evaluation ? plan.evaluation.path : [];
    if (path.length < 2) return;
    context.beginPath();
    path.forEach(([x, y], i) => { const [u, v] = toCanvas(canvas, x, y); if (i) context.lineTo(u, v); else context.moveTo(u, v); });
    context.strokeStyle = rank === 0 ? '#4f46e5' : 'rgba(79, 70, 229, 0.35)'; context.lineWidth = rank === 0 ? 3 : 1.5; context.stroke();
  });
  if (robot.pose) {
    const [u, v] = toCanvas(canvas, robot.pose.x, robot.pose.y);
    context.save(); context.translate(u, v); context.rotate(-robot.pose.yaw);
    context.beginPath(); context.moveTo(9, 0); context.lineTo(-6, 5); context.lineTo(-6, -5); context.closePath();
    context.fillStyle = robot.stale ? '#9ca3af' : '#dc2626'; context.fill(); context.restore();
  }
}

function drawFrame(canvas, robot) {
  if (!canvas || !robot.frame) return;
  const known = state.frames[robot.id];
  if (!known || known.version !== robot.frame.version) {
    const image = new Image();
    image.onload = () => { state.frames[robot.id] = { version: robot.frame.version, image }; paintFrame(canvas, robot, image); };
    image.src = `/api/frame/${encodeURIComponent(robot.id)}?v=${robot.frame.version}`;
    state.frames[robot.id] = { version: robot.frame.version, image: known ? known.image : null };
  }
  const current = state.frames[robot.id];
  if (current && current.image) paintFrame(canvas, robot, current.image);
}

function paintFrame(canvas, robot, image) {
  const context = canvas.getContext('2d');
  canvas.width = image.naturalWidth || canvas.width; canvas.height = image.naturalHeight || canvas.height;
  context.drawImage(image, 0, 0);
  const incident = robot.incidents.find((i) => i.id === state.selected[robot.id]);
  for (const evidence of incident ? incident.evidence : []) {
    const box = evidence.attributes && evidence.attributes.box;
    if (!box) continue;
    let points;
    try { points = JSON.parse(box); } catch (error) { continue; }
    if (!Array.isArray(points) || points.length < 2) continue;
    context.strokeStyle = '#f59e0b'; context.lineWidth = 2;
    if (points.length === 2) {
      const [[x0, y0], [x1, y1]] = points; context.strokeRect(x0, y0, x1 - x0, y1 - y0);
    } else {
      context.beginPath(); points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y))); context.closePath(); context.stroke();
    }
    context.fillStyle = '#f59e0b'; context.font = '11px sans-serif';
    context.fillText(evidence.signal, points[0][0] + 2, Math.max(10, points[0][1] - 3));
  }
}

start();
