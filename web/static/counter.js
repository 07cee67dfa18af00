// sohoa reception desk: the queue card keeps itself current while the page stays open, and
// the arrow keys move from the procedure search box through its results.
"use strict";
(function () {
  const REFRESH_MS = 20000;

  // The clerk is using the card (focus in it, or a dossier code half typed): leave it alone.
  function busy(card) {
    if (card.contains(document.activeElement)) return true;
    return Array.from(card.querySelectorAll("input[type=text]")).some((input) => input.value);
  }

  let timer = null;
  async function refresh() {
    const card = document.getElementById("queue");
    if (!card || !card.dataset.refresh || document.hidden || busy(card)) return;
    try {
      const html = await window.sohoa.call(card.dataset.refresh, {
        method: "GET",
        headers: { "Accept": "text/html" },
      });
      const fresh = new DOMParser().parseFromString(String(html), "text/html").getElementById("queue");
      if (!fresh) { clearInterval(timer); return; } // signed out: the sign-in page came back
      if (!busy(card)) card.replaceWith(fresh);
    } catch (error) {
      clearInterval(timer); // offline or refused: the page's own buttons still work
    }
  }
  timer = setInterval(refresh, REFRESH_MS);

  document.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const search = document.getElementById("q");
    const links = Array.from(document.querySelectorAll("[data-results] a"));
    if (!search || !links.length) return;
    const at = links.indexOf(document.activeElement);
    if (document.activeElement === search && event.key === "ArrowDown") {
      event.preventDefault();
      links[0].focus();
    } else if (at >= 0) {
      event.preventDefault();
      const next = at + (event.key === "ArrowDown" ? 1 : -1);
      (next < 0 ? search : links[Math.min(next, links.length - 1)]).focus();
    }
  });
})();
