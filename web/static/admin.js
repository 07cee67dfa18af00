// sohoa admin pages: the "copy" button beside a token shown once. Without this script the
// token is still there to select and copy by hand, which the page says.
"use strict";
(function () {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    const source = document.getElementById(button.dataset.copy);
    const status = document.getElementById("copy-done");
    if (!source || !status) { return; }
    button.hidden = false;
    button.addEventListener("click", async () => {
      source.select();
      let ok = false;
      try {
        await navigator.clipboard.writeText(source.value);
        ok = true;
      } catch (e) {
        // Clipboard API refused (plain http on a counter network): the old way still works.
        ok = document.execCommand && document.execCommand("copy");
      }
      status.textContent = ok ? status.dataset.copied : status.dataset.copyFailed;
    });
  });
})();
