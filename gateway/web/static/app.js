// dataledger explorer: small progressive enhancements (no libraries; works offline).
(function () {
  "use strict";

  // Timeline filters: one toggle per event name.
  function timelineFilters() {
    var box = document.getElementById("timeline-filters");
    var items = document.querySelectorAll("#timeline li.ev");
    if (!box || !items.length) return;
    var names = [], labels = {};
    items.forEach(function (li) {
      var n = li.dataset.event;
      if (names.indexOf(n) < 0) {
        names.push(n);
        var title = li.querySelector(".ev-name");  // the event's name in the page's language
        labels[n] = title ? title.textContent : n;
      }
    });
    names.forEach(function (name) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = labels[name] || name || "?"; b.dataset.event = name; b.title = name;
      b.addEventListener("click", function () {
        b.classList.toggle("off");
        var hide = b.classList.contains("off");
        items.forEach(function (li) { if (li.dataset.event === name) li.classList.toggle("hidden", hide); });
      });
      box.appendChild(b);
    });
  }

  // Transaction page: ask the API where the transaction stands (read-your-writes).
  function txStatus() {
    var el = document.getElementById("tx-status");
    if (!el || !window.fetch) return;
    fetch("/v1/tx/" + el.dataset.tx).then(function (r) { return r.json(); }).then(function (s) {
      if (s.state) el.textContent = s.state + (s.detail ? " — " + s.detail : "");
    }).catch(function () {});
  }

  // Search box: trim, and accept "#12" as a voucher id.
  function searchBox() {
    var input = document.getElementById("search-input");
    if (!input) return;
    input.form.addEventListener("submit", function () {
      input.value = input.value.trim().replace(/^#(\d+)$/, "v$1");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { timelineFilters(); txStatus(); searchBox(); });
})();
