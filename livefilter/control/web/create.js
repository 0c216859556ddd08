// The "new look" card: upload photos one request each, start the creation, poll its progress.
// Every text that came from a file name or the server is set with textContent (never as HTML).
"use strict";

(() => {
  const TOKEN = document.querySelector('meta[name="lf-token"]').content;
  const AUTH = { Authorization: "Bearer " + TOKEN };
  const $ = (id) => document.getElementById(id);
  const REGIONS = ["lips", "eyes", "cheeks"];  // what a look made from photos learns (CREATABLE_REGIONS)
  const MAX_BYTES = 12 * 1024 * 1024;
  const MAX_PHOTOS = 30;
  if (!$("create-card")) return;

  const note = (text) => { $("create-status").textContent = text; };

  for (const r of REGIONS) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = r;
    box.checked = true;
    box.className = "create-region";
    label.append(box, r);
    $("create-regions").append(label);
  }

  async function call(path, options) {
    const res = await fetch(path, { cache: "no-store", ...options, headers: { ...AUTH, ...(options.headers || {}) } });
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error((data && data.error) || `request failed (${res.status})`);
    return data;
  }

  function listPhoto(name, error) {
    const li = document.createElement("li");
    li.textContent = error ? `✕ ${error}` : `✓ ${name}`;
    if (error) li.dataset.bad = "true";
    $("create-photos").append(li);
  }

  let uploading = Promise.resolve();
  async function upload(files) {
    for (const file of files) {
      if ($("create-photos").querySelectorAll("li:not([data-bad])").length >= MAX_PHOTOS) {
        listPhoto(file.name, `${file.name}: at most ${MAX_PHOTOS} photos`);
        continue;
      }
      if (file.size > MAX_BYTES) { listPhoto(file.name, `${file.name}: larger than 12 MiB`); continue; }
      try {
        await call("/api/create/photo", {
          method: "POST", body: file,
          headers: { "Content-Type": file.type || "image/jpeg", "X-Filename": encodeURIComponent(file.name) },
        });
        listPhoto(file.name, null);
      } catch (e) { listPhoto(file.name, e.message); }
    }
  }
  const queue = (files) => { uploading = uploading.then(() => upload(Array.from(files))); return uploading; };

  $("create-files").addEventListener("change", (ev) => { queue(ev.target.files).then(() => { ev.target.value = ""; }); });
  const drop = $("create-drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.dataset.over = "true"; });
  drop.addEventListener("dragleave", () => { drop.dataset.over = "false"; });
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.dataset.over = "false"; queue(ev.dataTransfer.files); });

  $("create-clear").addEventListener("click", async () => {
    try { await call("/api/create/clear", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } }); }
    catch (e) { note(e.message); return; }
    $("create-photos").replaceChildren();
    render({ state: "idle", progress: 0, message: "" });
  });

  function render(s) {
    $("create-progress").dataset.state = s.state;
    $("create-bar").style.width = Math.round((s.progress || 0) * 100) + "%";
    if (s.state === "running") note(`${s.stage || "starting"}… ${Math.round((s.progress || 0) * 100)}%`);
    else if (s.state === "done") note(`look “${s.title || s.look}” is ready in the gallery (${s.message})`);
    else if (s.state === "failed") note(s.message);
    else note(s.message || "");
    $("create-start").disabled = s.state === "running";
  }

  let polling = 0;
  async function poll() {
    let s;
    try { s = await call("/api/create/status", { method: "GET" }); } catch (e) { note(e.message); return; }
    render(s);
    if (s.state === "running") polling = setTimeout(poll, 500);
    else if (s.state === "done") $("create-photos").replaceChildren();
  }

  $("create-start").addEventListener("click", async () => {
    await uploading;
    const regions = Array.from(document.querySelectorAll(".create-region")).filter((b) => b.checked).map((b) => b.value);
    const body = { name: $("create-name").value.trim(), title: $("create-title").value.trim() };
    if (regions.length !== REGIONS.length) body.regions = regions;
    try {
      const res = await call("/api/create/start", {
        method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
      });
      render(res.status);
      clearTimeout(polling);
      polling = setTimeout(poll, 300);
    } catch (e) { note(e.message); $("create-progress").dataset.state = "failed"; }
  });

  call("/api/create/status", { method: "GET" }).then((s) => { render(s); if (s.state === "running") poll(); }).catch(() => {});
})();
