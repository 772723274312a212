// Keyboard shortcuts of the review console. No framework, no build step: this file ships
// in the package and is served by the console itself.
(function () {
  "use strict";
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key;
    if (typing(document.activeElement)) {
      if (key === "Escape") document.activeElement.blur();
      return;
    }
    var target = null;
    if (/^[1-9]$/.test(key)) {
      target = document.querySelector('button[data-key="' + key + '"]');
    } else if (key === "s") {
      var note = document.getElementById("note");
      var skipNote = document.getElementById("skip-note");
      if (note && skipNote && !skipNote.value) skipNote.value = note.value;
      target = document.querySelector('[data-shortcut="s"]');
    } else {
      target = document.querySelector('[data-shortcut="' + key + '"]');
    }
    if (target) {
      event.preventDefault();
      target.click();
    }
  });
  document.documentElement.setAttribute("data-keys", "ready");
})();
