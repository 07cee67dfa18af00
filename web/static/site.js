// sohoa: the few lines every page shares. Pages work without it (plain forms); it adds the
// CSRF header to scripted calls, confirmation prompts and the "back" link.
"use strict";
(function () {
  const csrf = () => document.body.dataset.csrf || "";

  // fetch with the session's CSRF token and JSON problems turned into a thrown Error whose
  // message is the problem's detail (already in words the counter can act on).
  async function call(url, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ "Accept": "application/json", "X-CSRF-Token": csrf() }, opts.headers || {});
    const response = await fetch(url, opts);
    if (!response.ok) {
      let text = response.statusText;
      try { const p = await response.json(); text = p.title_vi || p.detail || p.title || text; } catch (e) { /* not JSON */ }
      const error = new Error(text);
      error.status = response.status;
      throw error;
    }
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  document.addEventListener("click", (event) => {
    const back = event.target.closest("[data-back]");
    if (back && history.length > 1) { event.preventDefault(); history.back(); }
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    // One press sends one request: a double click at a busy counter must not pay twice.
    const button = event.submitter;
    if (button && !form.dataset.repeatable) { setTimeout(() => { button.disabled = true; }, 0); }
  });

  window.sohoa = { call, csrf };
})();
