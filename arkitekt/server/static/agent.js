// The agent page, live: server-sent events from /dashboard/agents/<id>/states/events, each the
// whole new value of one state as rows (field, JSON text), written with textContent only (never
// HTML from the server). No framework, no inline script (the pages' CSP allows neither).
"use strict";

(function () {
  const root = document.getElementById("agent");
  if (!root || typeof EventSource === "undefined") {
    return;
  }
  const live = document.getElementById("live");
  const online = document.getElementById("online");

  function rowOf(key, value) {
    const row = document.createElement("tr");
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = key;
    const cell = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = value;
    cell.append(code);
    row.append(name, cell);
    return row;
  }

  function sectionOf(name) {
    for (const section of document.querySelectorAll("section.state")) {
      if (section.dataset.state === name) return section;
    }
    const section = document.createElement("section");
    section.className = "state";
    section.dataset.state = name;
    section.setAttribute("aria-label", name);
    const title = document.createElement("h3");
    title.textContent = name;
    const table = document.createElement("table");
    table.className = "state-fields";
    table.append(document.createElement("tbody"));
    section.append(title, table);
    document.getElementById("states").append(section);
    const empty = document.querySelector("#states .empty");
    if (empty) empty.remove();
    return section;
  }

  const source = new EventSource(root.dataset.stream);
  source.onmessage = function (event) {
    const update = JSON.parse(event.data);
    const body = sectionOf(update.state).querySelector("tbody");
    body.replaceChildren(...update.fields.map(([key, value]) => rowOf(key, value)));
    online.textContent = update.connected ? "online" : "offline";
    online.className = "badge " + (update.connected ? "online" : "offline");
    live.textContent = "";
  };
  source.addEventListener("end", function () {
    source.close();
    live.textContent = "No longer shared with you.";
  });
  source.onerror = function () {
    live.textContent = "Reconnecting…";
  };
})();
