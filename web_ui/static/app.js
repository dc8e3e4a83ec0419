// Show Help (upper right): helped fields turn green and show their description on hover.
(function () {
  "use strict";
  var KEY = "dgw-show-help";
  function apply(on) { document.body.classList.toggle("help", on); }
  document.addEventListener("DOMContentLoaded", function () {
    var on = false;
    try { on = window.sessionStorage.getItem(KEY) === "1"; } catch (e) { on = false; }
    apply(on);
    var btn = document.getElementById("show-help");
    if (btn) {
      btn.addEventListener("click", function () {
        on = !document.body.classList.contains("help");
        apply(on);
        try { window.sessionStorage.setItem(KEY, on ? "1" : "0"); } catch (e) { /* private mode */ }
      });
    }
    // "Select Endpoint" list: choosing an entry shows it.
    Array.prototype.forEach.call(document.querySelectorAll("select.autosubmit"), function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
    // Browse: show the chosen file's name.
    Array.prototype.forEach.call(document.querySelectorAll("span.filename"), function (span) {
      var input = document.getElementById(span.getAttribute("data-for"));
      if (input) {
        input.addEventListener("change", function () {
          span.textContent = input.files.length ? input.files[0].name : "No file selected";
        });
      }
    });
  });
})();
