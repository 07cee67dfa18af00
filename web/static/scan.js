// sohoa scans: every <form data-upload> sends each chosen, dropped or folder-picked file on its
// own (multipart "file" plus the form's other fields, the CSRF header), shows its upload bar,
// then follows the answer's status_url every second: pages digitized out of the total, then the
// signature badge and the signed PDF inline, or the reason in words. One file's failure never
// stops the others. The words come from <script type="application/json" class="scan-messages">
// (web/templates/scans/_messages.html) in the page's language.
"use strict";
(function () {
  if (window.sohoaScan) { return; } // the script tag may come once per paper on a page
  const POLL_MS = 1000;
  const PARALLEL = 3;
  const SCAN_NAME = /\.(pdf|jpe?g|png|tiff?)$/i;
  const DEFAULTS = {
    uploading: "Đang tải lên…",
    uploaded: "Đã tải lên, đang chờ số hóa",
    upload: "Tải lên",
    pages: "Số trang đã số hóa",
    view: "Xem",
    hide: "Ẩn",
    pdf: "Bản PDF đã ký",
    failed: "Không số hóa được",
    rescan: "Quét lại giấy này rồi tải lên tệp mới.",
    network: "Tải lên bị gián đoạn: kiểm tra mạng rồi chọn lại tệp",
    lost: "Chưa đọc được tiến độ: tải lại trang để xem",
    skipped: "Tệp không phải ảnh hay PDF nên không được tải lên",
    skippedLabel: "Bỏ qua",
    signedOut: "Phiên làm việc đã kết thúc: đăng nhập lại rồi chọn lại tệp",
    stale: "Trang đã cũ: tải lại trang rồi chọn lại tệp",
    checking: "Đang kiểm tra chữ ký…",
    confirm: "Tải lại trang để nhập mã OTP/PIN và ký số bản này",
  };
  // "awaiting": signed once the clerk confirms with their OTP/PIN; nothing runs meanwhile.
  const STATE_CLASS = { queued: "info", working: "info", awaiting: "warn", digitized: "ok" };
  const csrf = () => document.body.dataset.csrf || "";

  function words(scope) {
    const node = (scope && scope.querySelector("script.scan-messages")) ||
      document.querySelector("script.scan-messages");
    let given = {};
    if (node) {
      try { given = JSON.parse(node.textContent); } catch (e) { given = {}; }
    }
    return Object.assign({}, DEFAULTS, given);
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function humanSize(bytes) {
    if (bytes < 1024) { return bytes + " B"; }
    if (bytes < 1048576) { return Math.round(bytes / 1024) + " KB"; }
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  // -- one file's row ------------------------------------------------------------------------

  // A row is the <li> and its parts; server-rendered rows ([data-scan]) are read the same way.
  function rowOf(li, text) {
    return {
      li: li,
      text: text,
      label: li.querySelector("[data-label]"),
      badge: li.querySelector("[data-badge]"),
      notices: li.querySelector("[data-notices]"),
      actions: li.querySelector(".actions"),
    };
  }

  function newRow(list, file, text) {
    const li = make("li");
    li.dataset.scan = "";
    const head = make("div", "actions");
    head.appendChild(make("strong", "", file.webkitRelativePath || file.name));
    head.appendChild(make("span", "muted", humanSize(file.size)));
    const label = make("span", "badge info", text.uploading);
    label.dataset.label = "";
    head.appendChild(label);
    const badge = make("span");
    badge.dataset.badge = "";
    head.appendChild(badge);
    li.appendChild(head);
    const notices = make("div");
    notices.dataset.notices = "";
    li.appendChild(notices);
    list.appendChild(li);
    return rowOf(li, text);
  }

  function bar(row, kind, label) {
    let node = row.li.querySelector("progress[data-" + kind + "]");
    if (!node) {
      node = make("progress");
      node.dataset[kind] = "";
      node.setAttribute("aria-label", label);
      row.li.insertBefore(node, row.notices);
    }
    return node;
  }

  function dropBar(row, kind) {
    const node = row.li.querySelector("progress[data-" + kind + "]");
    if (node) { node.remove(); }
  }

  // The file ends here: ``message`` says why; a refused or failed scan also says to rescan.
  function failed(row, message, skipped) {
    row.li.dataset.state = "failed";
    row.label.className = skipped ? "badge warn" : "badge bad";
    row.label.textContent = skipped ? row.text.skippedLabel : row.text.failed;
    dropBar(row, "upload");
    dropBar(row, "pages");
    row.notices.replaceChildren(
      make("p", skipped ? "warning" : "error", skipped ? message : message + " — " + row.text.rescan));
  }

  function showBadge(row, status) {
    if (!row.badge || !status.badge) { return; }
    const kind = status.badge_kind || (status.valid === true ? "ok" : status.valid === false ? "bad" : "warn");
    row.badge.className = "badge " + kind;
    row.badge.textContent = status.badge;
  }

  // What GET /web/scans/{id} answered, shown in the row.
  function show(row, status) {
    if (status.state === "failed") { failed(row, status.label); return; }
    row.li.dataset.state = status.state;
    row.label.className = "badge " + (STATE_CLASS[status.state] || "info");
    row.label.textContent = status.label;
    dropBar(row, "upload");
    if (status.state === "working" && status.pages_total) {
      const pages = bar(row, "pages", row.text.pages);
      pages.max = status.pages_total;
      pages.value = status.pages_done;
    } else {
      dropBar(row, "pages");
    }
    row.notices.replaceChildren.apply(row.notices,
      (status.notices || []).map((note) => make("p", "warning", note)));
    // The PIN/OTP form is drawn by the server: a scan that began waiting meanwhile needs a reload.
    if (status.confirmable && !row.li.querySelector("form[data-confirm]")) {
      row.notices.appendChild(make("p", "warning", row.text.confirm));
    }
    if (status.state === "digitized") {
      showBadge(row, status);
      if (status.pdf_url && !row.li.querySelector("[data-view-pdf]")) {
        const view = make("button", "", row.text.view);
        view.type = "button";
        view.dataset.viewPdf = status.pdf_url;
        view.setAttribute("aria-expanded", "false");
        row.actions.appendChild(view);
      }
    }
  }

  // -- following a scan ----------------------------------------------------------------------

  function follow(row, url, misses) {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then((response) => response.json().then((body) => ({ response: response, body: body })))
      .then(({ response, body }) => {
        if (!response.ok) {
          if (response.status === 401) { failed(row, row.text.signedOut); return; }
          if (response.status >= 500 && misses < 10) { later(row, url, misses + 1); return; }
          failed(row, body.detail || row.text.lost);
          return;
        }
        show(row, body);
        if (body.state === "queued" || body.state === "working") { later(row, url, 0); }
      })
      .catch(() => {
        if (misses < 10) { later(row, url, misses + 1); } else { failed(row, row.text.lost); }
      });
  }

  function later(row, url, misses) {
    setTimeout(() => follow(row, url, misses), POLL_MS * (misses ? 2 : 1));
  }

  // -- sending a file ------------------------------------------------------------------------

  const waiting = [];
  let running = 0;

  function enqueue(job) {
    waiting.push(job);
    pump();
  }

  function pump() {
    while (running < PARALLEL && waiting.length) {
      const job = waiting.shift();
      running += 1;
      job(() => { running -= 1; pump(); });
    }
  }

  function problemText(status, problem, text) {
    const code = problem && problem.code;
    if (status === 401 || code === "session_expired" || code === "session_missing") {
      return text.signedOut;
    }
    if (code === "csrf_failed") { return text.stale; }
    return (problem && (problem.detail || problem.title)) || text.network;
  }

  function send(form, file, row, done) {
    const body = new FormData();
    for (const field of form.elements) {
      if (!field.name || field.disabled || field.name === "csrf") { continue; }
      if (["file", "submit", "button", "reset"].includes(field.type)) { continue; }
      if ((field.type === "checkbox" || field.type === "radio") && !field.checked) { continue; }
      body.append(field.name, field.value);
    }
    body.append("file", file, file.name);
    const upload = bar(row, "upload", row.text.upload);
    upload.max = file.size || 1;
    upload.value = 0;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) { upload.max = event.total; upload.value = event.loaded; }
    };
    xhr.onload = () => {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
      if (xhr.status >= 200 && xhr.status < 300 && answer && answer.status_url) {
        upload.value = upload.max;
        row.label.textContent = row.text.uploaded;
        follow(row, answer.status_url, 0);
      } else {
        failed(row, problemText(xhr.status, answer, row.text));
      }
      done();
    };
    xhr.onerror = () => { failed(row, row.text.network); done(); };
    xhr.onabort = xhr.onerror;
    xhr.send(body);
  }

  function isScan(file) {
    return file.type.startsWith("image/") || file.type === "application/pdf" ||
      SCAN_NAME.test(file.name);
  }

  function take(form, files) {
    // The form's other fields go with every file: a missing one stops the lot, said in place.
    if (!form.checkValidity()) { form.reportValidity(); return; }
    const text = words(form);
    let list = form.querySelector("[data-files]");
    if (!list) {
      list = make("ul", "files");
      list.dataset.files = "";
      list.setAttribute("aria-live", "polite");
      form.appendChild(list);
    }
    for (const file of Array.from(files || [])) {
      if (file.name.startsWith(".")) { continue; } // a scanner folder's hidden files
      const row = newRow(list, file, text);
      if (!isScan(file)) { failed(row, text.skipped, true); continue; }
      enqueue((done) => send(form, file, row, done));
    }
  }

  function enhance(form) {
    if (form.dataset.uploadReady) { return; }
    form.dataset.uploadReady = "1";
    form.addEventListener("submit", (event) => { event.preventDefault(); });
    for (const input of form.querySelectorAll("input[type=file]")) {
      input.addEventListener("change", () => {
        take(form, input.files);
        input.value = "";
      });
    }
    const zone = form.querySelector("[data-dropzone]");
    if (!zone) { return; }
    const over = (event) => { event.preventDefault(); zone.classList.add("over"); };
    zone.addEventListener("dragenter", over);
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      take(form, event.dataTransfer && event.dataTransfer.files);
    });
  }

  // -- the signed PDF inline -----------------------------------------------------------------

  function toggle(control) {
    const li = control.closest("[data-scan]");
    const row = rowOf(li, words(li.closest("section") || li));
    const url = control.dataset.viewPdf || control.getAttribute("href");
    let frame = li.querySelector("iframe.pdf");
    if (!frame) {
      frame = make("iframe", "pdf");
      frame.title = row.text.pdf;
      frame.src = url;
      li.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    const open = !frame.hidden;
    control.setAttribute("aria-expanded", open ? "true" : "false");
    control.textContent = open ? row.text.hide : row.text.view;
    // A paper signed before this page was opened gets its badge when first looked at.
    if (open && row.badge && !row.badge.textContent && li.dataset.statusUrl) {
      row.badge.className = "badge info";
      row.badge.textContent = row.text.checking;
      fetch(li.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((status) => {
          if (status) { showBadge(row, status); } else { row.badge.textContent = ""; }
        })
        .catch(() => { row.badge.textContent = ""; });
    }
  }

  document.addEventListener("click", (event) => {
    const control = event.target.closest("[data-view-pdf]");
    if (!control || !control.closest("[data-scan]")) { return; }
    event.preventDefault();
    toggle(control);
  });

  function start() {
    const forms = document.querySelectorAll("form[data-upload]");
    forms.forEach(enhance);
    if (forms.length) {
      // A file dropped beside the zone would make the browser open it and leave the page,
      // with every upload still running.
      const stray = (event) => {
        if (!event.target.closest || !event.target.closest("[data-dropzone]")) { event.preventDefault(); }
      };
      document.addEventListener("dragover", stray);
      document.addEventListener("drop", stray);
    }
    // Scans still running when the page was drawn are followed like new ones.
    document.querySelectorAll("li[data-scan][data-status-url]").forEach((li) => {
      if (li.dataset.state === "queued" || li.dataset.state === "working") {
        const row = rowOf(li, words(li.closest("section") || li));
        follow(row, li.dataset.statusUrl, 0);
      }
    });
  }

  window.sohoaScan = { enhance: enhance };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
