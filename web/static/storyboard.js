// vidseek storyboards: moving the pointer across a thumbnail shows the video's shots in turn,
// from its storyboard sprite (one tile per shot; the `storyboard` of /api/videos/<id>), with
// the time each shot starts. Leaving it shows the thumbnail again.
"use strict";

window.vidseekStoryboard = (() => {
  function clock(t) {
    const s = Math.max(0, Math.floor(t));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  // Each tile gets an equal share of the width: every shot shows, however short.
  function tileUnder(event, element, count) {
    const box = element.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - box.left, 0), box.width - 1);
    return Math.min(count - 1, Math.floor((x / box.width) * count));
  }

  // `resting`: the tile shown while the pointer is elsewhere (none: the element's own image).
  function attach(element, board, resting = null) {
    if (!board || !board.times.length) return;
    const preview = document.createElement("span");
    preview.className = "scrub";
    const time = document.createElement("span");
    time.className = "scrub-time";
    preview.append(time);
    element.append(preview);
    const rows = Math.ceil(board.times.length / board.columns);
    let shown = null;

    function show(tile, hovering) {
      shown = tile;
      preview.hidden = tile === null;
      time.hidden = !hovering;
      if (tile === null) return;
      // The sprite scaled so that one tile fills the preview; positions in percent of the rest.
      const column = tile % board.columns, row = Math.floor(tile / board.columns);
      preview.style.backgroundImage = `url("${board.image_url}")`;
      preview.style.backgroundSize = `${board.columns * 100}% ${rows * 100}%`;
      preview.style.backgroundPosition =
        `${board.columns > 1 ? (column / (board.columns - 1)) * 100 : 0}% ` +
        `${rows > 1 ? (row / (rows - 1)) * 100 : 0}%`;
      time.textContent = clock(board.times[tile]);
    }

    element.addEventListener("pointermove", (event) => {
      const tile = tileUnder(event, element, board.times.length);
      if (tile !== shown || time.hidden) show(tile, true);
    });
    element.addEventListener("pointerleave", () => show(resting, false));
    show(resting, false);
  }

  // A result card fetches its video's tile map when the pointer first comes over it (once a
  // video, however many cards show it).
  const maps = new Map();
  function attachFrom(element, url) {
    if (!url) return;
    element.addEventListener("pointerenter", () => {
      if (!maps.has(url)) maps.set(url, fetch(url).then((r) => (r.ok ? r.json() : null)));
      maps.get(url).then((board) => attach(element, board)).catch(() => {});
    }, { once: true });
  }

  // Server-rendered thumbnails (the library page) carry their storyboard as JSON and show its
  // first tile at rest.
  for (const element of document.querySelectorAll("[data-storyboard]")) {
    attach(element, JSON.parse(element.dataset.storyboard), 0);
  }
  return { attach, attachFrom };
})();
