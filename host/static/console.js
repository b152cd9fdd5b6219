// The console's own enhancements; every form works without them.
// - Buttons with data-confirm ask first.
// - A running sync's progress follows the server's event stream, and the page reloads
//   when the sync ends so History shows its row.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

function followSync() {
  const section = document.getElementById("sync");
  const done = document.getElementById("done");
  if (!section || !done || !window.EventSource) {
    return;
  }
  const total = document.getElementById("total");
  const bar = document.getElementById("progress-bar");
  const events = new EventSource(section.dataset.events);
  events.addEventListener("progress", (event) => {
    const status = JSON.parse(event.data);
    const running = status.running_here;
    if (!running) {
      return;
    }
    done.textContent = running.done;
    if (running.total !== null && total) {
      total.textContent = running.total;
    }
    if (bar && running.total) {
      bar.max = running.total;
      bar.value = running.done;
    }
  });
  events.addEventListener("finished", () => {
    events.close();
    window.location.reload();
  });
  events.addEventListener("error", () => events.close());
}

document.addEventListener("DOMContentLoaded", followSync);
