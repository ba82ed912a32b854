// Upload a gaze data set with a progress bar; the server answers JSON to this XMLHttpRequest:
// {"redirect": the import job's page} once stored, {"problems": [{"file", "problem"}]} with status 400
// when the form itself is wrong (the data is checked by the job).
(function () {
  "use strict";
  var form = document.getElementById("gaze-upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var bar = document.getElementById("gaze-progress");
  var status = document.getElementById("gaze-status");
  var box = document.getElementById("gaze-problems");
  var button = form.querySelector("button[type=submit]");

  function showProblems(problems) {
    box.textContent = "";
    var intro = document.createElement("p");
    intro.textContent = "Nothing was imported. Problems found:";
    var list = document.createElement("ul");
    problems.forEach(function (p) {
      var item = document.createElement("li");
      var file = document.createElement("code");
      file.textContent = p.file;
      item.appendChild(file);
      item.appendChild(document.createTextNode(": " + p.problem));
      list.appendChild(item);
    });
    box.appendChild(intro);
    box.appendChild(list);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round(100 * e.loaded / e.total);
        status.textContent = "Uploading… " + bar.value + "%";
      }
    });
    request.upload.addEventListener("load", function () {
      bar.value = 100;
      status.textContent = "Uploaded; handing the import to a worker…";
    });
    request.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
      if (answer && answer.redirect) { window.location.assign(answer.redirect); return; }
      button.disabled = false;
      bar.hidden = true;
      status.textContent = "";
      showProblems(answer && answer.problems ? answer.problems
        : [{file: "(upload)", problem: "the server answered " + request.status + " " + request.statusText}]);
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      status.textContent = "The upload failed (network error); nothing was imported.";
    });
    box.textContent = "";
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    request.send(new FormData(form));
  });
}());
