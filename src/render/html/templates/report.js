// Sorting and filtering of the problem-connection table; nothing else needs
// JavaScript. A view can be linked: #class=lost_fin&flag=fin_retransmitted&q=10.0.0.1&sort=-start
(function () {
  "use strict";
  var table = document.getElementById("problems");
  var controls = document.getElementById("filters");
  if (table && controls) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var fClass = document.getElementById("f-class");
    var fFlag = document.getElementById("f-flag");
    var fText = document.getElementById("f-text");
    var count = document.getElementById("f-count");
    controls.hidden = false;
    table.classList.add("sortable");

    var apply = function () {
      var c = fClass.value;
      var f = fFlag.value;
      var q = fText.value.trim().toLowerCase();
      var n = 0;
      rows.forEach(function (r) {
        var ok = (!c || r.getAttribute("data-class") === c) &&
          (!f || (" " + r.getAttribute("data-flags") + " ").indexOf(" " + f + " ") >= 0) &&
          (!q || r.getAttribute("data-ep").indexOf(q) >= 0);
        r.hidden = !ok;
        if (ok) { n += 1; }
      });
      count.textContent = n + " of " + rows.length + " rows shown";
    };

    var sortBy = function (col, desc) {
      var numeric = heads[col].getAttribute("data-sort") === "num";
      var key = function (r) {
        var cell = r.cells[col];
        var v = cell.getAttribute("data-v");
        if (v === null) { v = cell.textContent; }
        return numeric ? parseFloat(v) : v.toLowerCase();
      };
      rows.sort(function (a, b) {
        var x = key(a);
        var y = key(b);
        var d = x < y ? -1 : (x > y ? 1 : 0);
        if (d === 0) {
          d = parseFloat(a.cells[0].getAttribute("data-v")) - parseFloat(b.cells[0].getAttribute("data-v"));
          return d;
        }
        return desc ? -d : d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      heads.forEach(function (h, i) {
        if (h.hasAttribute("data-sort")) {
          h.setAttribute("aria-sort", i === col ? (desc ? "descending" : "ascending") : "none");
        }
      });
    };

    heads.forEach(function (th, i) {
      if (!th.hasAttribute("data-sort")) { return; }
      th.tabIndex = 0;
      var go = function () { sortBy(i, th.getAttribute("aria-sort") === "ascending"); };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); }
      });
    });
    fClass.addEventListener("change", apply);
    fFlag.addEventListener("change", apply);
    fText.addEventListener("input", apply);

    var hash = location.hash.slice(1);
    if (hash.indexOf("=") >= 0) {
      hash.split("&").forEach(function (kv) {
        var at = kv.indexOf("=");
        if (at < 0) { return; }
        var k, v;
        try {
          k = decodeURIComponent(kv.slice(0, at));
          v = decodeURIComponent(kv.slice(at + 1));
        } catch (e) { return; }
        if (k === "class") { fClass.value = v; }
        else if (k === "flag") { fFlag.value = v; }
        else if (k === "q") { fText.value = v; }
        else if (k === "sort") {
          var desc = v.charAt(0) === "-";
          var name = desc ? v.slice(1) : v;
          heads.forEach(function (th, j) {
            if (th.getAttribute("data-key") === name) { sortBy(j, desc); }
          });
        }
      });
    }
    apply();
  }

  // Following a link to a ladder opens it.
  var openTarget = function () {
    var id = location.hash.slice(1);
    if (!id || id.indexOf("=") >= 0) { return; }
    var el = document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.open = true; }
  };
  window.addEventListener("hashchange", openTarget);
  openTarget();
}());
