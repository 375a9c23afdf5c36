// SmartSlot console: the little JavaScript the pages need (the CSP allows no inline script).
// Countdowns of holds and offers: each [data-countdown-until] shows the time left, and when it runs out says so
// and asks the slot list (if the page has one) to refresh, since the slot goes back to the pool.
(function () {
  "use strict";

  function format(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-until]").forEach(function (element) {
      var until = Date.parse(element.getAttribute("data-countdown-until"));
      if (isNaN(until)) { return; }
      var left = Math.max(0, Math.round((until - now) / 1000));
      var shown = element.querySelector(".left");
      if (shown) { shown.textContent = format(left); }
      if (left === 0 && !element.hasAttribute("data-expired")) {
        element.setAttribute("data-expired", "");
        element.textContent = "Time is up: the slot is open to everyone again.";
        var container = element.closest(".hold, .offer");
        if (container) {
          container.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
        }
        var slots = document.getElementById("slots");
        if (slots && window.htmx) { window.htmx.trigger(slots, "refresh"); }
      }
    });
  }

  // A clicked slot shows "Locking…" at once (htmx marks the form while its request runs).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target.closest && event.target.closest(".slot-form");
    if (form) { form.classList.add("locking"); }
  });

  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
})();
