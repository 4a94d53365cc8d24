// Dispatcher pages: the import progress bar polls its JSON; the review form's "other commune" list.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (box && box.dataset.status !== "done" && box.dataset.status !== "failed") {
    var set = function (id, v) { var el = document.getElementById(id); if (el) { el.textContent = v; } };
    var poll = function () {
      fetch(box.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (b) {
        document.getElementById("import-bar").value = b.percent;
        set("import-percent", b.percent); set("import-processed", b.processed_rows); set("import-status", b.status);
        set("import-created", b.created); set("import-review", b.needs_review); set("import-existing", b.existing);
        set("import-errors", b.errors);
        if (b.status === "done" || b.status === "failed") { window.location.reload(); } else { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 500);
  }
  document.querySelectorAll(".review-item select.other-commune").forEach(function (sel) {
    var form = sel.form;
    form.querySelectorAll("input[type=radio]").forEach(function (r) { r.addEventListener("change", function () { sel.disabled = true; sel.value = ""; }); });
    sel.disabled = false;
    sel.addEventListener("change", function () {
      var on = sel.value !== "";
      form.querySelectorAll("input[type=radio]").forEach(function (r) { r.disabled = on; });
    });
  });
}());
