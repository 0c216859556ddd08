// livefilter control panel: plain JS, no build step. Talks to the local control server only.
"use strict";

(() => {
  const TOKEN = document.querySelector('meta[name="lf-token"]').content;
  const AUTH = { Authorization: "Bearer " + TOKEN };
  const $ = (id) => document.getElementById(id);
  const STAGES = ["capture_wait", "detect", "align", "translate", "blend", "sink", "end_to_end"];
  const STAGE_LABEL = { capture_wait: "camera wait", end_to_end: "end to end" };
  const EDIT_KEYS = ["brightness", "contrast", "saturation", "warmth"];
  const HOLD_MS = 1200; // after a local change, ignore server values for that control this long

  // -- layout: compact in an OBS dock (?layout=dock) or a narrow window; ?layout=full forces the full one
  const params = new URLSearchParams(location.search);
  const narrow = window.matchMedia("(max-width: 480px)");
  function applyLayout() {
    const forced = params.get("layout");
    const dock = forced === "dock" || (forced !== "full" && narrow.matches);
    document.documentElement.dataset.layout = dock ? "dock" : "full";
  }
  applyLayout();
  narrow.addEventListener("change", applyLayout);
  const isDock = () => document.documentElement.dataset.layout === "dock";
  $("full-panel").href = `/?token=${encodeURIComponent(TOKEN)}&layout=full`;

  let state = null;
  let looksKey = "";
  const heldUntil = {}; // control -> time until which the server must not overwrite it

  // -- small helpers ---------------------------------------------------------------------------
  let toastTimer = 0;
  function toast(message, kind = "error") {
    const el = $("toast");
    el.textContent = message;
    el.className = "toast show" + (kind === "info" ? " info" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.className = "toast"; }, 4000);
  }

  async function post(path, body) {
    let res;
    try {
      res = await fetch(path, {
        method: "POST",
        headers: { ...AUTH, "Content-Type": "application/json" },
        body: JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {
      toast("livefilter is not reachable");
      throw e;
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const msg = (data && data.error) || `request failed (${res.status})`;
      toast(msg);
      throw new Error(msg);
    }
    if (data && data.state) render(data.state);
    return data;
  }

  // Latest-wins sender: at most one request in flight per control; the newest value goes next.
  function sender(path, makeBody) {
    let inflight = false;
    let pending;
    let hasPending = false;
    async function pump() {
      if (inflight || !hasPending) return;
      const value = pending;
      hasPending = false;
      inflight = true;
      try { await post(path, makeBody(value)); } catch (e) { /* toast shown */ }
      inflight = false;
      pump();
    }
    return (value) => { pending = value; hasPending = true; pump(); };
  }

  const fmtMs = (v) => (v === null || v === undefined ? "—" : v < 10 ? v.toFixed(2) : v.toFixed(1));
  const fmtSigned = (v) => (Math.abs(v) < 0.005 ? "0" : (v > 0 ? "+" : "") + v.toFixed(2));

  function setFill(input) {
    const min = Number(input.min), max = Number(input.max);
    input.style.setProperty("--fill", ((Number(input.value) - min) / (max - min)) * 100 + "%");
  }

  function hold(key) { heldUntil[key] = performance.now() + HOLD_MS; }
  function held(key) { return (heldUntil[key] || 0) > performance.now(); }

  // -- strength and colour sliders --------------------------------------------------------------
  const strength = $("strength");
  const sendStrength = sender("/api/strength", (v) => ({ value: v }));
  strength.addEventListener("input", () => {
    hold("strength");
    $("strength-value").textContent = Math.round(strength.value * 100) + "%";
    setFill(strength);
    sendStrength(Number(strength.value));
  });

  // the skin finish: its strength and the under-eye lift (each 0..1)
  const FINISH = { finish: "strength", "under-eye": "under_eye" };
  for (const [id, key] of Object.entries(FINISH)) {
    const input = $(id);
    const send = sender("/api/finish", (v) => ({ [key]: v }));
    input.addEventListener("input", () => {
      hold(id);
      $(id + "-value").textContent = Math.round(input.value * 100) + "%";
      setFill(input);
      send(Number(input.value));
    });
  }

  const sendEdits = {};
  for (const key of EDIT_KEYS) {
    const input = $(key);
    sendEdits[key] = sender("/api/edits", (v) => ({ [key]: v }));
    input.addEventListener("input", () => {
      hold(key);
      $(key + "-value").textContent = fmtSigned(Number(input.value));
      sendEdits[key](Number(input.value));
    });
    input.addEventListener("dblclick", () => { input.value = 0; input.dispatchEvent(new Event("input")); });
  }
  $("reset-edits").addEventListener("click", () => {
    for (const key of EDIT_KEYS) { $(key).value = 0; $(key + "-value").textContent = "0"; hold(key); }
    post("/api/edits", { brightness: 0, contrast: 0, saturation: 0, warmth: 0 }).catch(() => {});
  });

  // -- background and grade (POST /api/scene) ----------------------------------------------------
  const sendScene = sender("/api/scene", (v) => v);
  const blur = $("blur"), gradeStrength = $("grade-strength");
  $("background").addEventListener("change", () => {
    hold("scene");
    const mode = $("background").value || null;
    const body = { background: mode };
    if (mode === "replace") {
      if (!$("background-source").value) { toast("save an image or video in your backgrounds folder first"); return; }
      body.source = $("background-source").value;
    }
    sendScene(body);
  });
  $("background-source").addEventListener("change", () => {
    hold("scene");
    if ($("background-source").value) sendScene({ background: "replace", source: $("background-source").value });
  });
  blur.addEventListener("input", () => {
    hold("scene");
    $("blur-value").textContent = Math.round(blur.value * 100) + "%";
    setFill(blur);
    sendScene({ blur: Number(blur.value) });
  });
  gradeStrength.addEventListener("input", () => {
    hold("scene");
    $("grade-strength-value").textContent = Math.round(gradeStrength.value * 100) + "%";
    setFill(gradeStrength);
    sendScene({ grade_strength: Number(gradeStrength.value) });
  });
  $("grade").addEventListener("change", () => { hold("scene"); sendScene({ grade: $("grade").checked }); });
  function renderScene(sc, names) {
    if (!sc || held("scene")) return;
    $("background").value = sc.background || "";
    const sel = $("background-source");
    const key = (names || []).join("|");
    if (sel.dataset.key !== key) {
      sel.dataset.key = key;
      sel.replaceChildren(...(names.length ? names : [""]).map((n) => {
        const o = document.createElement("option");
        o.value = n; o.textContent = n || "no backgrounds saved";
        return o;
      }));
    }
    if (sc.source) sel.value = sc.source;
    if (document.activeElement !== blur) { blur.value = sc.blur; $("blur-value").textContent = Math.round(sc.blur * 100) + "%"; }
    setFill(blur);
    if (document.activeElement !== gradeStrength) {
      gradeStrength.value = sc.grade_strength === null ? 1 : sc.grade_strength;
      $("grade-strength-value").textContent = sc.grade_strength === null ? "look" : Math.round(sc.grade_strength * 100) + "%";
    }
    setFill(gradeStrength);
    $("grade").checked = sc.grade;
  }

  // -- pause -------------------------------------------------------------------------------------
  $("pause").addEventListener("click", () => {
    const paused = !(state && state.paused);
    hold("paused");
    renderPause(paused);
    post("/api/pause", { paused }).catch(() => { heldUntil.paused = 0; });
  });
  function renderPause(paused) {
    $("pause").setAttribute("aria-pressed", String(paused));
    $("pause-text").textContent = paused ? "Resume look" : "Pause look";
    $("preview-frame").dataset.paused = String(paused);
  }

  // -- profiles ----------------------------------------------------------------------------------
  $("profile-save").addEventListener("click", async () => {
    const name = $("profile-name").value.trim() || $("profile-select").value;
    if (!name) { toast("type a profile name first"); return; }
    try { await post("/api/profile/save", { name }); toast(`saved profile “${name}”`, "info"); $("profile-name").value = ""; }
    catch (e) { /* toast shown */ }
  });
  $("profile-load").addEventListener("click", async () => {
    const name = $("profile-select").value;
    if (!name) return;
    for (const k of ["strength", "finish", "under-eye", ...EDIT_KEYS]) heldUntil[k] = 0;
    try { await post("/api/profile/load", { name }); toast(`loaded profile “${name}”`, "info"); } catch (e) { /* shown */ }
  });

  // -- looks gallery -------------------------------------------------------------------------------
  function hue(name) { let h = 0; for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360; return h; }

  function buildGallery(looks) {
    const gallery = $("gallery");
    gallery.replaceChildren();
    if (!looks.length) {
      const empty = document.createElement("div");
      empty.className = "muted";
      empty.textContent = "no looks installed — livefilter looks install PACK";
      gallery.append(empty);
      return;
    }
    looks.forEach((look, i) => {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "look";
      btn.dataset.look = look.name;
      btn.setAttribute("aria-pressed", "false");
      btn.title = look.description || look.title;
      let thumb;
      if (look.has_preview) {
        thumb = document.createElement("img");
        thumb.className = "look-thumb";
        thumb.alt = "";
        thumb.loading = "lazy";
        thumb.src = `/api/looks/${encodeURIComponent(look.name)}/preview.jpg?token=${encodeURIComponent(TOKEN)}`;
      } else {
        thumb = document.createElement("div");
        thumb.className = "look-initial";
        thumb.style.setProperty("--hue", hue(look.name));
        thumb.textContent = (look.title || look.name).slice(0, 1).toUpperCase();
      }
      const body = document.createElement("div");
      body.className = "look-body";
      const title = document.createElement("div");
      title.className = "look-title";
      title.textContent = look.title || look.name;
      const meta = document.createElement("div");
      meta.className = "look-meta";
      meta.textContent = look.author ? `by ${look.author}` : look.description || "";
      body.append(title, meta);
      btn.append(thumb, body);
      if (i < 9) {
        const key = document.createElement("span");
        key.className = "look-key";
        key.textContent = String(i + 1);
        btn.append(key);
      }
      btn.addEventListener("click", async () => {
        if (state && state.look === look.name) return;
        btn.setAttribute("aria-busy", "true");
        try { await post("/api/look", { name: look.name }); } catch (e) { /* shown */ }
        btn.removeAttribute("aria-busy");
      });
      gallery.append(btn);
    });
  }

  // -- faces -------------------------------------------------------------------------------------
  function renderFaces(faces) {
    const list = $("faces");
    const key = faces.map((f) => f.track_id).join(",");
    if (list.dataset.key !== key) { // rebuild only when faces come or go; on/off is updated in place
      list.dataset.key = key;
      list.replaceChildren();
      if (!faces.length) {
        const none = document.createElement("span");
        none.className = "muted";
        none.textContent = "no faces in view";
        list.append(none);
      }
      for (const face of faces) {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "face-chip";
        chip.dataset.track = face.track_id;
        const sw = document.createElement("span");
        sw.className = "switch";
        const label = document.createElement("span");
        label.textContent = face.track_id >= 0 ? `Face ${face.track_id}` : "Face";
        chip.append(sw, label);
        chip.addEventListener("click", () => {
          if (face.track_id < 0) return;
          const enabled = chip.getAttribute("aria-pressed") !== "true";
          post(`/api/faces/${face.track_id}`, { enabled }).catch(() => {});
        });
        list.append(chip);
      }
    }
    for (const face of faces) {
      const chip = list.querySelector(`.face-chip[data-track="${face.track_id}"]`);
      if (!chip) continue;
      chip.setAttribute("aria-pressed", String(face.enabled));
      chip.title = face.enabled ? "styled — click to leave this face untouched" : "untouched — click to style it";
    }
  }

  // -- stats ---------------------------------------------------------------------------------------
  function renderStages(stages) {
    const grid = $("stages");
    const names = STAGES.filter((s) => stages[s]).concat(Object.keys(stages).filter((s) => !STAGES.includes(s)));
    if (grid.dataset.key !== names.join()) {
      grid.dataset.key = names.join();
      grid.replaceChildren();
      for (const s of names) {
        const name = document.createElement("div");
        name.className = "stage-name";
        name.textContent = STAGE_LABEL[s] || s;
        const bar = document.createElement("div");
        bar.className = s === "capture_wait" ? "stage-bar stage-wait" : "stage-bar";
        bar.append(document.createElement("span"), document.createElement("i"));
        const val = document.createElement("div");
        val.className = "stage-val";
        val.dataset.stage = s;
        grid.append(name, bar, val);
        bar.dataset.stage = s;
      }
      if (!names.length) {
        const none = document.createElement("div");
        none.className = "muted";
        none.textContent = "no frames yet";
        grid.append(none);
      }
    }
    // Bars share one scale: the slowest real work (waiting for the camera is not work, so it is left out).
    const scale = Math.max(1, ...names.filter((s) => s !== "capture_wait").map((s) => stages[s].p99 || 0));
    for (const s of names) {
      const st = stages[s];
      const bar = grid.querySelector(`.stage-bar[data-stage="${s}"]`);
      bar.style.setProperty("--w", Math.min(100, ((st.p50 || 0) / scale) * 100) + "%");
      bar.style.setProperty("--p99", Math.min(99, ((st.p99 || 0) / scale) * 100) + "%");
      const val = grid.querySelector(`.stage-val[data-stage="${s}"]`);
      val.replaceChildren();
      const b = document.createElement("b");
      b.textContent = fmtMs(st.p50);
      val.append(b, ` / ${fmtMs(st.p99)} ms`);
      val.title = "p50 / p99";
    }
  }

  // -- audio sync and OBS ---------------------------------------------------------------------------
  function renderSync(latency, obs) {
    const offset = latency ? latency.sync_offset_ms : null;
    $("latency").textContent = offset === null || offset === undefined ? "—" : `${offset} ms`;
    const advice = $("sync-advice");
    advice.replaceChildren();
    if (offset === null || offset === undefined) {
      advice.textContent = "measuring the video delay…";
    } else {
      const b = document.createElement("b");
      b.id = "sync-offset";
      b.textContent = `${offset} ms`;
      advice.append("Set your mic's Sync Offset to ", b);
      if (obs && obs.sync && obs.sync.applied_ms !== null && obs.sync.applied_ms !== undefined) {
        advice.append(` (set on “${obs.sync.input}” in OBS: ${obs.sync.applied_ms} ms)`);
      }
    }
    const st = $("obs-status");
    if (!obs) { st.textContent = ""; st.dataset.state = ""; return; }
    st.dataset.state = obs.state;
    st.textContent = obs.state === "connected" ? `OBS · ${obs.scene || "connected"}` : `OBS · ${obs.state}`;
    st.title = obs.problem || obs.url;
  }

  // -- render ------------------------------------------------------------------------------------
  function render(s) {
    state = s;
    $("backend").textContent = s.backend;
    $("fps").textContent = s.fps.toFixed(1);
    $("look-name").textContent = (s.looks.find((l) => l.name === s.look) || { title: s.look }).title;
    $("frames").textContent = `${s.frames.toLocaleString()} frames`;
    const errs = Object.entries(s.errors || {});
    $("errors").textContent = errs.length
      ? `passed through unfiltered: ${s.passthrough} (${errs.map(([k, v]) => `${k} ×${v}`).join(", ")})` : "";

    if (!held("strength") && document.activeElement !== strength) {
      strength.value = s.strength;
      $("strength-value").textContent = Math.round(s.strength * 100) + "%";
    }
    setFill(strength);
    for (const [id, key] of Object.entries(FINISH)) {
      const input = $(id);
      if (s.finish && !held(id) && document.activeElement !== input) {
        input.value = s.finish[key];
        $(id + "-value").textContent = Math.round(s.finish[key] * 100) + "%";
      }
      setFill(input);
    }
    for (const key of EDIT_KEYS) {
      const input = $(key);
      if (!held(key) && document.activeElement !== input) {
        input.value = s.edits[key];
        $(key + "-value").textContent = fmtSigned(s.edits[key]);
      }
    }
    if (!held("paused")) renderPause(s.paused);
    renderScene(s.scene, s.backgrounds || []);
    renderSync(s.latency, s.obs);

    const key = s.looks.map((l) => `${l.name}:${l.has_preview}`).join("|");
    if (key !== looksKey) { looksKey = key; buildGallery(s.looks); }
    for (const btn of document.querySelectorAll(".look")) {
      btn.setAttribute("aria-pressed", String(btn.dataset.look === s.look));
    }
    renderFaces(s.faces);
    renderStages(s.stages);

    const sel = $("profile-select");
    const pkey = s.profiles.join("|");
    if (sel.dataset.key !== pkey) {
      sel.dataset.key = pkey;
      const current = sel.value;
      sel.replaceChildren();
      if (!s.profiles.length) sel.append(new Option("no profiles saved", ""));
      for (const p of s.profiles) sel.append(new Option(p, p));
      if (s.profiles.includes(current)) sel.value = current;
    }
    if (s.profile && sel.dataset.active !== s.profile) { sel.dataset.active = s.profile; sel.value = s.profile; }
    $("profile-active").textContent = s.profile ? `active profile: ${s.profile}` : "no profile active";
  }

  // -- live state: Server-Sent Events (reconnects by itself) --------------------------------------------
  function setConn(kind, text) { $("conn").dataset.state = kind; $("conn-text").textContent = text; }
  const events = new EventSource(`/api/events?token=${encodeURIComponent(TOKEN)}`);
  events.onopen = () => setConn("live", "live");
  events.onmessage = (ev) => {
    try { render(JSON.parse(ev.data)); setConn("live", "live"); } catch (e) { console.error(e); }
  };
  events.onerror = () => setConn("down", "reconnecting…");

  // -- live preview: fetch the newest thumbnail ~5x/s (one request at a time) ---------------------------
  const img = $("preview");
  let lastUrl = null;
  async function refreshPreview() {
    let delay = 200;
    if (isDock()) { setTimeout(refreshPreview, 1000); return; } // the dock shows no picture: OBS has it
    try {
      const res = await fetch("/api/preview.jpg", { headers: AUTH, cache: "no-store" });
      if (res.ok) {
        const seq = res.headers.get("X-Frame-Seq") || "";
        const blob = await res.blob();
        if (seq !== img.dataset.seq) {
          const url = URL.createObjectURL(blob);
          const previous = lastUrl;
          lastUrl = url;
          img.onload = () => { if (previous) URL.revokeObjectURL(previous); };
          img.src = url;
          img.dataset.seq = seq;
        }
        $("preview-frame").dataset.empty = "false";
      } else {
        delay = 1000;
        if (!img.dataset.seq) $("preview-frame").dataset.empty = "true";
      }
    } catch (e) {
      delay = 2000;
    }
    setTimeout(refreshPreview, document.hidden ? 1000 : delay);
  }
  refreshPreview();

  fetch("/api/state", { headers: AUTH, cache: "no-store" })
    .then((r) => (r.ok ? r.json() : Promise.reject(r)))
    .then(render)
    .catch(() => setConn("down", "not authorised or offline"));
})();
