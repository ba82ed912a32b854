// Question pages: keys 1-5 pick an option; rt_ms is the time from page show to submit.
(function () {
  "use strict";
  const form = document.querySelector("form.question");
  if (!form) return;
  let shownAt = performance.now();
  window.addEventListener("pageshow", function () { shownAt = performance.now(); });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    document.body.classList.add("keyboard");  // a keyboard is there: show the key hint (style.css)
    const radio = form.querySelector('input[name="option"][data-key="' + event.key + '"]');
    if (radio) {
      radio.checked = true;
      radio.focus();
    }
  });
  form.addEventListener("submit", function () {
    form.elements.rt_ms.value = Math.round(performance.now() - shownAt);
    form.querySelector('button[type="submit"]').disabled = true;
  });
})();
