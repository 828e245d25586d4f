// The People page's changes, sent to the JSON API (/api/people/...); the page reloads to show
// the result, or says what went wrong.
"use strict";

const status = document.getElementById("people-status");

async function send(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.ok) {
    location.reload();
    return;
  }
  const answer = await response.json().catch(() => null);
  status.textContent = answer?.error?.message || `${response.status} ${response.statusText}`;
}

for (const card of document.querySelectorAll("[data-person]")) {
  const url = `/api/people/${card.dataset.person}`;
  card.querySelector(".name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send("POST", `${url}/name`, { name: event.target.elements.name.value });
  });
  card.querySelector(".merge-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const other = event.target.elements.other.value;
    if (other) send("POST", `${url}/merge`, { people: [other] });
  });
  card.querySelector(".split-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const faces = [...event.target.querySelectorAll("input[name=face]:checked")]
      .map((box) => Number(box.value));
    if (faces.length) send("POST", `${url}/split`, { faces });
  });
  const hide = card.querySelector(".hide-button");
  hide.addEventListener("click", () => send("POST", `${url}/hide`,
    { hidden: hide.dataset.hidden === "true" }));
  card.querySelector(".forget-button").addEventListener("click", () => {
    if (confirm("Forget this person? Their face vectors and crops are removed for good.")) {
      send("DELETE", url);
    }
  });
}
