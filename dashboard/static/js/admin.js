// Backoffice's replacement for the inline event handlers of Flask-Admin's templates, which
// the Content-Security-Policy forbids (no 'unsafe-inline' scripts). Loaded on every admin
// page from this site, with the page's nonce.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }

    // "With selected" bulk actions (was onclick="return modelActions.execute(name)").
    var action = target.closest("[data-bo-action]");
    if (action) {
      event.preventDefault();
      if (window.modelActions) {
        window.modelActions.execute(action.getAttribute("data-bo-action"));
      }
      return;
    }

    // Buttons that ask first (was onclick="return faHelpers.safeConfirm(msg)").
    var confirming = target.closest("[data-bo-confirm]");
    if (confirming && !window.confirm(confirming.getAttribute("data-bo-confirm"))) {
      event.preventDefault();
      return;
    }

    // "Add" of inline forms (was onclick="faForm.addInlineField(this, id)").
    var inlineAdd = target.closest("[data-bo-inline-add]");
    if (inlineAdd) {
      event.preventDefault();
      if (window.faForm) {
        window.faForm.addInlineField(inlineAdd, inlineAdd.getAttribute("data-bo-inline-add"));
      }
      return;
    }

    // Flask-Admin's placeholder links (href="javascript:void(0)"): following one would be a
    // blocked javascript: URL, so they never navigate.
    var link = target.closest("a[href]");
    if (link && link.getAttribute("href").trim().toLowerCase().indexOf("javascript:") === 0) {
      event.preventDefault();
    }
  }, true);
})();
