// Keyboard shortcuts of the review queue. Every key acts on the card that is
// on the page now (htmx swaps it after each verdict), and none fires while the
// reviewer types in a field.
(function () {
  "use strict";
  var shownAt = Date.now();

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  // A key can come in the instant after htmx swapped a new card in and before it
  // has wired the card's forms and links; clicked then, they would load a whole
  // page instead. htmx.process is idempotent, so wire them first.
  function ready(element) {
    if (element && window.htmx) window.htmx.process(element);
    return element;
  }

  function click(selector) {
    var element = ready(document.querySelector(selector));
    if (element) element.click();
    return !!element;
  }

  function submitVerdict(value) {
    var form = ready(document.getElementById("verdict-form"));
    if (!form) return;
    var button = form.querySelector('button[name="value"][value="' + value + '"]');
    var spent = form.querySelector('input[name="time_spent_ms"]');
    if (spent) spent.value = String(Math.max(0, Date.now() - shownAt));
    // A click, not requestSubmit(button): htmx 2 learns the submitter (the
    // verdict's name and value) from the button's click event only.
    if (button) button.click();
  }

  function toggleHelp() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) return;
    var handled = true;
    if (key === "c") submitVerdict("correct");
    else if (key === "w") submitVerdict("wrong");
    else if (key === "u") submitVerdict("unsure");
    else if (key >= "1" && key <= "7") {
      var radio = document.querySelector('#verdict-form input[data-key="' + key + '"]');
      if (radio) radio.checked = !radio.checked;
    } else if (key === "n") {
      var note = document.getElementById("note");
      if (note) note.focus();
    } else if (key === "j") click("#next-link");
    else if (key === "k") click("#prev-link");
    else if (key === "z") {
      var undo = ready(document.getElementById("undo-form"));
      if (undo) undo.requestSubmit();
    } else handled = false;
    if (handled) event.preventDefault();
  });

  // A reloaded or re-swapped card starts its own timer; a lost connection says so
  // instead of failing silently (whatever was saved before stays saved).
  document.body.addEventListener("htmx:afterSwap", function () {
    shownAt = Date.now();
    var banner = document.getElementById("queue-error");
    if (banner) banner.hidden = true;
  });
  function showError() {
    var banner = document.getElementById("queue-error");
    if (banner) banner.hidden = false;
  }
  document.body.addEventListener("htmx:sendError", showError);
  document.body.addEventListener("htmx:responseError", showError);

  var order = document.querySelector("select[data-autosubmit]");
  if (order) order.addEventListener("change", function () { order.form.submit(); });
})();
