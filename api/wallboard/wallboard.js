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

  const body = document.body;
  const board = document.getElementById("board");
  const empty = document.getElementById("empty");
  const template = document.getElementById("tile-template");
  const staleDetail = document.getElementById("stale-detail");
  const asOfElement = document.getElementById("as-of");
  const connectionText = document.getElementById("connection-text");

  /** Rows of this channel and window by queue, each with the client time it arrived. */
  const rows = new Map();
  const tiles = new Map();
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

  /** Columns and rows that give the largest tiles of a TV-like shape for n tiles on this board. */
  function layout(n) {
    const width = board.clientWidth;
    const height = board.clientHeight;
    const aspect = 1.45;
    let best = { cols: 1, rows: Math.max(n, 1), size: 0 };
    for (let cols = 1; cols <= Math.max(n, 1); cols += 1) {
      const gridRows = Math.ceil(Math.max(n, 1) / cols);
      const size = Math.min(width / cols, (height / gridRows) * aspect);
      if (size > best.size) best = { cols, rows: gridRows, size };
    }
    board.style.setProperty("--cols", best.cols);
    board.style.setProperty("--rows", best.rows);
  }

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
    if (await loadCatalog()) connect();
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

  window.addEventListener("resize", () => layout(tiles.size));
  window.setInterval(refreshStatus, 1000);
  refreshStatus();
  start();
})();
