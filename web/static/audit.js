// sohoa auditor pages: the audit chain page comes at once and its status (a re-hash of the
// whole chain, which takes longer as the log grows) is fetched and put in place here. Without
// this script the page offers a link that renders the status on the server instead.
"use strict";
(function () {
  async function loadStatus(section) {
    const body = section.querySelector("[data-status-body]");
    try {
      const html = await window.sohoa.call(section.dataset.statusUrl);
      const holder = document.createElement("div");
      holder.innerHTML = html;
      const fresh = holder.querySelector("[data-status-body]");
      if (fresh && body) { body.replaceWith(fresh); }
    } catch (error) {
      const waiting = section.querySelector("[data-waiting]");
      if (waiting) { waiting.textContent = error.message; waiting.classList.add("error"); }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-status-url]").forEach(loadStatus);
  });
})();
