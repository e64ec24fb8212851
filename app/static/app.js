// The demo page: one Socket.IO connection to the node that served the page.
// Every request is an event with an acknowledgement; the events are listed in app/service.py.
"use strict";

(() => {
  const STATUS_EVERY_MS = 5000;
  const USERS_EVERY_MS = 10000;
  const ACK_TIMEOUT_MS = 8000;
  // Hues far apart from one another, for the node tags.
  const NODE_HUES = [285, 185, 45, 250, 350, 215, 150, 25];

  const $ = (id) => document.getElementById(id);
  const socket = io({ reconnectionDelayMax: 5000 });
  const state = { node: null, name: null, room: null };
  // What the page shows about the cluster; greyed while disconnected, as it may be outdated.
  const FACTS = ["node-fact", "count-fact", "users-card", "servers-card"];

  // ---------------------------------------------------------------- helpers

  function request(event, data) {
    // Resolves with the server's answer; rejects on timeout or on {error}.
    return new Promise((resolve, reject) => {
      const args = data === undefined ? [] : [data];
      socket.timeout(ACK_TIMEOUT_MS).emit(event, ...args, (err, reply) => {
        if (err) reject(new Error("no answer from the server"));
        else if (reply && reply.error) reject(new Error(reply.error));
        else resolve(reply);
      });
    });
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function nodeTag(name, extraClass) {
    // Each node gets a stable colour, so one can follow which server did what.
    // FNV-1a, so that names differing in one letter (node-1, node-2) get distant hues.
    let hash = 0x811c9dc5;
    for (const ch of String(name)) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193);
    hash = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d) >>> 0;
    const tag = element("span", "node-tag" + (extraClass ? " " + extraClass : ""), name);
    tag.style.setProperty("--hue", String(NODE_HUES[hash % NODE_HUES.length]));
    return tag;
  }

  function duration(seconds) {
    if (typeof seconds !== "number") return "?";
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = Math.floor(seconds % 60);
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function addLine(item) {
    const list = $("messages");
    const hint = list.querySelector(".hint");
    if (hint) hint.remove();
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function showError(text) {
    const box = $("join-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // ---------------------------------------------------------------- cluster facts

  function setConnection(kind, text) {
    $("connection").dataset.state = kind;
    $("connection-text").textContent = text;
  }

  function setStale(stale) {
    for (const id of FACTS) {
      const box = $(id);
      box.classList.toggle("stale", stale);
      if (stale) box.title = "last known before the connection was lost";
      else box.removeAttribute("title");
    }
  }

  function setControls(connected) {
    // Nothing can be sent without a connection: socket.io would queue it silently.
    const chatting = connected && state.room !== null;
    $("join").disabled = !connected;
    $("ask-servers").disabled = !connected;
    $("message").disabled = !chatting;
    $("send").disabled = !chatting;
    if (!connected) $("message").placeholder = "Disconnected: waiting to reconnect…";
    else if (!chatting) $("message").placeholder = "Join a room to chat";
  }

  async function refreshStatus() {
    if (!socket.connected) return;
    try {
      const status = await request("status");
      $("server-count").textContent = status.server_count;
      $("server-label").textContent = status.server_count === 1 ? "server" : "servers";
      if (!status.connected) setConnection("degraded", "broker unreachable");
      else setConnection("online", "connected");
    } catch (error) {
      setConnection("degraded", error.message);
    }
  }

  async function refreshUsers() {
    if (!socket.connected) return;
    let reply;
    try {
      reply = await request("users");
    } catch (error) {
      $("users-note").textContent = error.message;
      return;
    }
    const list = $("users");
    list.replaceChildren();
    for (const user of reply.users) {
      const item = element("li", user.id === socket.id ? "me" : "");
      item.dataset.name = user.name;
      item.append(element("span", "user-name", user.name));
      item.append(element("span", "user-room", "#" + user.room));
      item.append(nodeTag(user.node, "small"));
      list.append(item);
    }
    if (!reply.users.length) list.append(element("li", "empty", "nobody has joined yet"));
    $("user-count").textContent = reply.users.length;
    $("users-note").textContent = reply.complete
      ? "from fetch_sockets() on every server"
      : "some servers did not answer in time";
  }

  let usersTimer = null;
  function refreshUsersSoon() {
    // Changes come in bursts (join, leave, switch rooms): one request per burst.
    clearTimeout(usersTimer);
    usersTimer = setTimeout(refreshUsers, 150);
  }

  async function askServers() {
    const button = $("ask-servers");
    button.disabled = true;
    $("answers-note").textContent = "asking…";
    try {
      const reply = await request("ask_servers");
      const list = $("answers");
      list.replaceChildren();
      for (const answer of reply.answers) {
        const item = element("li", answer.self ? "self" : "");
        item.dataset.node = answer.node;
        const head = element("div", "answer-head");
        head.append(nodeTag(answer.node));
        if (answer.self) head.append(element("span", "badge", "this server"));
        item.append(head);
        const clients = answer.clients === 1 ? "1 client" : `${answer.clients ?? "?"} clients`;
        item.append(element("div", "answer-body", `${clients} · up ${duration(answer.uptime)}`));
        item.append(element("code", "uid", answer.uid));
        list.append(item);
      }
      $("answers-note").textContent = reply.complete
        ? `${reply.answers.length} of ${reply.answers.length} servers answered`
        : "some servers did not answer in time";
    } catch (error) {
      $("answers-note").textContent = error.message;
    } finally {
      button.disabled = !socket.connected;
    }
  }

  // ---------------------------------------------------------------- chat

  async function join(name, room) {
    showError("");
    const reply = await request("join", { name, room });
    state.name = reply.name;
    state.room = reply.room;
    $("room-title").textContent = "#" + reply.room;
    $("message").disabled = false;
    $("send").disabled = false;
    $("message").placeholder = `Message #${reply.room} as ${reply.name}`;
    $("join").textContent = "Switch";
    $("message").focus();
    refreshUsersSoon();
  }

  function showChat(message) {
    const mine = message.id === socket.id;
    const item = element("li", "message" + (mine ? " mine" : ""));
    const meta = element("div", "meta");
    meta.append(element("span", "author", message.name));
    meta.append(nodeTag(message.node, "small"));
    meta.append(element("time", "time", clock(message.at)));
    item.append(meta);
    item.append(element("p", "text", message.text));
    addLine(item);
  }

  function showPresence(presence) {
    const verb = presence.action === "joined" ? "joined" : "left";
    const item = element("li", "presence");
    item.append(element("span", "", `${presence.name} ${verb} #${presence.room} on `));
    item.append(nodeTag(presence.node, "small"));
    addLine(item);
  }

  $("join-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await join($("name").value, $("room").value);
    } catch (error) {
      showError(error.message);
    }
  });

  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("message");
    const text = input.value.trim();
    if (!text || !socket.connected) return;
    input.value = "";
    try {
      await request("chat", { text });
    } catch (error) {
      input.value = text;
      showError(error.message);
    }
  });

  $("ask-servers").addEventListener("click", askServers);

  // ---------------------------------------------------------------- connection

  socket.on("connect", async () => {
    setConnection("online", "connected");
    setControls(true);
    try {
      const me = await request("whoami");
      state.node = me.node;
      const tag = $("node-name");
      tag.textContent = me.node;
      tag.replaceWith(Object.assign(nodeTag(me.node), { id: "node-name" }));
      document.title = `socketio-cloud · ${me.node}`;
      if (state.room) await join(state.name, state.room); // back after a reconnection
    } catch (error) {
      showError(error.message);
    }
    await Promise.all([refreshStatus(), refreshUsers()]);
    if (socket.connected) setStale(false);
  });

  socket.on("disconnect", () => {
    setConnection("offline", "reconnecting…");
    setControls(false);
    setStale(true);
  });
  socket.on("connect_error", () => setConnection("offline", "cannot reach the server"));
  socket.on("chat", showChat);
  socket.on("presence", showPresence);
  socket.on("users_changed", refreshUsersSoon);

  setInterval(refreshStatus, STATUS_EVERY_MS);
  setInterval(refreshUsers, USERS_EVERY_MS);
})();
