// The top navigation's menus are <details> elements, so they open and close without this file.
// It only adds what a menu bar is expected to do: one menu open at a time, and a click outside
// or Escape closes it (Escape hands focus back to the menu's summary).
(function () {
  "use strict";

  function menus() {
    return document.querySelectorAll("details[data-nav-menu]");
  }

  function closeAll(except) {
    menus().forEach(function (menu) {
      if (menu !== except && menu.open) {
        menu.open = false;
      }
    });
  }

  document.addEventListener(
    "toggle",
    function (event) {
      var menu = event.target;
      if (menu instanceof HTMLDetailsElement && menu.hasAttribute("data-nav-menu") && menu.open) {
        closeAll(menu);
      }
    },
    true
  );

  document.addEventListener("click", function (event) {
    var inside = event.target instanceof Element ? event.target.closest("details[data-nav-menu]") : null;
    closeAll(inside);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var open = document.querySelector("details[data-nav-menu][open]");
    if (open) {
      open.open = false;
      var summary = open.querySelector("summary");
      if (summary) {
        summary.focus();
      }
    }
  });
})();
