// The admin dashboard: polls /api/overview and redraws. Every value from the proxy is placed with textContent or as
// an SVG attribute, never as markup: role, model and statement text is anyone's to choose.
'use strict';

const POLL_MS = 1500;
const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const PLOT = { width: 560, height: 170, left: 54, right: 8, top: 10, bottom: 22 };

function el(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = String(text);
  if (className) element.className = className;
  return element;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el('td', cell));
  return tr;
}

function number(value) {
  return el('td', value, 'number');
}

function fillTable(id, rows, emptyText, columns) {
  const body = document.querySelector(`#${id} tbody`);
  if (rows.length === 0) {
    const td = el('td', emptyText, 'empty');
    td.colSpan = columns;
    body.replaceChildren(row([td]));
  } else body.replaceChildren(...rows);
}

function seconds(value) {
  if (value < 120) return `${value.toFixed(value < 10 ? 2 : 1)} s`;
  return value < 7200 ? `${Math.round(value / 60)} min` : `${(value / 3600).toFixed(1)} h`;
}

function dollars(value) {
  if (value === undefined || value === null) return '–';
  if (value === 0) return '$0';
  return value < 0.01 ? `$${value.toPrecision(2)}` : `$${value.toFixed(value < 1 ? 4 : 2)}`;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function drawCalls(calls, now) {
  fillTable(
    'running',
    calls.running.map((call) => row([call.instance, call.model, call.kind, call.role, number(seconds((now - call.startedAt) / 1000))])),
    'no model call is running',
    5,
  );
  fillTable(
    'recent',
    calls.recent.map((call) => {
      const outcome = el('td', call.outcome === 'error' ? `error: ${call.error}` : call.outcome, `outcome ${call.outcome}`);
      const tokens = call.promptTokens === undefined ? '–' : `${call.promptTokens} / ${call.completionTokens}`;
      return row([clock(call.startedAt + call.seconds * 1000), call.instance, call.model, call.kind, call.role, number(seconds(call.seconds)), number(tokens), number(dollars(call.costUsd)), outcome]);
    }),
    'no model call has ended yet',
    9,
  );
}

function drawSessions(sessions) {
  fillTable(
    'sessions',
    sessions.map((session) => {
      const statement = el('td', session.statement ?? '', 'statement');
      if (session.statementAt) statement.title = `sent at ${clock(session.statementAt)}`;
      return row([number(session.number), session.user, session.database, session.client, session.application ?? '', el('td', session.activity, `state ${session.activity.replace(/[^a-z]+/g, '-')}`), statement]);
    }),
    'no client is connected',
    7,
  );
}

function drawLimits(limits) {
  const { process } = limits;
  const rows = [row(['all models (--max-model-calls)', number(`${process.running} of ${process.size}`), number(process.waiting), number('–'), number('–')])];
  for (const model of limits.models) {
    const running = model.maxConcurrency === undefined ? '–' : `${model.running} of ${model.maxConcurrency}`;
    rows.push(row([model.instance, number(running), number(model.waitingForTurn), number(model.waitingForRequests), number(model.waitingForTokens)]));
  }
  fillTable('limits', rows, '', 5);
}

function drawQueues(queues) {
  const rows = [];
  for (const queue of queues) {
    if (queue.jobs) {
      const { pending, processing, batched, error, done, skipped } = queue.jobs;
      rows.push(row([queue.database, 'llm.call', number(pending), number(processing), number(batched), number(error), number(done), number(skipped)]));
    }
    for (const vectorizer of queue.vectorizers ?? []) {
      const pending = vectorizer.pending > 10000 ? 'over 10000' : vectorizer.pending;
      rows.push(row([queue.database, `vectorizer ${vectorizer.name}`, number(pending), number('–'), number('–'), number('–'), number('–'), number('–')]));
    }
  }
  fillTable('queues', rows, 'no --worker database', 8);
}

function drawSpend(spend) {
  document.getElementById('spend-day').textContent = `(${spend.day}, UTC)`;
  fillTable(
    'spend',
    spend.rows.map((entry) => row([entry.role, entry.database, entry.model, number(entry.calls), number(dollars(entry.usd))])),
    'no model call today',
    5,
  );
  // Spent of the budget; for "*", the budget each role not named has.
  const of = (role, spent, budget, shown) => {
    if (role === '*') return budget === undefined ? '–' : `${shown(budget)} each`;
    return budget === undefined ? shown(spent) : `${shown(spent)} of ${shown(budget)}`;
  };
  fillTable(
    'budgets',
    spend.budgets.map(({ role, budget, spent }) =>
      row([role === '*' ? 'every other role' : role, number(of(role, spent.calls, budget.calls, String)), number(of(role, spent.usd, budget.usd, dollars))]),
    ),
    'no --role-daily-budgets',
    3,
  );
}

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/** Stacked bars of cost per bucket, one colour per series (the largest nine, the rest as "others"). */
function drawCostPlot(id, legendId, costs, pick, now) {
  const { bucketSeconds, historySeconds, buckets } = costs;
  const span = historySeconds * 1000;
  const totals = new Map();
  for (const bucket of buckets) for (const [name, cost] of Object.entries(pick(bucket))) totals.set(name, (totals.get(name) ?? 0) + cost);
  const ranked = [...totals].sort((a, b) => b[1] - a[1]);
  const named = new Map(ranked.slice(0, PALETTE.length - 1).map(([name], i) => [name, PALETTE[i]]));
  const colourOf = (name) => named.get(name) ?? PALETTE[PALETTE.length - 1];
  const plot = document.getElementById(id);
  plot.setAttribute('viewBox', `0 0 ${PLOT.width} ${PLOT.height}`);
  const innerWidth = PLOT.width - PLOT.left - PLOT.right;
  const innerHeight = PLOT.height - PLOT.top - PLOT.bottom;
  const highest = Math.max(0, ...buckets.map((bucket) => Object.values(pick(bucket)).reduce((sum, cost) => sum + cost, 0)));
  const parts = [
    svg('line', { x1: PLOT.left, y1: PLOT.top + innerHeight, x2: PLOT.width - PLOT.right, y2: PLOT.top + innerHeight, class: 'axis' }),
    svg('line', { x1: PLOT.left, y1: PLOT.top, x2: PLOT.left, y2: PLOT.top + innerHeight, class: 'axis' }),
  ];
  const label = (text, x, y, anchor) => {
    const node = svg('text', { x, y, 'text-anchor': anchor, class: 'tick' });
    node.textContent = text;
    return node;
  };
  parts.push(label(dollars(highest), PLOT.left - 4, PLOT.top + 8, 'end'), label('$0', PLOT.left - 4, PLOT.top + innerHeight, 'end'));
  parts.push(label(`${Math.round(span / 60000)} min ago`, PLOT.left, PLOT.height - 6, 'start'), label('now', PLOT.width - PLOT.right, PLOT.height - 6, 'end'));
  const barWidth = (innerWidth * bucketSeconds * 1000) / span;
  for (const bucket of buckets) {
    const x = PLOT.left + ((bucket.start - (now - span)) / span) * innerWidth;
    if (x < PLOT.left) continue;
    let y = PLOT.top + innerHeight;
    for (const [name, cost] of Object.entries(pick(bucket)).sort((a, b) => (totals.get(b[0]) ?? 0) - (totals.get(a[0]) ?? 0))) {
      const height = highest > 0 ? (cost / highest) * innerHeight : 0;
      y -= height;
      const bar = svg('rect', { x: x + 0.5, y, width: Math.max(1, barWidth - 1), height, fill: colourOf(name) });
      const title = svg('title', {});
      title.textContent = `${name}: ${dollars(cost)} at ${clock(bucket.start)}`;
      bar.append(title);
      parts.push(bar);
    }
  }
  if (buckets.length === 0) parts.push(label('no priced model call in the last 10 minutes', PLOT.left + innerWidth / 2, PLOT.top + innerHeight / 2, 'middle'));
  plot.replaceChildren(...parts);
  const legend = document.getElementById(legendId);
  legend.replaceChildren(
    ...ranked.map(([name, total]) => {
      const item = el('li');
      const swatch = el('span', undefined, 'swatch');
      swatch.style.background = colourOf(name);
      item.append(swatch, el('span', name, 'series'), el('span', dollars(total), 'total'));
      return item;
    }),
  );
}

function drawTiles(data) {
  const waiting = data.limits.process.waiting;
  const pending = data.queues.reduce((sum, queue) => sum + (queue.jobs?.pending ?? 0), 0);
  const cost = data.costs.buckets.reduce((sum, bucket) => sum + Object.values(bucket.byModel).reduce((a, b) => a + b, 0), 0);
  document.getElementById('tile-sessions').textContent = data.sessionsOpen;
  document.getElementById('tile-running').textContent = data.calls.running.length;
  document.getElementById('tile-waiting').textContent = waiting;
  document.getElementById('tile-queued').textContent = data.queues.length === 0 ? '–' : pending;
  document.getElementById('tile-cost').textContent = dollars(cost);
}

function draw(data) {
  drawTiles(data);
  drawCalls(data.calls, data.now);
  drawSessions(data.sessions);
  drawLimits(data.limits);
  drawQueues(data.queues);
  drawSpend(data.spend);
  drawCostPlot('cost-by-model', 'legend-by-model', data.costs, (bucket) => bucket.byModel, data.now);
  drawCostPlot('cost-by-role', 'legend-by-role', data.costs, (bucket) => bucket.byRole, data.now);
  const shown = data.sessions.length < data.sessionsOpen ? ` · showing ${data.sessions.length} of ${data.sessionsOpen} sessions` : '';
  document.getElementById('status').textContent = `version ${data.version} · up ${seconds(data.uptimeSeconds)} · updated ${clock(data.now)}${shown}`;
}

async function poll() {
  const status = document.getElementById('status');
  try {
    const response = await fetch('api/overview', { credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) throw new Error(response.status === 401 ? 'the admin token is missing or wrong: open this page as /?token=…' : `HTTP ${response.status}`);
    draw(await response.json());
    status.classList.remove('stale');
  } catch (error) {
    status.textContent = `not updated: ${error.message}`;
    status.classList.add('stale');
  }
  setTimeout(poll, POLL_MS);
}

poll();
