// The Generate page's live character count and cost, and the job page's current step.
// Loaded from this site with the page's nonce (the CSP allows no inline script).
(function () {
  "use strict";

  // --- characters and cost, as dashboard.services.posts defines them -------------------
  // Line endings become "\n", NUL characters go, surrounding whitespace is stripped (the
  // characters Python's str.isspace() accepts, listed here), and what is left is counted
  // in Unicode code points. The server's count (Check cost, and the charge) is the one
  // that counts; this one only saves a round trip while typing.
  var WHITESPACE = new Set([
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
    0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
    0x2028, 0x2029, 0x202f, 0x205f, 0x3000
  ]);

  function characters(text) {
    var clean = text.replace(/\r\n?/g, "\n").replace(/\u0000/g, "");
    var start = 0;
    var end = clean.length;
    // Every whitespace character is in the Basic Multilingual Plane: one code unit each.
    while (start < end && WHITESPACE.has(clean.charCodeAt(start))) {
      start += 1;
    }
    while (end > start && WHITESPACE.has(clean.charCodeAt(end - 1))) {
      end -= 1;
    }
    var count = 0;
    for (var index = start; index < end; index += 1) {
      var unit = clean.charCodeAt(index);
      // A surrogate pair is one code point.
      if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < end) {
        var next = clean.charCodeAt(index + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          index += 1;
        }
      }
      count += 1;
    }
    return count;
  }

  function grouped(number) {
    return number.toLocaleString("en-US");
  }

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element) {
      element.textContent = text;
    }
  }

  function liveCost(form, figures) {
    var perToken = parseInt(figures.getAttribute("data-characters-per-token"), 10);
    var limit = parseInt(figures.getAttribute("data-max-characters"), 10);
    var textarea = form.querySelector("textarea[name=text]");
    var user = form.querySelector("input[name=user]");
    var upload = form.querySelector("input[name=upload]");
    var warning = document.getElementById("figures-warning");

    function warn(message) {
      warning.textContent = message;
      warning.classList.toggle("d-none", !message);
    }

    function update() {
      var count = characters(textarea.value);
      var cost = count === 0 ? 0 : Math.ceil(count / perToken);
      var balance = figures.getAttribute("data-balance");
      setText("figure-characters", grouped(count));
      setText("figure-cost", String(cost));
      setText(
        "figures-source",
        "Counted in your browser as you type, the way the server counts. Check cost " +
          "or Generate has the server count it; the server's figure is the one charged."
      );
      if (count > limit) {
        warn("Too long: at most " + grouped(limit) + " characters can be generated at once.");
      } else if (balance !== "" && cost > parseInt(balance, 10)) {
        warn("The balance (" + balance + ") does not cover " + cost + " tokens.");
      } else {
        warn("");
      }
    }

    textarea.addEventListener("input", update);
    if (user) {
      user.addEventListener("input", function () {
        // The balance shown belongs to the customer checked last.
        figures.setAttribute("data-balance", "");
        setText("figure-balance", "— (Check cost)");
        update();
      });
    }
    if (upload) {
      upload.addEventListener("change", function () {
        setText("figures-source", "A file was chosen: Check cost to count its characters.");
      });
    }
  }

  // --- the job page: static/js/job_poll.js polls; this marks the step the job is at ------
  function followSteps(job) {
    job.addEventListener("job:state", function (event) {
      var word = event.detail.progress_word;
      job.setAttribute("data-word", word);
      var steps = job.querySelectorAll("#job-steps [data-step]");
      Array.prototype.forEach.call(steps, function (step) {
        step.classList.toggle("font-weight-bold", step.getAttribute("data-step") === word);
      });
    });
  }

  var form = document.getElementById("generate-form");
  var figures = document.getElementById("generate-figures");
  if (form && figures) {
    liveCost(form, figures);
  }
  var job = document.getElementById("job");
  if (job) {
    followSteps(job);
  }

  // For tests and the curious: the count the page shows while typing.
  window.backofficeCharacters = characters;
})();
