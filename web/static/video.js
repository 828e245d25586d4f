// vidseek video page: a click on a chapter of the strip plays the video from its start.
"use strict";

(() => {
  const video = document.getElementById("video");
  for (const button of document.querySelectorAll(".chapter")) {
    button.addEventListener("click", () => {
      if (!video) return;
      video.currentTime = parseFloat(button.dataset.t0);
      video.play().catch(() => {}); // autoplay may be refused; the controls are there
    });
  }
})();
