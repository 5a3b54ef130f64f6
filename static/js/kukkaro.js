/* Kukkaro's own script. The content security policy allows scripts from 'self' only, so nothing is inline.
 *
 * 1. After a failed submit, focus moves to the error summary, so keyboard and screen-reader users start from
 *    the list of problems (WCAG 2.4.3, 3.3.1): on load, and after htmx puts new content on the page.
 * 2. Before a signed-in session ends (the idle timeout or the absolute lifetime), a dialog lets the person
 *    continue (WCAG 2.2.1). Timings come from the dialog's data attributes (the settings), texts from its markup
 *    (the page's language). Activity in another tab of the same site counts too (localStorage).
 */
(function () {
  "use strict";

  function focusErrorSummary(root) {
    var summary = (root || document).querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  }

  var ACTIVITY_KEY = "kukkaro.session.activity";

  function readActivity() {
    try {
      return parseInt(window.localStorage.getItem(ACTIVITY_KEY), 10) || 0;
    } catch (e) {
      return 0;
    }
  }

  function writeActivity(at) {
    try {
      window.localStorage.setItem(ACTIVITY_KEY, String(at));
    } catch (e) {
      /* private mode: this tab alone */
    }
  }

  function SessionWarning(dialog) {
    var seconds = function (name) { return parseInt(dialog.dataset[name], 10) * 1000; };
    var idleMs = seconds("idleSeconds");
    var warningMs = seconds("warningSeconds");
    var lifetimeEnd = Date.now() + seconds("lifetimeSeconds");
    var lastActivity = Date.now();
    var extendForm = dialog.querySelector("[data-session-extend]");
    var closeButton = dialog.querySelector("[data-session-close]");
    var idleText = document.getElementById("session-timeout-idle");
    var lifetimeText = document.getElementById("session-timeout-lifetime");
    var timer = null;

    writeActivity(lastActivity);

    function end() {
      return Math.min(Math.max(lastActivity, readActivity()) + idleMs, lifetimeEnd);
    }

    function expire() {
      window.location.assign(dialog.dataset.expiredUrl);
    }

    function wait(ms, then) {
      window.clearTimeout(timer);
      timer = window.setTimeout(then, Math.max(0, ms));
    }

    function schedule() {
      var now = Date.now();
      var ends = end();
      if (now >= ends) {
        expire();
      } else if (now >= ends - warningMs) {
        show(ends);
      } else {
        wait(ends - warningMs - now, schedule);
      }
    }

    function show(ends) {
      var lifetime = ends >= lifetimeEnd;
      idleText.hidden = lifetime;
      lifetimeText.hidden = !lifetime;
      extendForm.hidden = lifetime;
      closeButton.hidden = !lifetime;
      dialog.setAttribute("aria-describedby", lifetime ? lifetimeText.id : idleText.id);
      if (!dialog.open) {
        dialog.showModal();
      }
      (lifetime ? closeButton : extendForm.querySelector("button")).focus();
      wait(ends - Date.now(), schedule);
    }

    function extend() {
      fetch(extendForm.action, {
        method: "POST",
        body: new FormData(extendForm),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          var json = response.ok && (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
          return json ? response.json() : null;
        })
        .then(function (answer) {
          if (!answer) {
            expire(); // signed out meanwhile
            return;
          }
          lastActivity = Date.now();
          idleMs = answer.idle_seconds * 1000;
          lifetimeEnd = lastActivity + answer.lifetime_seconds * 1000;
          writeActivity(lastActivity);
          dialog.close();
        })
        .catch(expire);
    }

    extendForm.addEventListener("submit", function (event) {
      event.preventDefault();
      extend();
    });
    closeButton.addEventListener("click", function () {
      dialog.close();
    });
    dialog.addEventListener("cancel", function (event) {
      // Escape: the same as Continue while that is possible, otherwise Close.
      if (!extendForm.hidden) {
        event.preventDefault();
        extend();
      }
    });
    dialog.addEventListener("close", function () {
      if (closeButton.hidden) {
        schedule(); // continued: warn again before the new end
      } else {
        wait(end() - Date.now(), expire); // the lifetime cannot be extended: sign out at its end
      }
    });
    window.addEventListener("storage", function (event) {
      if (event.key === ACTIVITY_KEY && dialog.open && end() - warningMs > Date.now()) {
        dialog.close(); // continued in another tab
      }
    });
    document.body.addEventListener("htmx:afterRequest", function () {
      lastActivity = Date.now(); // the server renewed the session
      writeActivity(lastActivity);
    });
    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusErrorSummary(document);
    document.body.addEventListener("htmx:afterSwap", function (event) {
      focusErrorSummary(event.detail.target);
    });
    var dialog = document.getElementById("session-timeout");
    if (dialog && typeof dialog.showModal === "function") {
      SessionWarning(dialog);
    }
  });
})();
