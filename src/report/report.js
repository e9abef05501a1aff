(function () {
  "use strict";
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };
  function key(cell, num) {
    var v = cell ? cell.getAttribute("data-v") : null;
    if (v === null) v = cell ? cell.textContent : "";
    if (num) { var f = parseFloat(v); return isNaN(f) ? -Infinity : f; }
    return v.toLowerCase();
  }
  each(document.querySelectorAll("table.dt"), function (table) {
    var body = table.tBodies[0];
    if (!body || !table.tHead) return;
    var heads = table.tHead.rows[0].cells;
    each(heads, function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sortable");
      function sort() {
        var num = th.getAttribute("data-t") === "n";
        var cur = th.getAttribute("aria-sort");
        // Numbers first sort descending (biggest first), text ascending.
        var asc = cur ? cur !== "ascending" : !num;
        each(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var keyed = Array.prototype.map.call(body.rows, function (r, i) {
          return [key(r.cells[col], num), i, r];
        });
        keyed.sort(function (a, b) {
          if (a[0] < b[0]) return asc ? -1 : 1;
          if (a[0] > b[0]) return asc ? 1 : -1;
          return a[1] - b[1];
        });
        var frag = document.createDocumentFragment();
        keyed.forEach(function (k) { frag.appendChild(k[2]); });
        body.appendChild(frag);
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
    var wrap = table.parentNode;
    var box = wrap.querySelector("input.flt");
    var count = wrap.querySelector(".cnt");
    if (!box) return;
    box.hidden = false;
    box.addEventListener("input", function () {
      var terms = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      each(body.rows, function (r) {
        var text = r.textContent.toLowerCase();
        var ok = terms.every(function (t) { return text.indexOf(t) >= 0; });
        r.hidden = !ok;
        if (ok) shown++;
      });
      count.textContent = terms.length ? shown + " of " + body.rows.length + " rows" : "";
    });
  });
  // "#q=admin" in the address filters every table: a link to a filtered view.
  var m = /[#&]q=([^&]*)/.exec(location.hash);
  if (m) {
    var q = decodeURIComponent(m[1].replace(/\+/g, " "));
    each(document.querySelectorAll("input.flt"), function (box) {
      box.value = q;
      box.dispatchEvent(new Event("input"));
    });
  }
  // Folded sections would be missing from paper.
  window.addEventListener("beforeprint", function () {
    each(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
})();
