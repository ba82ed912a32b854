// A job's page: poll its status (JSON) every second while it is queued or running, update the
// progress bar and message, and reload the page once it ends (to show its error, results or Retry).
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.dataset.active !== "1" || !window.fetch) { return; }
  var state = document.getElementById("job-state");
  var bar = document.getElementById("job-progress");
  var count = document.getElementById("job-count");
  var message = document.getElementById("job-message");

  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (job) {
        state.textContent = job.state;
        bar.value = job.progress;
        count.textContent = job.total ? job.done + " / " + job.total : "";
        message.textContent = job.message;
        if (job.active) { window.setTimeout(poll, 1000); } else { window.location.reload(); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
}());
