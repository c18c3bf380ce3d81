// Live updates, log following and value reveals for the server-rendered pages.
// Each [data-live] block names an event stream (a watch made by the server as
// the user); on a change the page fetches itself and swaps those blocks in.
"use strict";

function banner(message, kind) {
  const box = document.getElementById("banners");
  const div = document.createElement("div");
  div.className = "banner " + (kind || "error");
  div.setAttribute("role", "alert");
  div.textContent = message;
  box.appendChild(div);
}

let refreshTimer = null;
async function refreshLiveBlocks() {
  const answer = await fetch(window.location.href, { credentials: "same-origin" });
  if (!answer.ok && answer.status !== 403 && answer.status !== 404) return;
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  for (const block of document.querySelectorAll("[data-live]")) {
    const fresh = page.getElementById(block.id);
    if (fresh) block.innerHTML = fresh.innerHTML;
  }
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshLiveBlocks, 300);
}

function followWatches() {
  const urls = new Set([...document.querySelectorAll("[data-live]")].map((b) => b.dataset.live));
  for (const url of urls) {
    const source = new EventSource(url);
    source.addEventListener("change", scheduleRefresh);
    source.addEventListener("failure", (event) => { banner(event.data); source.close(); });
  }
}

let logSource = null;
function followLog() {
  const button = document.getElementById("log-follow");
  if (!button) return;
  const pre = document.getElementById("log");
  const state = document.getElementById("log-state");
  const select = document.getElementById("log-container");
  if (logSource) logSource.close();
  pre.textContent = "";
  logSource = new EventSource(button.dataset.url + "?container=" + encodeURIComponent(select.value));
  logSource.addEventListener("ready", () => { state.textContent = "following " + select.value; });
  logSource.addEventListener("line", (event) => {
    pre.textContent += event.data + "\n";
    pre.scrollTop = pre.scrollHeight;
  });
  logSource.addEventListener("end", () => { state.textContent = "log ended"; logSource.close(); });
  logSource.addEventListener("failure", (event) => { state.textContent = event.data; logSource.close(); });
}

async function reveal(button) {
  const value = button.parentElement.querySelector(".value");
  if (!value.classList.contains("hidden-value")) {
    value.textContent = "••••••••";
    value.classList.add("hidden-value");
    button.textContent = "Reveal";
    return;
  }
  const answer = await fetch(button.dataset.url, { credentials: "same-origin" });
  const text = await answer.text();
  if (!answer.ok) { banner(text); return; }
  value.textContent = text;
  value.classList.remove("hidden-value");
  button.textContent = "Hide";
}

document.addEventListener("DOMContentLoaded", () => {
  followWatches();
  const follow = document.getElementById("log-follow");
  if (follow) {
    follow.addEventListener("click", followLog);
    document.getElementById("log-container").addEventListener("change", followLog);
    followLog();
  }
  document.addEventListener("click", (event) => {
    if (event.target.classList && event.target.classList.contains("reveal")) reveal(event.target);
  });
});
