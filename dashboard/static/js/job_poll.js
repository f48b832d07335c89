// A background job's page (a post generation, a Stripe resync): poll the job's JSON status
// every 2 s and show it; once the job has finished, reload so the server renders the outcome
// (the finished page has data-finished="true" and does not poll).
// Loaded from this site with the page's nonce (the CSP allows no inline script).
//
// The page says what to show with data attributes:
//   <section id="job" data-status-url="…/status" data-finished="false">
//   an element with data-job-field="<key>" shows the status's <key> as its text;
//   <progress id="job-progress"> follows the status's progress (0-100);
//   #job-waiting says so when contact is lost.
// A page that shows more listens for the "job:state" event on #job (detail: the status).
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_FAILURES = 5;

  function show(job, state) {
    var fields = job.querySelectorAll("[data-job-field]");
    Array.prototype.forEach.call(fields, function (element) {
      var value = state[element.getAttribute("data-job-field")];
      element.textContent = value === null || value === undefined ? "" : String(value);
    });
    var bar = document.getElementById("job-progress");
    if (bar) {
      bar.value = state.progress;
      bar.textContent = state.progress + "%";
    }
    job.dispatchEvent(new CustomEvent("job:state", { detail: state }));
  }

  function follow(job) {
    var url = job.getAttribute("data-status-url");
    var failures = 0;

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          var json = (response.headers.get("Content-Type") || "").indexOf("json") !== -1;
          if (!response.ok || !json) {
            throw new Error("status " + response.status);
          }
          return response.json();
        })
        .then(function (state) {
          failures = 0;
          show(job, state);
          if (state.finished) {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          failures += 1;
          if (failures >= MAX_FAILURES) {
            var waiting = document.getElementById("job-waiting");
            if (waiting) {
              waiting.textContent =
                "Lost contact with Backoffice (signed out, or offline): reload the page.";
            }
            return;
          }
          window.setTimeout(poll, POLL_MS);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  var job = document.getElementById("job");
  if (job && job.getAttribute("data-status-url") && job.getAttribute("data-finished") !== "true") {
    follow(job);
  }
})();
