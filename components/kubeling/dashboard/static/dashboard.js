// Live updates, log following and value reveals for the server-rendered pages.
// Each [data-live] block names an event stream (a watch made by the server as
// the user); on a change the page fetches itself and swaps those blocks in.
"use strict";

function banner(message, kind) {
  const box = document.getElementById("banners");
  for (const shown of box.children) if (shown.textContent === message) return;
  const div = document.createElement("div");
  div.className = "banner " + (kind || "error");
  div.setAttribute("role", "alert");
  div.textContent = message;
  box.appendChild(div);
}

let refreshTimer = null;
// Every stream this page opened: closed when the page goes, even into the back/forward cache,
// since a browser allows only a few connections per server and a kept stream holds one.
const openStreams = [];
window.addEventListener("pagehide", () => { for (const stream of openStreams) stream.close(); });
// Back from that cache the streams are gone: load the page afresh.
window.addEventListener("pageshow", (event) => { if (event.persisted) window.location.reload(); });
async function refreshLiveBlocks() {
  let answer;
  try {
    answer = await fetch(window.location.href, { credentials: "same-origin" });
  } catch (error) {
    // A dropped request (the browser saw the network change, the server restarted): try again.
    refreshTimer = setTimeout(refreshLiveBlocks, 1000);
    return;
  }
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
  // One stream for every live block of the page: browsers allow only a few connections per server.
  const watches = new Set([...document.querySelectorAll("[data-live]")].map((b) => b.dataset.live));
  if (watches.size === 0) return;
  const query = [...watches].map((w) => "w=" + encodeURIComponent(w)).join("&");
  const source = new EventSource(document.body.dataset.root + "live?" + query);
  openStreams.push(source);
  let opened = false;
  // EventSource reconnects by itself; the server then watches from "now", so catch up once.
  source.addEventListener("ready", () => { if (opened) scheduleRefresh(); opened = true; });
  source.addEventListener("change", scheduleRefresh);
  source.addEventListener("failure", (event) => banner(event.data));
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
  openStreams.push(logSource);
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

// Action forms post in the background: the answer page's banner is shown here and the live
// blocks refresh, so the page never reloads (a deleted pod's answer is its list: go there).
async function post(url, body) {
  // Once more when the request never got an answer (the browser dropped it on a network
  // change): scale sets a number and delete of a deleted pod is refused, so a repeat is harmless.
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(url, { method: "POST", body: body, credentials: "same-origin" });
    } catch (error) {
      if (attempt >= 2) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function submitAction(form) {
  let answer;
  try {
    answer = await post(form.action, new URLSearchParams(new FormData(form)));
  } catch (error) {
    banner("The dashboard did not answer: " + error.message);
    return;
  }
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  if (answer.ok && answer.redirected && new URL(answer.url).pathname !== window.location.pathname) {
    window.location.href = answer.url;
    return;
  }
  const error = page.getElementById("error-banner");
  const notice = page.getElementById("notice-banner");
  if (error) banner(error.textContent, "error");
  else if (notice) banner(notice.textContent, "notice");
  else if (!answer.ok) banner("HTTP " + answer.status);
  scheduleRefresh();
}

document.addEventListener("DOMContentLoaded", () => {
  followWatches();
  for (const form of document.querySelectorAll("form.action")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      submitAction(form);
    });
  }
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
