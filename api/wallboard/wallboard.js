// cxpulse wallboard: one tile per queue, kept live by the /v1/stream Server-Sent Events.
//
// URL parameters: queue (repeatable or comma-separated; default every queue in the stream),
// channel (default "*", the all-channels roll-up), window (default 15m), access_token (passed on
// to /v1/stream), max_silence (seconds without any message, heartbeats included, before the board
// is marked stale; default 35, above two of the server's default 15 s heartbeats).
//
// A KPI with a target (the row's `target` object, from the targets file) gets a small "target 80%"
// line under its value, green when on track (at least as good as the value expected today on the
// way from baseline to target), amber when behind.
//
// Agents: each tile has a strip of its agents now (available, on contact, after-contact work, aux:
// the live counts of its row), and under the tiles a board of agent cards, polled from /v1/agents
// every agents_poll seconds (default 5): name, state and reason, time in state counted up on the
// page from `since`, the queue of the contact being served, contacts handled today. A card is
// coloured by its time in state under the thresholds file's agent_states (the answer's
// state_thresholds), judged again every second as the time grows. Both stay hidden while no agent
// is listed (a center that sends no agent events sees the board as before), or with agents=0.
//
// The board is marked STALE when the server says stale:true (no worker update for
// kpi.stale_seconds), when the stream connection has been down for longer than DOWN_GRACE_MS, or
// when nothing arrived for max_silence seconds.
"use strict";

(() => {
  const DOWN_GRACE_MS = 6000; // two of the server's 3 s reconnect delays: a quick reconnect does not flash
  const REOPEN_MS = 5000; // after a refused connection (EventSource then gives up) try again this often
  const ALL = "*";
  const DASH = "–";
  const WINDOW_NAMES = { "15m": "Last 15 min", "30m": "Last 30 min", "60m": "Last 60 min", today: "Today", interval: "This interval" };
  const SEVERITY = { ok: 1, warning: 2, critical: 3 };

  const params = new URLSearchParams(window.location.search);
  const chosenQueues = [...new Set(params.getAll("queue").flatMap((v) => v.split(",")).map((q) => q.trim()).filter(Boolean))];
  const channel = params.get("channel") || ALL;
  const windowName = params.get("window") || "15m";
  const token = params.get("access_token");
  const maxSilenceMs = 1000 * (Number(params.get("max_silence")) > 0 ? Number(params.get("max_silence")) : 35);
  const agentsWanted = params.get("agents") !== "0";
  const agentsPollMs = 1000 * (Number(params.get("agents_poll")) > 0 ? Number(params.get("agents_poll")) : 5);
  const STATE_NAMES = {
    available: "Available", on_contact: "On contact", after_contact_work: "After-contact work", aux: "Aux", logged_out: "Logged out",
  };

  const body = document.body;
  const board = document.getElementById("board");
  const empty = document.getElementById("empty");
  const template = document.getElementById("tile-template");
  const staleDetail = document.getElementById("stale-detail");
  const asOfElement = document.getElementById("as-of");
  const connectionText = document.getElementById("connection-text");
  const agentsBoard = document.getElementById("agents");
  const agentTemplate = document.getElementById("agent-template");

  /** Rows of this channel and window by queue, each with the client time it arrived. */
  const rows = new Map();
  const tiles = new Map();
  /** The last /v1/agents answer and the client time it arrived; a card per agent id. */
  const agents = { answer: null, receivedAt: null };
  const cards = new Map();
  const state = {
    serverStale: null, // stale flag of the last message; null before the first one
    lastMessageAt: null, // performance.now() of the last message of any kind
    lastFreshAt: null, // Date of the last message that was not stale
    staleSince: null, // performance.now() when the board turned stale; null while fresh
    downSince: performance.now(),
    connection: "connecting",
  };

  // ---- formatting: the same rules the integration test writes out independently ----------

  const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (date) => `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const count = (v) => (isNumber(v) ? String(v) : DASH);
  const percent = (v) => (isNumber(v) ? `${Math.round(v * 100)}%` : DASH);
  function duration(v) {
    if (!isNumber(v)) return DASH;
    const total = Math.round(v);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = pad(total % 60);
    return hours > 0 ? `${hours}:${pad(minutes)}:${seconds}` : `${minutes}:${seconds}`;
  }
  const score = (v) => (isNumber(v) ? v.toFixed(1) : DASH);
  const signed = (v) => (isNumber(v) ? `${v > 0 ? "+" : ""}${Math.round(v)}` : DASH);
  /** One formatter per display of the KPI catalog; which KPI uses which comes from /v1/catalog. */
  const DISPLAYS = { count, percent, duration, score, signed };
  /** KPI name -> formatter, filled from the catalog before the stream opens. */
  const formats = new Map();

  // ---- tiles ------------------------------------------------------------------------------

  function shownQueues() {
    if (chosenQueues.length > 0) return chosenQueues;
    return [...rows.keys()].filter((q) => q !== ALL).sort((a, b) => a.localeCompare(b));
  }

  function tileFor(queue) {
    let tile = tiles.get(queue);
    if (!tile) {
      tile = template.content.firstElementChild.cloneNode(true);
      tile.dataset.queue = queue;
      tile.querySelector(".tile-name").textContent = queue === ALL ? "All queues" : queue;
      tile.querySelector(".tile-name").title = queue;
      tiles.set(queue, tile);
    }
    return tile;
  }

  /** The live "longest waiting" grows by the time since the row arrived; it stops while stale. */
  function longestWaiting(entry, now) {
    const value = entry.row.longest_waiting_s;
    if (!isNumber(value)) return value;
    const until = state.staleSince === null ? now : Math.max(state.staleSince, entry.receivedAt);
    return value + (until - entry.receivedAt) / 1000;
  }

  function fillTile(tile, entry, now) {
    const status = (entry && entry.row.status) || {};
    let worst = "";
    for (const element of tile.querySelectorAll("[data-kpi]")) {
      const kpi = element.dataset.kpi;
      const value = !entry ? null : kpi === "longest_waiting_s" ? longestWaiting(entry, now) : entry.row[kpi];
      const text = (formats.get(kpi) || count)(value);
      if (element.textContent !== text) element.textContent = text;
      const level = entry && value !== null && value !== undefined && SEVERITY[status[kpi]] ? status[kpi] : "";
      if (element.dataset.status !== level) element.dataset.status = level;
      if ((SEVERITY[level] || 0) > (SEVERITY[worst] || 0)) worst = level;
    }
    if (tile.dataset.status !== worst) tile.dataset.status = worst;
    const marked = fillTargets(tile, (entry && entry.row.target) || {}) ? "true" : "false";
    if (tile.dataset.targets !== marked) tile.dataset.targets = marked;
  }

  /** The target marks of a tile; true when any is shown (the tile then makes room for them). */
  function fillTargets(tile, targets) {
    let any = false;
    for (const mark of tile.querySelectorAll("[data-target]")) {
      const kpi = mark.dataset.target;
      const goal = targets[kpi];
      const shown = Boolean(goal) && isNumber(goal.target);
      if (mark.hidden === shown) mark.hidden = !shown;
      if (!shown) continue;
      any = true;
      const format = formats.get(kpi) || count;
      const text = `target ${format(goal.target)}`;
      if (mark.textContent !== text) mark.textContent = text;
      const onTrack = goal.on_track === true ? "true" : goal.on_track === false ? "false" : "";
      if (mark.dataset.onTrack !== onTrack) mark.dataset.onTrack = onTrack;
      const benchmark = isNumber(goal.benchmark) ? ` · benchmark ${format(goal.benchmark)}` : "";
      const title = `expected ${format(goal.expected)} today (${goal.window}) · due ${goal.due}${benchmark}`;
      if (mark.title !== title) mark.title = title;
    }
    return any;
  }

  /** Columns and rows that give the largest boxes of the given width:height shape for n boxes in element. */
  function fit(element, n, aspect) {
    const width = element.clientWidth;
    const height = element.clientHeight;
    let best = { cols: 1, rows: Math.max(n, 1), size: 0 };
    for (let cols = 1; cols <= Math.max(n, 1); cols += 1) {
      const gridRows = Math.ceil(Math.max(n, 1) / cols);
      const size = Math.min(width / cols, (height / gridRows) * aspect);
      if (size > best.size) best = { cols, rows: gridRows, size };
    }
    element.style.setProperty("--cols", best.cols);
    element.style.setProperty("--rows", best.rows);
  }

  const layout = (n) => fit(board, n, 1.45);

  function render() {
    const now = performance.now();
    const queues = shownQueues();
    const wanted = new Set(queues);
    for (const [queue, tile] of tiles) {
      if (!wanted.has(queue)) {
        tile.remove();
        tiles.delete(queue);
      }
    }
    queues.forEach((queue, index) => {
      const tile = tileFor(queue);
      fillTile(tile, rows.get(queue), now);
      if (board.children[index + 1] !== tile) board.insertBefore(tile, board.children[index + 1] || null);
    });
    empty.hidden = queues.length > 0;
    layout(queues.length);
  }

  // ---- agents -----------------------------------------------------------------------------

  /** Seconds past the answer's time, counted on this page; the count stops while the board is stale. */
  function sinceAnswer(now) {
    const until = state.staleSince === null ? now : Math.max(state.staleSince, agents.receivedAt);
    return (until - agents.receivedAt) / 1000;
  }

  /** ok / warning / critical by the state's limits (the reason's own for aux), "" when it has none. */
  function agentLevel(agent, seconds) {
    const limits = (agents.answer.state_thresholds || {})[agent.state];
    if (!limits) return "";
    const rule = (agent.reason && limits.reasons && limits.reasons[agent.reason]) || limits;
    if (isNumber(rule.critical) && seconds > rule.critical) return "critical";
    if (isNumber(rule.warning) && seconds > rule.warning) return "warning";
    return "ok";
  }

  /** The agents of the selection: the endpoint filters by one queue; several are filtered here. */
  function shownAgents() {
    if (!agents.answer) return [];
    const chosen = new Set(chosenQueues);
    if (chosen.size <= 1 || chosen.has(ALL)) return agents.answer.agents;
    return agents.answer.agents.filter((agent) => agent.queues.some((queue) => chosen.has(queue)));
  }

  function setText(element, text) {
    if (element.textContent !== text) element.textContent = text;
  }

  function setData(element, name, value) {
    if (element.dataset[name] !== value) element.dataset[name] = value;
  }

  function fillCard(card, agent, now) {
    const reckoned = (Date.parse(agents.answer.generated_at) - Date.parse(agent.since)) / 1000;
    const seconds = Math.max(0, reckoned) + sinceAnswer(now);
    const field = (name) => card.querySelector(`[data-field="${name}"]`);
    setText(field("name"), agent.name || agent.agent_id);
    setText(field("state"), STATE_NAMES[agent.state] || agent.state);
    setText(field("reason"), agent.state === "aux" && agent.reason ? agent.reason : "");
    setText(field("time"), duration(seconds));
    setText(field("queue"), agent.contact && agent.contact.queue ? agent.contact.queue : "");
    setText(field("handled"), count(agent.today.handled));
    card.title = agent.agent_id;
    setData(card, "state", agent.state);
    setData(card, "status", agentLevel(agent, seconds));
  }

  function renderAgents(now) {
    const list = shownAgents();
    const shown = agentsWanted && list.length > 0 ? "true" : "false";
    if (body.dataset.agents !== shown) {
      body.dataset.agents = shown;
      layout(tiles.size); // the tiles get the room the agents board takes or gives back
    }
    const wanted = new Set(list.map((agent) => agent.agent_id));
    for (const [id, card] of cards) {
      if (!wanted.has(id)) {
        card.remove();
        cards.delete(id);
      }
    }
    list.forEach((agent, index) => {
      let card = cards.get(agent.agent_id);
      if (!card) {
        card = agentTemplate.content.firstElementChild.cloneNode(true);
        card.dataset.agent = agent.agent_id;
        cards.set(agent.agent_id, card);
      }
      fillCard(card, agent, now);
      if (agentsBoard.children[index] !== card) agentsBoard.insertBefore(card, agentsBoard.children[index] || null);
    });
    fit(agentsBoard, list.length, 2.4);
  }

  async function pollAgents() {
    try {
      const query = new URLSearchParams();
      if (chosenQueues.length === 1) query.set("queue", chosenQueues[0]);
      if (channel !== ALL) query.set("channel", channel);
      const response = await fetch(withToken("v1/agents", query), { cache: "no-cache" });
      if (response.ok) {
        agents.answer = await response.json();
        agents.receivedAt = performance.now();
        renderAgents(agents.receivedAt);
      } else if (response.status !== 503) {
        console.warn(`cxpulse: /v1/agents answered ${response.status}`);
      }
    } catch (error) {
      console.warn("cxpulse: agents not loaded, retrying", error);
    } finally {
      window.setTimeout(pollAgents, agentsPollMs);
    }
  }

  // ---- staleness and header ---------------------------------------------------------------

  function staleReason(now) {
    if (state.connection !== "live" && now - state.downSince > DOWN_GRACE_MS) return "no connection to cxpulse";
    if (state.lastMessageAt !== null && now - state.lastMessageAt > maxSilenceMs) {
      return `nothing heard from cxpulse for ${Math.round((now - state.lastMessageAt) / 1000)} s`;
    }
    if (state.serverStale === true) return "the KPI workers sent no update";
    if (state.serverStale === null) return "no data received yet";
    return null;
  }

  function refreshStatus() {
    const now = performance.now();
    const reason = staleReason(now);
    if (reason === null) state.staleSince = null;
    else if (state.staleSince === null) state.staleSince = now;
    const stale = reason !== null ? "true" : "false";
    if (body.dataset.stale !== stale) body.dataset.stale = stale;
    if (reason !== null) {
      const since = state.lastFreshAt ? `last update ${clock(state.lastFreshAt)}` : "no live data yet";
      staleDetail.textContent = `${since} · ${reason}`;
    }
    render();
    renderAgents(now);
  }

  function setConnection(connection) {
    if (state.connection === "live" && connection !== "live") state.downSince = performance.now();
    state.connection = connection;
    body.dataset.connection = connection;
    connectionText.textContent = { live: "Live", connecting: "Connecting", reconnecting: "Reconnecting", offline: "Offline" }[connection];
  }

  // ---- the stream -------------------------------------------------------------------------

  function accept(message, replace) {
    state.lastMessageAt = performance.now();
    state.serverStale = message.stale === true;
    const asOf = new Date(message.as_of);
    if (!Number.isNaN(asOf.getTime())) {
      asOfElement.textContent = clock(asOf);
      asOfElement.dataset.asOf = message.as_of;
      asOfElement.dateTime = message.as_of;
      if (!state.serverStale) state.lastFreshAt = asOf;
    }
    if (replace) rows.clear();
    for (const row of message.items || []) {
      if (row.channel === channel && row.window === windowName) {
        rows.set(row.queue, { row, receivedAt: state.lastMessageAt });
      }
    }
    refreshStatus();
  }

  function handler(replace) {
    return (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        console.warn("cxpulse: unreadable stream message", error);
        return;
      }
      accept(message, replace);
    };
  }

  function streamUrl() {
    const query = new URLSearchParams();
    for (const queue of chosenQueues) query.append("queue", queue);
    query.set("channel", channel);
    query.set("window", windowName);
    return withToken("v1/stream", query);
  }

  function withToken(path, query) {
    if (token) query.set("access_token", token);
    return `${path}?${query}`;
  }

  /** The catalog says how each KPI is shown; until it has arrived no tile is drawn with a guess. */
  async function loadCatalog() {
    try {
      const response = await fetch(withToken("v1/catalog", new URLSearchParams()), { cache: "no-cache" });
      if (!response.ok) throw new Error(`status ${response.status}`);
      for (const kpi of (await response.json()).kpis) formats.set(kpi.name, DISPLAYS[kpi.display] || count);
      return true;
    } catch (error) {
      console.warn("cxpulse: KPI catalog not loaded, retrying", error);
      setConnection("offline");
      window.setTimeout(start, REOPEN_MS);
      return false;
    }
  }

  async function start() {
    if (await loadCatalog()) {
      connect();
      if (agentsWanted) pollAgents();
    }
  }

  function connect() {
    const source = new EventSource(streamUrl());
    source.onopen = () => setConnection("live");
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (401, 422, proxy error page): EventSource does not retry by itself.
        setConnection("offline");
        window.setTimeout(connect, REOPEN_MS);
      } else {
        setConnection("reconnecting"); // EventSource retries after the server's retry: 3000
      }
      refreshStatus();
    };
    source.addEventListener("snapshot", handler(true));
    source.addEventListener("update", handler(false));
    source.addEventListener("heartbeat", handler(false));
  }

  const channelName = channel === ALL ? "All channels" : channel;
  const queueNames = chosenQueues.length > 0 ? chosenQueues.map((q) => (q === ALL ? "All queues" : q)).join(", ") : "All queues";
  document.getElementById("scope").textContent = `${channelName} · ${queueNames}`;
  const windowElement = document.getElementById("window");
  windowElement.textContent = WINDOW_NAMES[windowName] || windowName;
  windowElement.dataset.window = windowName;

  window.addEventListener("resize", () => {
    layout(tiles.size);
    fit(agentsBoard, cards.size, 2.4);
  });
  window.setInterval(refreshStatus, 1000);
  refreshStatus();
  start();
})();
