// Sort tables by a column and filter their rows by text. The pages work without this script:
// tables are then in their server-side order and the filter box stays hidden.
(function () {
  "use strict";

  function cellKey(cell, numeric) {
    var value = cell.getAttribute("data-value");
    if (value === null) value = cell.textContent.trim();
    if (!numeric) return value.toLowerCase();
    var number = parseFloat(value);
    return isNaN(number) ? -Infinity : number;
  }

  function sortBy(table, header, column) {
    var kind = header.getAttribute("data-sort");
    var numeric = kind === "number";
    var current = header.getAttribute("aria-sort");
    // Counts and times read best largest/newest first; text reads best A to Z; a column may
    // say otherwise (status ranks: the worst is the smallest).
    var first = header.getAttribute("data-order");
    var ascending = current ? current === "descending" : first ? first === "ascending" : kind === "text";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, index) {
      return { row: row, key: cellKey(row.cells[column], numeric), index: index };
    });
    rows.sort(function (a, b) {
      var order = a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index;
      return ascending ? order : -order;
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (item) { fragment.appendChild(item.row); });
    body.appendChild(fragment);
  }

  function makeSortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, column) {
      if (!header.hasAttribute("data-sort")) return;
      var button = document.createElement("button");
      button.type = "button";
      while (header.firstChild) button.appendChild(header.firstChild);
      header.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, header, column); });
    });
  }

  function makeFilter(box) {
    var table = document.getElementById(box.getAttribute("data-filter"));
    var input = box.querySelector("input");
    var status = box.querySelector("output");
    if (!table || !input) return;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, index) {
        var match = words.every(function (word) { return texts[index].indexOf(word) >= 0; });
        row.hidden = !match;
        if (match) shown += 1;
      });
      if (status) status.textContent = shown + " of " + rows.length + " shown";
    });
    box.hidden = false;
  }

  // A stack shown crashing frame first can be turned to call order (and back).
  function makeReversible(button) {
    var list = document.getElementById(button.getAttribute("data-reverse"));
    if (!list) return;
    var labels = [button.textContent, button.getAttribute("data-other")];
    button.addEventListener("click", function () {
      var items = Array.prototype.slice.call(list.children).reverse();
      var fragment = document.createDocumentFragment();
      items.forEach(function (item) { fragment.appendChild(item); });
      list.appendChild(fragment);
      labels.reverse();
      button.textContent = labels[0];
      list.classList.toggle("innermost-first");
    });
    button.hidden = false;
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  Array.prototype.forEach.call(document.querySelectorAll("button[data-reverse]"), makeReversible);
  Array.prototype.forEach.call(document.querySelectorAll("[data-filter]"), makeFilter);
})();
