// pubbot dashboard: state from /status (polled), live feed from /events (SSE).
// Everything from the bot is shown with textContent: chat text is hostile.
"use strict";

(function () {
  const FEED_MAX = 500;
  const POLL_MS = 2000;
  const nicks = {};  // network name -> the bot's nick there, from /status
  let networks = 1;  // how many networks /status shows: with more than one, lines say theirs

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function num(value, digits) {
    if (value === null || value === undefined) return "–";
    return digits === undefined ? String(value) : Number(value).toFixed(digits);
  }

  function duration(seconds) {
    seconds = Math.floor(seconds);
    const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
      m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = typeof cell === "object" && cell !== null && cell.nodeType ? cell : el("td", cell);
      if (td.tagName !== "TD") { const wrap = el("td"); wrap.appendChild(td); tr.appendChild(wrap); }
      else tr.appendChild(td);
    }
    return tr;
  }

  function numCell(value, digits, cls) {
    return el("td", num(value, digits), "num" + (cls ? " " + cls : ""));
  }

  function renderConnections(state) {
    const body = $("connections").tBodies[0];
    body.replaceChildren();
    networks = state.connections.length;
    for (const c of state.connections) {
      if (c.nick) nicks[c.network] = c.nick;
      const st = el("span", c.connected ? "connected" : "disconnected", "state " + (c.connected ? "on" : "off"));
      const name = el("td", c.network);
      if (c.server_network && c.server_network !== c.network) {
        name.appendChild(el("span", " · " + c.server_network, "muted"));  // the server's own name for it
      }
      body.appendChild(row([name, st, c.nick, c.lag === null ? "–" : num(c.lag * 1000, 0) + " ms",
        numCell(c.lines_in), numCell(c.lines_out), numCell(c.reconnects), numCell(c.throttle_depth)]));
    }
    if (!state.connections.length) body.appendChild(row([el("span", "no chat connection", "muted")]));
    $("owner").textContent = state.owner || "";
    const cluster = state.cluster;
    const store = $("store");
    const broken = state.store && state.store.ok === false;
    store.hidden = !broken;
    store.textContent = broken ? "The store (" + state.store.where + ") cannot be read: " + state.store.error +
      ". Factoids, karma, seen and the brain are not kept until it is fixed." : "";
    $("cluster").textContent = cluster
      ? " · " + num(cluster.workers) + " workers · bus lag " + num(cluster.bus_lag, 3) + " s" : "";
    // each process of the cluster: its role and its plugins' versions
    const list = $("processes");
    list.replaceChildren();
    for (const p of (cluster && cluster.processes) || []) {
      const item = el("li", p.process + " · " + p.role + (p.owner_here ? " (holds the connections)" : "")
        + " · pubbot " + p.version + " · " + (p.partitions || []).length + " partitions · ");
      const details = el("details");
      const plugins = Object.entries(p.plugins || {}).sort();
      details.appendChild(el("summary", plugins.length + " plugins"));
      details.appendChild(el("span", plugins.map(([n, v]) => n + " " + v).join(", "), "muted"));
      item.appendChild(details);
      list.appendChild(item);
    }
  }

  function renderMusic(state) {
    $("music-card").hidden = !state.music_configured;  // only when a player is configured
    const box = $("music");
    box.replaceChildren();
    const m = state.music;
    if (!m || !(m.title || m.artist)) { box.textContent = "nothing"; box.className = "muted"; return; }
    box.className = "";
    box.appendChild(el("span", m.title || "(untitled)", "title"));
    if (m.artist) box.appendChild(el("span", " by " + m.artist));
    if (m.album) box.appendChild(el("span", " · " + m.album, "muted"));
  }

  function renderChannels(state) {
    const box = $("channels");
    box.replaceChildren();
    for (const c of state.connections) {
      for (const [name, members] of Object.entries(c.channels || {})) {
        const total = (c.members && c.members[name] !== undefined) ? c.members[name] : members.length;
        box.appendChild(el("h3", name + " (" + total + ")" +
          (state.connections.length > 1 ? " · " + c.network : "")));
        const list = el("ul");
        for (const m of members) {
          const label = (m.prefix || "") + (m.nick || "?");
          const item = el("li", label);
          if (m.account) item.title = "account: " + m.account;
          if (m.away) item.className = "muted";
          list.appendChild(item);
        }
        if (total > members.length) list.appendChild(el("li", "… " + (total - members.length) + " more", "muted"));
        box.appendChild(list);
      }
      if (c.channels_omitted) {
        box.appendChild(el("p", "… and " + c.channels_omitted + " more channels", "muted"));
      }
    }
    if (state.connections_omitted) {
      box.appendChild(el("p", "… and " + state.connections_omitted + " more connections", "muted"));
    }
    if (!box.children.length) box.appendChild(el("p", "no channels", "muted"));
  }

  function renderPlugins(state) {
    const body = $("plugins").tBodies[0];
    body.replaceChildren();
    for (const p of state.plugins) {
      const name = el("td", p.name);
      if (p.description) name.title = p.description;
      body.appendChild(row([name, numCell(p.calls), numCell(p.errors, undefined, p.errors ? "errors" : ""),
        numCell(p.timeouts, undefined, p.timeouts ? "errors" : ""),
        numCell(p.mean_ms, 2), numCell(p.p95_ms, 1)]));
    }
    $("topics").textContent = Object.entries(state.topics).map(([k, v]) => k + " " + v).join(" · ") || "none yet";
  }

  function renderJobs(state) {
    const jobs = state.jobs || [];
    $("jobs-card").hidden = !jobs.length;
    const body = $("jobs").tBodies[0];
    body.replaceChildren();
    for (const j of jobs) {
      const next = j.next_run === null ? "–" : "in " + duration(Math.max(0, j.next_run - state.time));
      body.appendChild(row([el("td", j.name), el("td", j.schedule), numCell(j.runs),
        numCell(j.failures, undefined, j.failures ? "errors" : ""), numCell(j.skipped), el("td", next)]));
    }
  }

  function renderChannelSettings(state) {
    const cs = state.channel_settings || { disabled: [], overrides: [] };
    $("channel-settings-card").hidden = !cs.disabled.length && !cs.overrides.length;
    const many = state.connections.length > 1;
    const place = (o) => o.channel + (many ? "@" + o.network : "");
    $("channels-off").textContent = cs.disabled.length
      ? "Off: " + cs.disabled.map((d) => place(d) + " " + d.plugins.join(", ")).join(" · ") : "";
    const body = $("channel-overrides").tBodies[0];
    body.replaceChildren();
    for (const o of cs.overrides) {
      const name = o.name.startsWith("plugin:") ? o.name.slice(7) : o.name;
      body.appendChild(row([el("td", place(o)), el("td", name), el("td", o.shown), el("td", o.who),
        el("td", duration(Math.max(0, state.time - o.when)) + " ago")]));
    }
    if (cs.overrides_omitted) {
      body.appendChild(row([el("td", "… and " + cs.overrides_omitted + " more (pubbot config diff)", "muted")]));
    }
  }

  function render(state) {
    $("process").textContent = state.process_id;
    $("uptime").textContent = "up " + duration(state.uptime);
    $("logout").hidden = !state.auth;
    renderConnections(state);
    renderMusic(state);
    renderChannels(state);
    renderPlugins(state);
    renderJobs(state);
    renderChannelSettings(state);
  }

  async function poll() {
    try {
      const response = await fetch("status", { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { window.location.href = "login"; return; }
      if (response.ok) render(await response.json());
    } catch (e) {
      // the bot is restarting or unreachable: keep the last state, try again
    }
    setTimeout(poll, POLL_MS);
  }

  function clock(seconds) {
    const d = new Date(seconds * 1000);
    return d.toTimeString().slice(0, 8);
  }

  function where(ev) {
    return networks > 1 && ev.network ? ev.network + " " + ev.channel : ev.channel;
  }

  function feedItem(ev) {
    const li = el("li", null, ev.kind);
    li.appendChild(el("span", clock(ev.time), "time"));
    if (ev.kind === "chat") {
      li.appendChild(el("span", where(ev), "where"));
      li.appendChild(el("span", "<" + ev.source + ">", "who"));
      li.appendChild(el("span", ev.content, "text"));
    } else if (ev.kind === "sent") {
      li.appendChild(el("span", where(ev), "where"));
      const nick = nicks[ev.network] || "pubbot";
      li.appendChild(el("span", ev.how === "notice" ? "-" + nick + "-" : ev.how === "action" ? "* " + nick : "<" + nick + ">",
        "who"));
      li.appendChild(el("span", ev.content, "text"));
    } else if (ev.kind === "gap") {
      li.appendChild(el("span", "… " + ev.missed + " events missed while disconnected", "text"));
    } else {
      li.appendChild(el("span", ev.topic, "where"));
      const fields = Object.entries(ev.fields || {}).map(([k, v]) => k + "=" + JSON.stringify(v)).join(" ");
      li.appendChild(el("span", fields, "text"));
    }
    return li;
  }

  function addToFeed(ev) {
    const feed = $("feed");
    const atBottom = feed.scrollHeight - feed.scrollTop - feed.clientHeight < 40;
    feed.appendChild(feedItem(ev));
    while (feed.children.length > FEED_MAX) feed.removeChild(feed.firstChild);
    if (atBottom) feed.scrollTop = feed.scrollHeight;
  }

  function connectFeed() {
    const live = $("live");
    const source = new EventSource("events");
    source.onopen = function () { live.textContent = "feed: live"; live.className = "badge on"; };
    source.onerror = function () { live.textContent = "feed: reconnecting"; live.className = "badge off"; };
    source.onmessage = function (message) {
      let ev;
      try { ev = JSON.parse(message.data); } catch (e) { return; }
      addToFeed(ev);
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    const toggle = $("show-bus");
    toggle.addEventListener("change", function () { document.body.classList.toggle("hide-bus", !toggle.checked); });
    poll();
    connectFeed();
  });
})();
