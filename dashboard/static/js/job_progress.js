// A background job's page (e.g. Resync Stripe): poll its JSON status every 2 s and move the
// progress bar; once the job has finished, reload so the server renders the report.
// Loaded from this site with the page's nonce (the CSP allows no inline script).
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_FAILURES = 5;

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element) {
      element.textContent = text;
    }
  }

  function follow(job) {
    var url = job.getAttribute("data-status-url");
    var failures = 0;

    function show(state) {
      setText("job-status", state.status);
      setText("job-message", state.progress_message || "");
      var bar = document.getElementById("job-progress");
      if (bar) {
        bar.value = state.progress;
        bar.textContent = state.progress + "%";
      }
    }

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
          show(state);
          if (state.finished) {
            window.location.reload(); // the finished page renders the report and stops
            return;
          }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          failures += 1;
          if (failures >= MAX_FAILURES) {
            setText("job-waiting", "Lost contact with Backoffice (signed out, or offline): reload the page.");
            return;
          }
          window.setTimeout(poll, POLL_MS);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  var job = document.getElementById("job");
  if (job && job.getAttribute("data-finished") !== "true") {
    follow(job);
  }
})();
