// The console's own enhancements; every form works without them.
// - Buttons with data-confirm ask first.
// - A queued or running sync's progress follows the server's event stream: the page
//   reloads when a queued sync starts (to show its progress) and when the sync ends so
//   History shows its row (without the "requested" notice, which is over by then).
// - Test Connection on the configure form runs in place: the fields, a typed secret
//   included (the server never sends one back), stay as they are.
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
  if (!section || section.dataset.live !== "1" || !window.EventSource) {
    return;
  }
  const total = document.getElementById("total");
  const totalPart = document.getElementById("total-part");
  const bar = document.getElementById("progress-bar");
  const events = new EventSource(section.dataset.events);
  events.addEventListener("progress", (event) => {
    const status = JSON.parse(event.data);
    const running = status.running;
    if (!running) {
      return;
    }
    if (!done) {
      // It was queued when the page was drawn, and runs now: show its progress.
      reload();
      return;
    }
    done.textContent = running.done;
    if (running.total !== null && total) {
      total.textContent = running.total;
      // A page drawn before the first report knew no total: show it now.
      if (totalPart) {
        totalPart.hidden = false;
      }
    }
    if (bar && running.total) {
      bar.max = running.total;
      bar.value = running.done;
    }
  });
  function reload() {
    events.close();
    const url = new URL(window.location.href);
    url.searchParams.delete("notice");
    window.location.replace(url.toString());
  }
  events.addEventListener("finished", reload);
  events.addEventListener("error", () => events.close());
}

function testInPlace() {
  const form = document.getElementById("configure");
  const button = document.getElementById("test-connection");
  if (!form || !button || !window.fetch || !window.DOMParser) {
    return;
  }
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    fields.set("action", "test");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      // The attribute, not `form.action`: the buttons named "action" shadow that property.
      const answer = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: new URLSearchParams(fields),
        credentials: "same-origin",
      });
      if (answer.redirected) {
        window.location.assign(answer.url);
        return;
      }
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      if (page.querySelector("[aria-invalid=true]") || !page.getElementById("test-result")) {
        // Fields to correct, or no test ran: show the server's page as a submit would.
        document.querySelector("main").replaceWith(document.importNode(page.querySelector("main"), true));
        testInPlace();
        return;
      }
      for (const id of ["error", "test-result"]) {
        document.getElementById(id)?.remove();
        const fresh = page.getElementById(id);
        if (fresh) {
          form.before(document.importNode(fresh, true));
        }
      }
    } catch {
      // Unreachable or unreadable: fall back to the plain submit.
      form.requestSubmit(button);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  followSync();
  testInPlace();
});
