// The jobs pages' only script: while a job runs, ask for its figures every two seconds and
// move its progress bar; when it ends, load the page again to show the outcome. Without the
// script the page says to reload it. No inline code (strict CSP), nothing from elsewhere.
"use strict";

(function () {
  const EVERY_MS = 2000;

  function follow(card) {
    const url = card.getAttribute("data-status-url");
    const bar = card.querySelector("progress.job-bar");
    const figures = card.querySelector("[data-job-figures]");
    const message = card.querySelector("[data-job-message]");
    const badge = card.querySelector("[data-job-badge]");
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) {
          if (!job) { return; }
          if (job.state !== "queued" && job.state !== "running") {
            window.location.reload();
            return;
          }
          if (bar && job.total) {
            bar.max = job.total;
            bar.value = job.done;
            bar.setAttribute("aria-label", job.title + ": " + job.done + " of " + job.total);
          }
          if (figures && job.total) {
            figures.textContent = job.done.toLocaleString("en") + " of " +
              job.total.toLocaleString("en") + " (" + job.percent + "%)";
          }
          if (message) { message.textContent = job.message; }
          if (badge) { badge.textContent = job.state; badge.className = "badge status-" + job.state; }
          window.setTimeout(tick, EVERY_MS);
        })
        .catch(function () { window.setTimeout(tick, EVERY_MS * 2); });
    }
    window.setTimeout(tick, EVERY_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-status-url]").forEach(follow);
    document.querySelectorAll("[data-reload-hint]").forEach(function (hint) { hint.hidden = true; });
  });
})();
