// The courier app: scan (camera or typed code), pick an allowed event, capture its requirements, queue it.
// Every scan goes through the IndexedDB queue first, online or not, so the same path (with the same
// idempotency key) carries it to the server now or when the network returns.
import QrScanner from "/vendor/qr-scanner/qr-scanner.min.js";
import { openStore } from "./store.js";

const root = document.getElementById("app");
const T = JSON.parse(document.getElementById("ui-text").textContent);
const t = (s) => T[s] ?? s;
const $ = (id) => document.getElementById(id);
const cfg = root.dataset;

let store;
let scanner = null;
let current = null; // { item, scanned, offline }
let lastPosition = null;
let syncing = false;
let lastHandover = "";

// ---------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function fmtTime(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getDate())}/${p(d.getMonth() + 1)}/${d.getFullYear()} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function newKey() {
  if (crypto.randomUUID) return `web-${crypto.randomUUID()}`;
  const b = crypto.getRandomValues(new Uint8Array(16));
  return "web-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// The item code inside a label's URL (…/t/RA123456785VN?s=…) or as typed; mirrors the server's parser.
function codeOf(text) {
  const s = (text || "").trim().toUpperCase();
  const m = s.match(/\/T\/([A-Z]{2}\s?\d{3}\s?\d{3}\s?\d{3}\s?[A-Z]{2})/) || s.match(/^([A-Z]{2}\s?\d{3}\s?\d{3}\s?\d{3}\s?[A-Z]{2})$/);
  return m ? m[1].replace(/\s/g, "") : null;
}

function showError(msg) {
  const p = $("scan-error");
  p.textContent = msg || "";
  p.hidden = !msg;
}

async function getJSON(url) {
  const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (resp.redirected || (resp.headers.get("content-type") || "").startsWith("text/html")) {
    const err = new Error(t("Cần đăng nhập lại"));
    err.status = 401;
    throw err;
  }
  const body = await resp.json();
  if (!resp.ok) {
    const err = new Error(body.detail || body.title || String(resp.status));
    err.status = resp.status;
    throw err;
  }
  return body;
}

// ---------------------------------------------------------------- network state

function setNet(online) {
  const n = $("net");
  n.dataset.state = online ? "online" : "offline";
  n.textContent = online ? t("Trực tuyến") : t("Ngoại tuyến");
}

// ---------------------------------------------------------------- GPS

function watchGps() {
  if (!("geolocation" in navigator)) return;
  navigator.geolocation.watchPosition(
    (pos) => { lastPosition = { lat: pos.coords.latitude, lon: pos.coords.longitude, at: Date.now() }; },
    () => {},
    { enableHighAccuracy: true, maximumAge: 60000, timeout: 20000 },
  );
}

// ---------------------------------------------------------------- today's run

async function loadRun() {
  let items;
  try {
    items = (await getJSON(cfg.assignmentsUrl)).items;
    await store.put("meta", { k: "assignments", items, at: Date.now() });
    for (const it of items) await store.put("items", it);
  } catch (e) {
    const cached = await store.get("meta", "assignments");
    items = cached ? cached.items : [];
    if (e.status === 401) showError(e.message);
  }
  renderRun(items);
  renderHandover(items);
}

// Pickups on their way to an agency desk, grouped by agency: tick and open a hand-over record (online only:
// the record is signed at the desk, in front of the officer).
function renderHandover(items) {
  const ready = items.filter((it) => it.handover_ready);
  $("handover-card").hidden = !ready.length && !lastHandover;
  const box = $("handover");
  box.replaceChildren();
  if (lastHandover) box.append(el("p", { class: "ok", id: "handover-done", text: lastHandover }));
  const groups = new Map();
  for (const it of ready) {
    if (!groups.has(it.agency_code)) groups.set(it.agency_code, { name: it.agency, items: [] });
    groups.get(it.agency_code).items.push(it);
  }
  for (const [code, g] of groups) {
    const form = el("form", { class: "handover-group", "data-agency": code },
      el("h3", { text: g.name }));
    for (const it of g.items) {
      form.append(el("label", { class: "check" },
        el("input", { type: "checkbox", name: "item", value: it.item_code, checked: true }),
        el("span", { class: "mono", text: it.item_code }), el("span", { text: ` · ${it.applicant_name}` })));
    }
    const msg = el("p", { class: "hint", role: "status" });
    form.append(el("button", { type: "submit" }, t("Lập biên bản giao nhận")), msg);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const codes = new FormData(form).getAll("item");
      if (!codes.length) return;
      try {
        const resp = await fetch(cfg.handoverUrl, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ agency_code: code, items: codes }),
        });
        const body = await resp.json();
        if (!resp.ok) {
          const items = body.items && !Array.isArray(body.items)
            ? " " + Object.entries(body.items).map(([k, v]) => `${k}: ${v}`).join("; ") : "";
          msg.className = "error";
          msg.textContent = `${t("Không lập được biên bản")}: ${body.detail || body.title}${items}`;
          return;
        }
        lastHandover = `${t("Đã lập biên bản số")} ${body.number} (${body.items.map((i) => i.item_code).join(", ")})`;
        form.querySelector("button").disabled = true;
        loadRun();
      } catch (_) {
        msg.className = "error";
        msg.textContent = t("Cần có mạng để lập biên bản");
      }
    });
    box.append(form);
  }
}

function renderRun(items) {
  const ol = $("run");
  ol.replaceChildren();
  if (!items.length) {
    ol.append(el("li", { class: "hint", text: "—" }));
    return;
  }
  for (const it of items) {
    const done = !it.actions.length;
    ol.append(el("li", { class: done ? "stop done" : "stop", "data-code": it.item_code },
      el("button", { type: "button", class: "stop-btn", onclick: () => openItem(it.item_code, it.item_code) },
        el("span", { class: "stop-no", text: String(it.stop ?? "") }),
        el("span", { class: "stop-main" },
          el("strong", { class: "mono", text: it.item_code }), " · ", it.leg_text,
          el("br"), it.applicant_name, " — ", it.address),
        el("span", { class: "state-chip", text: it.state_text }))));
  }
}

// ---------------------------------------------------------------- scanning

async function startCamera() {
  showError("");
  $("item-card").hidden = true;
  $("camera").hidden = false;
  $("scan-start").hidden = true;
  $("scan-stop").hidden = false;
  try {
    if (!scanner) {
      scanner = new QrScanner($("video"), (result) => onDecoded(result.data), {
        returnDetailedScanResult: true,
        preferredCamera: "environment",
        maxScansPerSecond: 8,
        // The whole frame, not only a centred square: labels are held at any place in front of the lens.
        calculateScanRegion: (v) => {
          const scale = Math.min(1, 960 / Math.max(v.videoWidth, v.videoHeight));
          return { x: 0, y: 0, width: v.videoWidth, height: v.videoHeight,
                   downScaledWidth: Math.round(v.videoWidth * scale), downScaledHeight: Math.round(v.videoHeight * scale) };
        },
      });
    }
    await scanner.start();
    root.dataset.camera = "on";
  } catch (e) {
    stopCamera();
    showError(`${t("Không đọc được camera")}: ${e && e.message ? e.message : e}`);
  }
}

function stopCamera() {
  if (scanner) scanner.stop();
  root.dataset.camera = "off";
  $("camera").hidden = true;
  $("scan-start").hidden = false;
  $("scan-stop").hidden = true;
}

function onDecoded(text) {
  if (root.dataset.camera !== "on") return; // decodes already queued when the first one stopped the camera
  stopCamera();
  openItem(text, codeOf(text));
}

// ---------------------------------------------------------------- the scanned item

async function openItem(scanned, code) {
  showError("");
  $("item-card").hidden = true; // a new scan replaces the item on screen
  current = null;
  let item = null;
  let offline = false;
  try {
    item = await getJSON(`${cfg.itemUrl}?q=${encodeURIComponent(scanned)}`);
    await store.put("items", item);
  } catch (e) {
    if (e.status) { // the server answered: forged label, unknown item, not this courier's...
      showError(e.message);
      return;
    }
    offline = true;
    item = code ? await store.get("items", code) : null;
    if (!item && code) item = { item_code: code, unknown: true, actions: [], plan: {}, state_text: "?" };
    if (!item) { showError(t("Mã bưu gửi không hợp lệ")); return; }
  }
  current = { item, scanned, offline };
  renderItem();
}

function renderItem() {
  const { item, offline } = current;
  $("item-card").hidden = false;
  $("item-code").textContent = item.item_code;
  $("item-leg").textContent = item.leg_text || "";
  $("item-state").textContent = item.state_text || "";
  $("item-person").textContent = item.applicant_name ? `${item.applicant_name} · ${item.applicant_phone}` : "—";
  $("item-address").textContent = item.address || "—";
  $("item-procedure").textContent = item.procedure || "—";
  $("item-agency").textContent = item.agency || "—";
  const note = $("item-offline");
  note.hidden = !(offline && item.unknown);
  note.textContent = t("Chưa có dữ liệu ngoại tuyến cho mã này; thao tác sẽ được kiểm tra khi có mạng.");
  const box = $("actions");
  box.replaceChildren();
  $("action-form").hidden = true;
  const actions = item.actions;
  if (!actions.length) {
    box.append(el("p", { class: "hint", text: t("Không có thao tác nào ở trạng thái này") }));
  }
  for (const a of actions) {
    box.append(el("button", { type: "button", class: `action action-${a.event}`, "data-event": a.event,
      onclick: () => openAction(a) }, a.text));
  }
  $("item-card").scrollIntoView({ behavior: "smooth", block: "start" });
}

function openAction(action) {
  const form = $("action-form");
  form.replaceChildren();
  form.dataset.event = action.event;
  const r = action.requirements || {};
  form.append(el("h3", { text: action.text }));
  if (r.checklist && r.checklist.length) {
    const fs = el("fieldset", { class: "checklist" }, el("legend", { text: t("Đánh dấu đủ các giấy tờ bắt buộc") }));
    r.checklist.forEach((d, i) => {
      fs.append(el("label", { class: "check" },
        el("input", { type: "checkbox", name: "doc", value: String(i), "data-required": d.required ? "1" : "0" }),
        el("span", { text: `${d.name} — ${d.form_text}, ${d.quantity} ${t("bản")}${d.required ? "" : " (±)"}` })));
    });
    form.append(fs);
  }
  if (r.seal_number) {
    form.append(el("label", { for: "f-seal", text: t("Số niêm phong") }),
      el("input", { id: "f-seal", name: "seal_number", required: true, autocomplete: "off", inputmode: "text" }));
  }
  if (r.id_digits) {
    form.append(el("label", { for: "f-id4", text: t("4 số cuối CCCD/hộ chiếu") }),
      el("input", { id: "f-id4", name: "id_number_last4", required: true, inputmode: "numeric", pattern: "[0-9]{4}",
        maxlength: "4", autocomplete: "off" }));
  }
  if (r.identity_check) {
    const repBox = el("div", { class: "rep", hidden: true },
      el("label", { for: "f-rep", text: t("Họ tên người nhận thay") }),
      el("input", { id: "f-rep", name: "representative_name", autocomplete: "off" }),
      el("label", { for: "f-auth", text: t("Giấy ủy quyền (số, ngày)") }),
      el("input", { id: "f-auth", name: "authorisation", autocomplete: "off" }));
    form.append(el("fieldset", { class: "identity" }, el("legend", { text: t("Kiểm tra giấy tờ tùy thân") }),
      el("label", { for: "f-id", text: t("4 số cuối CCCD/hộ chiếu") }),
      el("input", { id: "f-id", name: "id_digits", required: true, inputmode: "numeric", pattern: "[0-9]{4}",
        maxlength: "4", autocomplete: "off" }),
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "representative", value: "1",
        onchange: (ev) => { repBox.hidden = !ev.target.checked; } }),
        el("span", { text: t("Người nhận thay (có giấy ủy quyền)") })),
      repBox));
  }
  if (r.one_time_code) {
    form.append(el("label", { for: "f-otp", text: t("Mã OTP người dân nhận được") }),
      el("input", { id: "f-otp", name: "delivery_code", required: true, inputmode: "numeric", maxlength: "6",
        autocomplete: "one-time-code" }));
  }
  if (r.failure_reasons && r.failure_reasons.length) {
    const sel = el("select", { id: "f-reason", name: "reason_code", required: true }, el("option", { value: "", text: "—" }));
    for (const [code, text] of r.failure_reasons) sel.append(el("option", { value: code, text }));
    form.append(el("label", { for: "f-reason", text: t("Lý do") }), sel);
  }
  form.append(el("p", { id: "form-error", class: "error", hidden: true }),
    el("div", { class: "row" },
      el("button", { type: "submit", class: "confirm" }, t("Xác nhận")),
      el("button", { type: "button", class: "secondary", onclick: () => { form.hidden = true; } }, t("Hủy"))));
  form.onsubmit = (ev) => { ev.preventDefault(); submitAction(action, form); };
  form.hidden = false;
  form.scrollIntoView({ behavior: "smooth", block: "center" });
}

// The event's requirements as the scan API expects them (field names of tracking.scans).
function collect(action, form) {
  const r = action.requirements || {};
  const data = new FormData(form);
  const val = (name) => (data.get(name) || "").trim();
  const out = {};
  if (r.checklist && r.checklist.length) {
    const ticked = new Set(data.getAll("doc").map(Number));
    if (r.checklist.some((d, i) => d.required && !ticked.has(i))) return { error: t("Đánh dấu đủ các giấy tờ bắt buộc") };
    out.documents = r.checklist.filter((d, i) => ticked.has(i)).map((d) => ({ id: d.id, form: d.form, quantity: d.quantity }));
  }
  const required = [["seal_number", r.seal_number], ["id_number_last4", r.id_digits],
    ["delivery_code", r.one_time_code], ["reason_code", r.failure_reasons && r.failure_reasons.length]];
  for (const [name, need] of required) {
    if (need && !val(name)) return { error: t("Thiếu thông tin bắt buộc") };
    if (need) out[name] = val(name);
  }
  if (r.identity_check) {
    const digits = val("id_digits");
    if (!/^[0-9]{4}$/.test(digits)) return { error: t("Thiếu thông tin bắt buộc") };
    if (data.get("representative") === "1") {
      if (!val("representative_name") || !val("authorisation")) return { error: t("Thiếu thông tin bắt buộc") };
      out.identity = { method: "representative", name: val("representative_name"), authorisation: val("authorisation"),
        id_last_digits: digits };
    } else {
      out.identity = { method: "id_number", last_digits: digits };
    }
  }
  return { fields: out };
}

async function submitAction(action, form) {
  const { fields, error } = collect(action, form);
  const errP = $("form-error");
  if (error) { errP.textContent = error; errP.hidden = false; return; }
  const { item, scanned } = current;
  const pos = lastPosition && Date.now() - lastPosition.at < 10 * 60 * 1000 ? lastPosition : null;
  const entry = {
    key: newKey(),
    item_code: item.item_code,
    scanned,
    event: action.event,
    event_text: action.text,
    device_time: new Date().toISOString(),
    lat: pos ? pos.lat : null,
    lon: pos ? pos.lon : null,
    fields,
    status: "pending",
    created: Date.now(),
  };
  await store.put("queue", entry);
  // Optimistic: the item moves on locally so an offline courier can chain the next scan.
  if (!item.unknown && action.next_state) {
    item.state = action.next_state;
    item.state_text = action.next_state_text;
    item.actions = (item.plan && item.plan[action.next_state]) || [];
    await store.put("items", item);
  }
  form.hidden = true;
  renderItem();
  await renderQueue();
  sync();
}

// ---------------------------------------------------------------- queue and sync

function toApiScan(e) {
  const scan = {
    idempotency_key: e.key,
    event: e.event,
    device_time: e.device_time,
    ...e.fields,
  };
  if (e.scanned && e.scanned.includes("/")) scan.qr = e.scanned;
  else scan.item_code = e.item_code;
  if (e.lat !== null && e.lon !== null) { scan.lat = e.lat; scan.lon = e.lon; }
  return scan;
}

// The scan API answers with one result per scan, in order; accept a few reasonable shapes.
function outcomes(body) {
  const list = Array.isArray(body) ? body : body.results || body.scans || (body.result ? [body.result] : [body]);
  return list.map((r) => {
    const st = String(r.status || r.outcome || (r.ok === false ? "refused" : "accepted")).toLowerCase();
    const accepted = ["accepted", "recorded", "ok", "duplicate", "replayed", "created"].includes(st) || r.ok === true;
    const reason = r.message || r.detail || r.reason || (r.error && (r.error.message || r.error)) || "";
    return { accepted, reason, state: r.state || (r.event && r.event.state_after) || null };
  });
}

async function sync() {
  if (syncing) return;
  const pending = (await store.all("queue")).filter((e) => e.status === "pending").sort((a, b) => a.created - b.created);
  if (!pending.length) { await renderQueue(); return; }
  syncing = true;
  $("sync-status").textContent = t("Đang đồng bộ…");
  try {
    const resp = await fetch(cfg.scansUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ scans: pending.map(toApiScan) }),
    });
    if (resp.status === 401 || resp.redirected) { $("sync-status").textContent = t("Cần đăng nhập lại"); return; }
    if (resp.status >= 500) { $("sync-status").textContent = t("Lỗi máy chủ, sẽ thử lại"); return; }
    const body = await resp.json();
    const results = outcomes(body);
    if (results.length !== pending.length) {
      // A whole-request refusal (malformed body): every scan gets the same reason.
      const reason = body.detail || body.title || String(resp.status);
      for (const e of pending) Object.assign(e, { status: "refused", reason, synced: Date.now() });
    } else {
      pending.forEach((e, i) => Object.assign(e, {
        status: results[i].accepted ? "accepted" : "refused", reason: results[i].reason, synced: Date.now() }));
    }
    for (const e of pending) await store.put("queue", e);
    setNet(true);
    // Refresh what the server now says about the items we touched, and the run.
    const codes = [...new Set(pending.map((e) => e.item_code))];
    for (const code of codes) {
      try { await store.put("items", await getJSON(`${cfg.itemUrl}?q=${encodeURIComponent(code)}`)); } catch (_) { /* keep cache */ }
    }
    if (current && codes.includes(current.item.item_code)) {
      const fresh = await store.get("items", current.item.item_code);
      // Do not pull the form from under the courier's fingers: refresh the screen only when no form is open.
      if (fresh) { current.item = fresh; current.offline = false; if ($("action-form").hidden) renderItem(); }
    }
    loadRun();
  } catch (_) {
    setNet(false); // no network: the queue waits for the 'online' event
  } finally {
    syncing = false;
    await renderQueue();
  }
}

async function renderQueue() {
  const all = (await store.all("queue")).sort((a, b) => b.created - a.created).slice(0, 30);
  const pending = all.filter((e) => e.status === "pending").length;
  const badge = $("pending-badge");
  badge.hidden = !pending;
  badge.textContent = `${t("Chờ đồng bộ")}: ${pending}`;
  if (!syncing) $("sync-status").textContent = pending ? `${t("Chờ đồng bộ")}: ${pending}` : "";
  const ol = $("queue");
  ol.replaceChildren();
  for (const e of all) {
    const label = e.status === "pending" ? t("Chờ đồng bộ") : e.status === "accepted" ? t("Đã ghi nhận") : t("Bị từ chối");
    ol.append(el("li", { class: `q q-${e.status}`, "data-key": e.key, "data-status": e.status },
      el("span", { class: "mono", text: e.item_code }), " · ", e.event_text, " · ",
      el("time", { text: fmtTime(e.device_time) }), " ",
      el("span", { class: `q-status q-status-${e.status}`, text: label }),
      e.status === "refused" && e.reason ? el("div", { class: "q-reason", text: e.reason }) : null));
  }
}

// ---------------------------------------------------------------- start

async function main() {
  store = await openStore(`dossierpost-courier-${cfg.user}`);
  setNet(navigator.onLine);
  window.addEventListener("online", () => { setNet(true); sync(); });
  window.addEventListener("offline", () => setNet(false));
  $("scan-start").addEventListener("click", startCamera);
  $("scan-stop").addEventListener("click", stopCamera);
  $("code-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("code-input").value;
    openItem(v, codeOf(v));
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(cfg.swUrl, { scope: cfg.scope }).catch(() => {});
  }
  watchGps();
  await renderQueue();
  await loadRun();
  sync();
  setInterval(sync, 30000);
  root.dataset.ready = "1";
}

main();
