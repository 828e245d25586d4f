// vidseek video page: a chapter of the strip or a line of the timeline (what was said, read on
// screen or subtitled) plays the video from its start; while it plays, the lines it is at are
// marked and kept in view.
"use strict";

(() => {
  const video = document.getElementById("video");
  const timeline = document.querySelector(".timeline");
  const lines = [...document.querySelectorAll(".timeline .line")];

  function playFrom(t0) {
    if (!video) return;
    video.currentTime = t0;
    video.play().catch(() => {}); // autoplay may be refused; the controls are there
  }

  function keepInView(line) {
    // Scroll the timeline only, never the page under it.
    const top = line.offsetTop - timeline.offsetTop;
    if (top < timeline.scrollTop || top + line.offsetHeight > timeline.scrollTop + timeline.clientHeight) {
      timeline.scrollTop = top - timeline.clientHeight / 3;
    }
  }

  function markAt(t) {
    let first = null;
    for (const line of lines) {
      const on = parseFloat(line.dataset.t0) <= t && t <= parseFloat(line.dataset.t1);
      line.parentElement.classList.toggle("current", on);
      if (on) line.setAttribute("aria-current", "true");
      else line.removeAttribute("aria-current");
      if (on && !first && line.offsetParent) first = line;
    }
    if (first) keepInView(first);
  }

  for (const button of document.querySelectorAll(".chapter")) {
    button.addEventListener("click", () => playFrom(parseFloat(button.dataset.t0)));
  }
  for (const line of lines) {
    line.addEventListener("click", (event) => {
      if (!video || event.ctrlKey || event.metaKey || event.shiftKey) return; // a new tab
      event.preventDefault();
      history.replaceState(null, "", line.href); // the address says where the page is at
      playFrom(parseFloat(line.dataset.t0));
    });
  }
  if (video && timeline) {
    video.addEventListener("timeupdate", () => markAt(video.currentTime));
  }
  const current = document.querySelector(".timeline .current .line");
  if (current) keepInView(current);
})();
