// Micro dashboard: enhancements only; every page works without this file.
(function () {
  "use strict";

  // Destructive buttons ask first (data-confirm="..."); without JavaScript they just post.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) ||
      event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // The live tail: <tbody data-tail="URL"> receives each event the server sends (SSE) as a
  // new first row. The URL answers text/event-stream; each message's data is an event JSON.
  function startTail(body) {
    var source = new EventSource(body.getAttribute("data-tail"));
    var status = document.getElementById("tail-status");
    var filter = body.getAttribute("data-type") || "";
    source.onopen = function () { if (status) { status.textContent = "Live: new events appear at the top."; } };
    source.onerror = function () { if (status) { status.textContent = "Reconnecting to the live tail…"; } };
    // The server ends the tail when the session is over (signed out, revoked, mode
    // switched): stop reconnecting and say so.
    source.addEventListener("ended", function () {
      source.close();
      if (status) { status.textContent = "The live tail has ended: reload the page to resume."; }
    });
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (filter && event.type !== filter) { return; }
      if (document.getElementById("event-" + event.id)) { return; }
      var row = document.createElement("tr");
      row.id = "event-" + event.id;
      row.className = "fresh";
      var link = document.createElement("a");
      link.href = body.getAttribute("data-link") + encodeURIComponent(event.id);
      link.textContent = event.id;
      var cells = [link, document.createTextNode(event.type),
        document.createTextNode(new Date(event.created * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC")];
      cells.forEach(function (content) {
        var cell = document.createElement("td");
        cell.appendChild(content);
        row.appendChild(cell);
      });
      body.insertBefore(row, body.firstChild);
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tail]").forEach(startTail);
  });
})();
