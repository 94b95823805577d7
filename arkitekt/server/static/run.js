// The call page, live: server-sent events from /dashboard/calls/<id>/events, each one event as
// the server placed it (arkitekt/server/call_view.py: status, progress, log line, results,
// error). This script only puts them where call.html put the earlier ones, building elements
// with textContent (never HTML from the server). No framework, no inline script: the pages'
// Content-Security-Policy allows scripts from this origin only.
"use strict";

(function () {
  const root = document.getElementById("call");
  if (!root || root.dataset.final === "true" || typeof EventSource === "undefined") {
    return;
  }
  const MAX_LINES = 1000; // log lines kept on the page (the oldest go)
  const byId = (id) => document.getElementById(id);
  const live = byId("live");

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined && text !== null) made.textContent = text;
    return made;
  }

  // One value (a ValueView), as the template's `value` macro renders it.
  function renderValue(view) {
    if (view.type === "image" && view.image) {
      const figure = element("figure", "value image");
      const image = view.image;
      if (image.thumbnail) {
        const link = element("a");
        link.href = image.thumbnail;
        const img = element("img", "thumbnail");
        img.src = image.thumbnail;
        img.alt = "First plane of " + image.name;
        img.width = image.width;
        img.height = image.height;
        link.append(img);
        figure.append(link);
      } else {
        figure.append(element("div", "thumbnail none", "no pixels"));
      }
      const caption = element("figcaption", null, image.name + " ");
      caption.append(element("code", null, image.id));
      figure.append(caption);
      return figure;
    }
    if (view.type === "list") {
      const box = element("div", "value list");
      box.append(element("span", "hint", view.text));
      const list = element("ul");
      for (const item of view.items) {
        const entry = element("li");
        entry.append(renderValue(item));
        list.append(entry);
      }
      box.append(list);
      return box;
    }
    if (view.type === "json") return element("pre", "value json", view.text);
    if (view.type === "reference") return element("code", "value reference", view.text);
    return element("span", "value " + view.type, view.text);
  }

  function setStatus(status) {
    const badge = byId("status");
    badge.textContent = status;
    badge.className = "badge status-" + status;
  }

  function setProgress(percent) {
    const bar = byId("progress");
    bar.value = percent;
    bar.textContent = percent + "%";
    byId("progress-text").textContent = percent + "%";
    byId("progress-line").hidden = false;
  }

  function addLog(view) {
    const line = element("li", "line level-" + (view.level || view.kind), view.log);
    line.dataset.index = view.index;
    const log = byId("log");
    log.append(line);
    while (log.children.length > MAX_LINES) log.firstElementChild.remove();
    byId("no-log").hidden = true;
  }

  function addResults(view) {
    const entry = element("li", "result");
    entry.dataset.index = view.index;
    const list = element("dl");
    for (const item of view.results) {
      if (item.label) list.append(element("dt", null, item.label));
      const value = element("dd");
      value.append(renderValue(item));
      list.append(value);
    }
    entry.append(list);
    byId("results").append(entry);
    byId("no-results").hidden = true;
  }

  function showError(error) {
    const box = byId("error");
    box.replaceChildren(
      element("strong", "error-type", error.type),
      document.createTextNode(": "),
      element("span", "error-message", error.message),
    );
    if (error.traceback) {
      const details = element("details");
      details.append(element("summary", null, "Traceback"), element("pre", "traceback", error.traceback));
      box.append(details);
    }
    box.hidden = false;
  }

  function finish() {
    root.dataset.final = "true";
    const cancel = byId("cancel-form");
    if (cancel) cancel.remove();
    const empty = byId("no-results");
    if (!empty.hidden) empty.textContent = "No result.";
  }

  function apply(view) {
    setStatus(view.status);
    if (view.progress !== null) setProgress(view.progress);
    if (view.log !== null) addLog(view);
    if (view.results !== null) addResults(view);
    if (view.error !== null) showError(view.error);
    if (view.ending !== null) {
      const ending = byId("ending");
      ending.textContent = view.ending;
      ending.hidden = false;
    }
    if (view.final) finish();
  }

  const source = new EventSource(root.dataset.stream);
  source.onopen = () => {
    live.textContent = "";
  };
  source.onmessage = (message) => {
    live.textContent = "";
    apply(JSON.parse(message.data));
  };
  // The call ended: nothing more will come (without this the browser would reconnect).
  source.addEventListener("end", () => {
    source.close();
    live.textContent = "";
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // refused (logged out, too many open pages): the page still shows what it had
      live.textContent = "Live updates stopped. Reload the page to see the latest state.";
    } else {
      live.textContent = "Reconnecting…";
    }
  };
})();
