// Attention (BubbleView) pages: each click or tap on the blurred image shows the sharp image through one
// circle there (the previous one closes). Clicks go into the hidden field `clicks` as JSON [[x, y, t_ms]]:
// x, y in the item image's natural pixels (0.1 px), t_ms since the page was shown. Next is enabled after
// the minimum number of clicks, or once the time limit ran out.
(function () {
  "use strict";
  const view = document.querySelector(".bubble-view");
  const form = document.querySelector("form.question");
  if (!view || !form) return;
  const blurred = view.querySelector("img.blurred");
  const sharp = view.querySelector("img.sharp");
  const next = form.querySelector('button[type="submit"]');
  const counter = form.querySelector("[data-clicks]");
  const timeLeft = form.querySelector("[data-time-left]");
  const radius = Number(view.dataset.radius);
  const minClicks = Number(view.dataset.minClicks);
  const maxClicks = Number(view.dataset.maxClicks);
  const limitMs = Number(view.dataset.timeLimitS) * 1000;
  const shownAt = performance.now();
  const clicks = [];
  let timedOut = false;

  function update() {
    form.elements.clicks.value = JSON.stringify(clicks);
    counter.textContent = String(clicks.length);
    next.disabled = clicks.length < minClicks && !timedOut;
  }

  function showBubble() {  // the last click's circle, at the image's current displayed size
    if (!clicks.length) return;
    const [x, y] = clicks[clicks.length - 1];
    const scale = blurred.getBoundingClientRect().width / sharp.naturalWidth;
    sharp.style.clipPath = "circle(" + radius * scale + "px at " + x * scale + "px " + y * scale + "px)";
  }

  view.addEventListener("pointerdown", function (event) {
    if (timedOut || clicks.length >= maxClicks || !sharp.naturalWidth) return;
    event.preventDefault();
    const rect = blurred.getBoundingClientRect();
    const width = sharp.naturalWidth, height = sharp.naturalHeight;
    const x = (event.clientX - rect.left) * width / rect.width;
    const y = (event.clientY - rect.top) * height / rect.height;
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const round = function (value, top) { return Math.min(Math.round(value * 10) / 10, top - 0.1); };
    const last = clicks.length ? clicks[clicks.length - 1][2] : 0;
    clicks.push([round(x, width), round(y, height), Math.max(Math.round(performance.now() - shownAt), last)]);
    showBubble();
    update();
  });
  window.addEventListener("resize", showBubble);

  if (limitMs > 0) {
    const timer = setInterval(function () {
      const left = limitMs - (performance.now() - shownAt);
      if (timeLeft) timeLeft.textContent = String(Math.max(0, Math.ceil(left / 1000)));
      if (left <= 0) {
        clearInterval(timer);
        timedOut = true;
        form.elements.timed_out.value = "1";
        update();
      }
    }, 250);
  }
  update();
})();
