// vidseek job panel (library page): what the server's background indexing is doing, read from
// /api/jobs every few seconds while the page is visible, and a "scan now" button. Plain DOM.
"use strict";

(() => {
  const panel = document.querySelector(".jobs-panel");
  if (!panel) return;
  const $ = (selector) => panel.querySelector(selector);
  const POLL_MS = 2000;
  const STEPS = { frames: "frames of", signals: "speech, text and sound of", removal: "removing",
                  scan: "scanning the folders", labels: "labelling" };

  function duration(seconds) {
    if (seconds == null) return "—";
    const s = Math.round(seconds);
    if (s < 90) return `${s} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  function show(jobs) {
    panel.hidden = jobs.state === "off";
    if (panel.hidden) return;
    const q = jobs.queued;
    $(".jobs-state").textContent = jobs.state === "waiting"
      ? `Waiting: ${jobs.waiting_for}` : jobs.state === "working" ? "Working" : "Up to date";
    const c = jobs.current;
    $(".jobs-current").textContent = c
      ? `${STEPS[c.step] || c.step} ${c.path ? c.path.split("/").pop() : ""} (${duration(c.seconds)})`
      : "";
    $(".jobs-queue").textContent = `${q.files} file(s) waiting for their frames, ` +
      `${q.awaiting_signals} video(s) for their other signals` +
      (q.removals ? `, ${q.removals} removal(s)` : "") +
      (jobs.files_per_minute != null ? ` · ${jobs.files_per_minute} file(s)/min` : "") +
      (jobs.eta_seconds != null && (q.files || q.awaiting_signals)
        ? ` · about ${duration(jobs.eta_seconds)} left` : "");
    const failures = $(".jobs-failures");
    failures.hidden = !jobs.failed;
    failures.querySelector("summary").textContent = `${jobs.failed} failure(s)`;
    const list = failures.querySelector("ul");
    list.replaceChildren(...jobs.failures.map((f) => {
      const item = document.createElement("li");
      item.textContent = `${f.path || f.step}: ${f.reason}`;
      return item;
    }));
  }

  async function poll() {
    if (document.visibilityState === "visible") {
      try {
        const response = await fetch(panel.dataset.jobsUrl);
        if (response.ok) show(await response.json());
      } catch (e) { /* the server restarts: the next poll tells */ }
    }
    setTimeout(poll, POLL_MS);
  }

  $(".scan-now").addEventListener("click", async () => {
    const button = $(".scan-now");
    button.disabled = true;
    try {
      const response = await fetch(panel.dataset.scanUrl, { method: "POST" });
      const body = await response.json();
      if (response.ok) show(body);
      else $(".jobs-state").textContent = body.error.message;
    } finally {
      button.disabled = false;
    }
  });
  poll();
})();
