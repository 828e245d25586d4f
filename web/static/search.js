// vidseek search page: instant text search, search by example (drop or pick a clip/image),
// and an in-page player that starts at the moment. Plain DOM, no framework, no build step.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const panel = $(".search-panel");
  const urls = {
    text: panel.dataset.searchUrl,
    image: panel.dataset.imageUrl,
    video: panel.dataset.videoUrl,
    labels: panel.dataset.labelsUrl,
    reel: panel.dataset.reelUrl,
  };
  const labelSelect = $("#label");
  const personSelect = $("#person");
  const faceMode = $("#face-mode");
  const maxUploadBytes = parseFloat(panel.dataset.maxUploadMb) * 1024 * 1024;
  const form = $("#search-form");
  const input = $("#q");
  const results = $("#results");
  const status = $("#status");
  const more = $("#more");
  const template = $("#card-template");
  const PAGE_SIZE = 24;
  const DEBOUNCE_MS = 200; // fast enough to feel instant, slow enough to skip mid-word queries

  let inFlight = null; // AbortController of the request whose answer we still want
  let textPage = 1;
  let debounce = 0;
  let example = null; // the File of a search by example, while one is shown

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  }

  function modalities() {
    const boxes = [...document.querySelectorAll('input[name="modality"]')];
    const on = boxes.filter((b) => b.checked).map((b) => b.value);
    return on.length && on.length < boxes.length ? on.join(",") : "";
  }

  function say(text, kind = "") {
    status.textContent = text;
    status.className = `status ${kind}`;
  }

  // One request at a time: a newer query cancels the older one, so answers never arrive
  // out of order.
  async function call(url, init = {}) {
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    const started = performance.now();
    const response = await fetch(url, { ...init, signal: inFlight.signal });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error(body?.error?.message || `${response.status} ${response.statusText}`);
    }
    return { body, ms: performance.now() - started };
  }

  function snippet(node, item) {
    if (!item.snippet) return;
    const { text, highlights } = item.snippet;
    let at = 0;
    for (const [start, end] of highlights) {
      node.append(text.slice(at, start));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(start, end);
      node.append(mark);
      at = end;
    }
    node.append(text.slice(at));
    node.hidden = false;
  }

  function card(item) {
    const el = template.content.firstElementChild.cloneNode(true);
    el.dataset.videoId = item.video_id;
    el.dataset.t0 = item.t0;
    const img = el.querySelector("img");
    if (item.thumbnail_url) {
      img.src = item.thumbnail_url;
      img.addEventListener("error", () => { img.hidden = true; });
    } else {
      img.hidden = true;
    }
    el.querySelector(".span-badge").textContent = `${clock(item.t0)}–${clock(item.t1)}`;
    window.vidseekStoryboard.attachFrom(el.querySelector(".thumb"), item.storyboard_url); // hover: its shots
    el.querySelector(".title").textContent = item.title || `video ${item.video_id}`;
    el.querySelector(".title").title = item.path || "";
    const tags = el.querySelector(".modalities");
    for (const m of item.matched_by) {
      const tag = document.createElement("span");
      tag.className = `tag ${m}`;
      tag.textContent = m;
      tags.append(tag);
    }
    const score = el.querySelector(".score");
    if (item.offset != null) {
      // A clip query: the score is the mean similarity along the aligned span.
      score.textContent = `match ${item.score.toFixed(2)}`;
      score.title = `${item.matched_segments} clip segment(s) line up here`;
    } else {
      score.textContent = item.similarity != null
        ? `similarity ${item.similarity.toFixed(2)}` : `score ${item.score.toFixed(3)}`;
    }
    snippet(el.querySelector(".snippet"), item);
    const chips = el.querySelector(".labels");
    for (const name of item.labels || []) {
      const chip = document.createElement("span");
      chip.className = "label-chip";
      chip.textContent = name;
      chips.append(chip);
    }
    if (item.analysing && item.analysing.length) { // frames first: the rest is on its way
      const note = document.createElement("span");
      note.className = "analysing";
      note.textContent = `still analysing ${item.analysing.join(", ")}`;
      el.querySelector(".meta").append(note);
    }
    // The video page at this moment: its timeline shows what was said and read there.
    el.querySelector(".video-link").href = `/videos/${item.video_id}?t=${item.t0}`;
    // A moment of one frame still downloads as a second of video.
    el.querySelector(".clip-link").href = `/api/videos/${item.video_id}/clip?` +
      new URLSearchParams({ t0: item.t0, t1: Math.max(item.t1, item.t0 + 1) });
    el.querySelector(".mark-example").addEventListener("click", () => markExample(item));
    el.querySelector(".thumb").addEventListener("click", () => play(item));
    el.querySelector(".thumb").setAttribute(
      "aria-label", `Play ${item.title} from ${clock(item.t0)}`);
    return el;
  }

  function show(items, append) {
    if (!append) results.replaceChildren();
    results.append(...items.map(card));
  }

  function syncAddress(query) {
    const url = new URL(location.href);
    if (query) url.searchParams.set("q", query); else url.searchParams.delete("q");
    history.replaceState(null, "", url);
    document.title = query ? `${query} · vidseek` : "vidseek";
  }

  async function searchText(page = 1) {
    const query = input.value.trim();
    const person = personSelect?.value || "";
    syncAddress(query);
    if (!query && !person) {
      if (inFlight) inFlight.abort();
      results.replaceChildren();
      more.hidden = true;
      reelLinks.hidden = true;
      say("Type to search, or drop a clip or an image anywhere on the page.");
      return;
    }
    // A person alone is a search too: every moment they are on screen.
    const params = new URLSearchParams({ k: PAGE_SIZE, page });
    if (query) params.set("q", query);
    if (modalities()) params.set("modality", modalities());
    if (labelSelect?.value) params.set("label", labelSelect.value);
    if (person) params.set("person", person);
    say("Searching…", "busy");
    try {
      const { body, ms } = await call(`${urls.text}?${params}`);
      show(body.results, page > 1);
      textPage = page;
      more.hidden = !body.has_more;
      const shown = results.children.length;
      if (query) offerReel(params, shown); else reelLinks.hidden = true;  // a reel is of a query
      say(shown ? `${shown} moment${shown === 1 ? "" : "s"} · ${Math.round(ms)} ms`
                : query ? `Nothing matches “${query}”.` : "Nobody picked is on screen.");
    } catch (error) {
      if (error.name !== "AbortError") say(error.message, "error");
    }
  }

  // The reel of the moments shown: the same search (/api/reel takes its parameters), as many.
  const reelLinks = $("#reel-links");
  function offerReel(params, shown) {
    reelLinks.hidden = !shown;
    if (!shown) return;
    const reel = new URLSearchParams(params);
    reel.delete("k");
    reel.delete("page");
    reel.set("count", Math.min(shown, 100));
    $("#reel-mp4").href = `${urls.reel}?${reel}&titles=true`;
    $("#reel-m3u").href = `${urls.reel}?${reel}&format=m3u`;
  }

  async function searchExample(file) {
    if (file.size > maxUploadBytes) {
      say(`${file.name} is larger than the ${panel.dataset.maxUploadMb} MB upload limit.`, "error");
      return;
    }
    const isImage = file.type.startsWith("image/");
    example = file;
    $("#example-name").textContent = `${isImage ? "Looks like" : "Similar to"} ${file.name}`;
    $("#example").hidden = false;
    input.value = "";
    syncAddress("");
    more.hidden = true;
    reelLinks.hidden = true; // a reel is made from a text search
    const data = new FormData();
    data.append(isImage ? "image" : "clip", file);
    data.append("k", PAGE_SIZE);
    if (modalities()) data.append("modality", modalities());
    if (isImage && labelSelect?.value) data.append("label", labelSelect.value);
    if (isImage && faceMode?.checked) data.append("mode", "face");
    else if (isImage && personSelect?.value) data.append("person", personSelect.value);
    say(isImage ? "Looking for this image…" : "Embedding the clip and aligning it…", "busy");
    try {
      const { body, ms } = await call(isImage ? urls.image : urls.video,
                                      { method: "POST", body: data });
      show(body.results, false);
      const n = body.results.length;
      say(n ? `${n} moment${n === 1 ? "" : "s"} like ${file.name} · ${Math.round(ms)} ms`
            : `Nothing in the library looks like ${file.name}.`);
    } catch (error) {
      if (error.name !== "AbortError") say(error.message, "error");
    }
  }

  // A moment marked as an example of a label: the label is learned (again) from its examples
  // and the whole library labelled with it.
  async function markExample(item) {
    const name = (prompt(`This moment (${clock(item.t0)}–${clock(item.t1)} of ${item.title}) `
                         + "is an example of which label?") || "").trim();
    if (!name) return;
    say(`Learning “${name}” from its examples…`, "busy");
    try {
      const response = await fetch(`${urls.labels}/${encodeURIComponent(name)}/examples`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ video_id: item.video_id, t0: item.t0, t1: item.t1 }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new Error(body?.error?.message || response.statusText);
      say(`“${name}”: ${body.summary}`);
    } catch (error) {
      say(error.message, "error");
    }
  }

  function clearExample() {
    example = null;
    $("#example").hidden = true;
    $("#example-file").value = "";
  }

  // --- the player ---------------------------------------------------------------------
  const player = $("#player");
  const video = $("#video");

  function play(item) {
    $("#player-title").textContent = `${item.title} · ${clock(item.t0)}–${clock(item.t1)}`;
    player.hidden = false;
    // The media fragment (#t=t0,t1) starts playback at t0; seeking again once the metadata
    // is in covers browsers that ignore fragments.
    video.src = item.playback_url;
    video.addEventListener("loadedmetadata", () => {
      if (Math.abs(video.currentTime - item.t0) > 0.5) video.currentTime = item.t0;
    }, { once: true });
    video.play().catch(() => {}); // autoplay may be refused; the controls are there
    $("#player-close").focus();
  }

  function closePlayer() {
    video.pause();
    video.removeAttribute("src");
    video.load();
    player.hidden = true;
  }

  // --- wiring -------------------------------------------------------------------------
  input.addEventListener("input", () => {
    clearTimeout(debounce);
    if (example) clearExample();
    debounce = setTimeout(() => searchText(1), DEBOUNCE_MS);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(debounce);
    searchText(1);
  });
  for (const box of document.querySelectorAll('input[name="modality"]')) {
    box.addEventListener("change", () => (example ? searchExample(example) : searchText(1)));
  }
  more.addEventListener("click", () => searchText(textPage + 1));
  personSelect?.addEventListener("change", () => (example ? searchExample(example)
                                                          : searchText(1)));
  labelSelect?.addEventListener("change", () => {
    const url = new URL(location.href);
    if (labelSelect.value) url.searchParams.set("label", labelSelect.value);
    else url.searchParams.delete("label");
    history.replaceState(null, "", url);
    return example ? searchExample(example) : searchText(1);
  });
  $("#example-file").addEventListener("change", (event) => {
    if (event.target.files[0]) searchExample(event.target.files[0]);
  });
  $("#example-clear").addEventListener("click", () => {
    clearExample();
    results.replaceChildren();
    say("Type to search, or drop a clip or an image anywhere on the page.");
    input.focus();
  });
  $("#player-close").addEventListener("click", closePlayer);
  player.addEventListener("click", (event) => { if (event.target === player) closePlayer(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !player.hidden) closePlayer();
    if (event.key === "/" && document.activeElement !== input) {
      event.preventDefault();
      input.focus();
    }
  });

  const overlay = $("#drop-overlay");
  let dragDepth = 0; // dragenter/leave fire for every child element crossed
  const carriesFiles = (event) => [...event.dataTransfer.types].includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    dragDepth += 1;
    overlay.hidden = false;
  });
  window.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) overlay.hidden = true;
  });
  window.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) event.preventDefault();
  });
  window.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    overlay.hidden = true;
    if (event.dataTransfer.files[0]) searchExample(event.dataTransfer.files[0]);
  });

  if (input.value.trim()) searchText(1);
})();
