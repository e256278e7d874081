// modalign ops dashboard: polls /v1/dashboard and updates the page in place; runs searches.
// With a read key configured, the key entered once is kept in sessionStorage and sent as X-API-Key.
"use strict";

const POLL_MS = Number(document.body.dataset.pollMs) || 1500;
const KEY_ITEM = "modalign.apiKey";
const $ = (sel) => document.querySelector(sel);
let pollTimer = null;

function keyed(init = {}) {
  const key = sessionStorage.getItem(KEY_ITEM);
  return key ? { ...init, headers: { ...(init.headers || {}), "X-API-Key": key } } : init;
}

function askForKey(message) {
  $("#key-form").hidden = false;
  $("#updated").textContent = message;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function jobRow(job) {
  const finished = job.done_items + job.failed_items + job.skipped_items;
  const pct = (job.progress * 100).toFixed(1);
  const failures = el("td", {}, job.failed_items);
  if (job.failures && job.failures.length) {
    const list = el("ul", {}, ...job.failures.map((f) => el("li", {}, el("code", {}, f.uri), ": ", f.error)));
    failures.append(el("details", {}, el("summary", {}, "reasons"), list));
  }
  return el("tr", { "data-job": job.id },
    el("td", {}, job.id),
    statusCell(job),
    jobCell(job),
    el("td", { class: "wide" },
      el("div", { class: "bar" }, el("div", { class: "fill", style: `width: ${pct}%` })),
      el("span", { class: "count" }, `${finished} / ${job.total_items}`)),
    el("td", {}, job.rate_items_per_s ? `${job.rate_items_per_s.toFixed(1)}/s` : "–"),
    el("td", {}, job.eta_s ? `${Math.round(job.eta_s)}s` : "–"),
    failures);
}

function jobCell(job) {
  const cell = el("td", {}, el("span", { class: "kind" }, job.kind), ` ${job.dataset}`);
  const counts = job.source && job.source.counts;
  if (counts) {
    cell.append(el("div", { class: "counts muted" },
      `${counts.added} added · ${counts.changed} changed · ${counts.removed} removed`));
  }
  return cell;
}

function statusCell(job) {
  const cell = el("td", {}, el("span", { class: `badge ${job.status}` }, job.status));
  if (job.resume_command) {
    cell.append(el("div", { class: "resume", title: `last held by ${job.holder}` },
      el("code", {}, job.resume_command), " ",
      el("button", { type: "button", class: "resume-button", "data-job": job.id }, "Resume")));
  }
  return cell;
}

async function resumeJob(button) {
  const id = button.dataset.job;
  button.disabled = true;
  $("#jobs-status").textContent = `resuming job ${id}…`;
  try {
    const response = await fetch(`/v1/jobs/${id}/resume`, keyed({ method: "POST" }));
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || body.title || `HTTP ${response.status}`);
    $("#jobs-status").textContent = `job ${id} resumed: ${body.status}`;
  } catch (error) {
    $("#jobs-status").textContent = `resume of job ${id} failed: ${error.message}`;
    button.disabled = false;
  }
}

function renderJobs(jobs) {
  const body = $("#jobs tbody");
  const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.closest("tr").dataset.job));
  const rows = jobs.length ? jobs.map(jobRow)
    : [el("tr", { class: "empty" }, el("td", { colspan: 7 }, "no jobs yet"))];
  body.replaceChildren(...rows);
  for (const id of open) {
    const details = body.querySelector(`tr[data-job="${id}"] details`);
    if (details) details.open = true;
  }
}

function renderThroughput(points) {
  const peak = Math.max(0, ...points.map((p) => p.items));
  const cols = points.map((p) => {
    const label = new Date(p.start).toTimeString().slice(0, 5);
    const height = peak ? (100 * p.items) / peak : 0;
    return el("div", { class: "col", title: `${label}: ${p.items} items` },
      el("div", { class: "stick", style: `height: ${height}%` }), el("span", {}, p.items));
  });
  $("#throughput").replaceChildren(...cols);
}

function renderCollections(models, active, check) {
  const rows = models.map((m) => {
    const byKind = Object.fromEntries(m.collections.map((c) => [c.kind, c]));
    const name = el("td", {}, m.name);
    if (m.name === active) name.append(" ", el("span", { class: "badge completed" }, "active"));
    return el("tr", { class: m.name === active ? "active" : "" }, name,
      el("td", {}, byKind.images ? byKind.images.points : "–"),
      el("td", {}, byKind.captions ? byKind.captions.points : "–"),
      el("td", {}, byKind.images ? byKind.images.status : "–"),
      checkCell(check, m.name));
  });
  $("#collections tbody").replaceChildren(...(rows.length ? rows
    : [el("tr", { class: "empty" }, el("td", { colspan: 5 }, "no model versions yet"))]));
  $("#check-status").textContent = check ? checkSummary(check) : "";
}

function checkCell(check, version) {
  if (!check) return el("td", { class: "check" }, el("span", { class: "muted" }, "checking…"));
  const lines = check.collections.filter((c) => c.version === version).map((c) => el("div", {},
    `${c.kind}: `, c.clean ? el("span", { class: "badge completed" }, "clean")
      : el("span", { class: "badge failed" },
        `${c.missing} missing · ${c.orphans} orphans · ${c.mismatched} payload`)));
  return el("td", { class: "check" }, ...lines);
}

function checkSummary(check) {
  const parts = [`checked ${new Date(check.checked_at).toLocaleTimeString()}`];
  if (check.memberless_assets) parts.push(`${check.memberless_assets} assets in no dataset`);
  if (check.unfinished_jobs.length) parts.push(`unfinished removals: jobs ${check.unfinished_jobs.join(", ")}`);
  parts.push("modalign check --repair fixes what disagrees");
  return parts.join(" · ");
}

function renderFacts(data) {
  $("#queue-depth").textContent = data.queue_depth ?? "–";
  $("#broker-mode").textContent = data.broker_mode;
  const t = data.item_totals;
  $("#item-totals").textContent = `${t.done ?? 0} done · ${t.failed ?? 0} failed · ${t.pending ?? 0} pending`;
  $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function poll() {
  try {
    const response = await fetch("/v1/dashboard", keyed({ headers: { Accept: "application/json" } }));
    if (response.status === 401) {
      askForKey(sessionStorage.getItem(KEY_ITEM) ? "that key was refused" : "an API key is needed");
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    renderJobs(data.jobs);
    renderThroughput(data.throughput);
    renderCollections(data.models, data.active_model, data.check);
    renderFacts(data);
  } catch (error) {
    $("#updated").textContent = `update failed: ${error.message}`;
  } finally {
    pollTimer = setTimeout(poll, POLL_MS);
  }
}

function useKey(event) {
  event.preventDefault();
  const key = $("#key-input").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_ITEM, key);
  $("#key-input").value = "";
  $("#key-form").hidden = true;
  clearTimeout(pollTimer);
  poll();
}

function showThumbnail(img, url) {
  if (!sessionStorage.getItem(KEY_ITEM)) { img.src = url; return; }
  // an <img> cannot send a header: fetch the thumbnail with the key, show it from a blob URL
  fetch(url, keyed())
    .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(response.status))))
    .then((blob) => {
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
      img.src = URL.createObjectURL(blob);
    })
    .catch(() => { img.title = "thumbnail unavailable"; });
}

function hitLabel(hit) {
  const asset = hit.asset || {};
  const captions = asset.captions || [];
  return hit.text || (captions[0] && captions[0].text) || asset.uri || `asset ${hit.asset_id}`;
}

function renderHits(hits) {
  const cards = hits.map((hit) => {
    const img = el("img", { alt: hitLabel(hit), loading: "lazy" });
    showThumbnail(img, `/v1/assets/${hit.asset_id}/thumbnail?size=256`);
    return el("figure", { class: "hit" }, img,
      el("div", { class: "caption", title: hitLabel(hit) }, hitLabel(hit)),
      el("div", { class: "score" }, hit.score.toFixed(3)));
  });
  $("#results").replaceChildren(...cards);
}

async function runSearch(event) {
  event.preventDefault();
  const text = $("#search-text").value.trim();
  const file = $("#search-image").files[0];
  const mode = $("#search-mode").value;  // text queries only; "" leaves the server's default
  const collapse = $("#search-collapse").checked;
  let request;
  if (file) {
    const form = new FormData();
    form.append("file", file);
    form.append("limit", "24");
    form.append("collapse_duplicates", collapse ? "true" : "false");
    request = { method: "POST", body: form };
  } else if (text) {
    const query = { text, limit: 24, collapse_duplicates: collapse };
    if (mode) query.mode = mode;
    request = { method: "POST", headers: { "Content-Type": "application/json" },
                body: JSON.stringify(query) };
  } else {
    $("#search-status").textContent = "type a query or choose an image";
    return;
  }
  $("#search-status").textContent = "searching…";
  const started = performance.now();
  try {
    const response = await fetch("/v1/search/images", keyed(request));
    if (response.status === 401) askForKey("an API key is needed");
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || body.title || `HTTP ${response.status}`);
    renderHits(body.hits);
    const ms = Math.round(performance.now() - started);
    $("#search-status").textContent = `${body.hits.length} images in ${ms} ms`;
  } catch (error) {
    $("#search-status").textContent = `search failed: ${error.message}`;
  }
}

$("#search-form").addEventListener("submit", runSearch);
$("#jobs").addEventListener("click", (event) => {
  const button = event.target.closest(".resume-button");
  if (button) resumeJob(button);
});
$("#key-form").addEventListener("submit", useKey);
if (document.body.dataset.needsKey === "1") {
  if (sessionStorage.getItem(KEY_ITEM)) $("#key-form").hidden = true;
  else askForKey("an API key is needed");
}
$("#search-image").addEventListener("change", () => { if ($("#search-image").files[0]) $("#search-text").value = ""; });
$("#search-text").addEventListener("input", () => { if ($("#search-text").value) $("#search-image").value = ""; });
pollTimer = setTimeout(poll, POLL_MS);
