// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";

  // Close an open dropdown (<details data-dropdown>) when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-dropdown][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-dropdown][open]").forEach(function (menu) {
      menu.removeAttribute("open");
    });
  });

  // Dismissible alerts.
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".alert .dismiss");
    if (button) button.closest(".alert").remove();
  });

  // <button data-copy="#element-id">: copy that element's text to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) return;
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      var label = button.querySelector("[data-copy-label]") || button;
      var before = label.textContent;
      label.textContent = "Copied";
      setTimeout(function () { label.textContent = before; }, 1600);
    });
  });

  // <form data-confirm="Are you sure?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // <select data-autosubmit>: apply a filter as soon as it changes (replaces onchange=, CSP).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
  });

  // Submit buttons show that work has started: disabled, a spinner, and data-busy-label's
  // words ("Checking…"). Disabled after the event, so the button's own value is still sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    if (!button || !button.classList.contains("btn") || form.hasAttribute("data-theme-switch")) return;
    setTimeout(function () {
      if (event.defaultPrevented) return;
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) { b.disabled = true; });
      button.setAttribute("aria-busy", "true");
      var busy = button.getAttribute("data-busy-label");
      if (busy) {
        button.setAttribute("data-idle-label", button.textContent.trim());
        button.lastChild.nodeType === 3 ? (button.lastChild.textContent = busy) : button.append(busy);
      }
      // A page may say what is running meanwhile: <form data-busy-note="…"> fills [data-busy-note-target].
      var note = document.querySelector("[data-busy-note-target]");
      if (note && form.hasAttribute("data-busy-note")) {
        note.textContent = form.getAttribute("data-busy-note");
        note.hidden = false;
      }
    }, 0);
  });
  // Coming back with the Back button shows the page as it was left: undo the busy state.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll(".btn[aria-busy=true]").forEach(function (button) {
      button.removeAttribute("aria-busy");
      var idle = button.getAttribute("data-idle-label");
      if (idle && button.lastChild.nodeType === 3) button.lastChild.textContent = idle;
      button.closest("form").querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });

  // Phones: stacked table rows label each cell with its column's header (see app.css).
  document.querySelectorAll("table.table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.querySelector(".sr-only") ? "" : th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, index) {
        if (heads[index] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[index]);
      });
    });
  });

  // The theme switch: stored with a POST (CSRF token from the form), applied at once.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-theme-switch") || !window.fetch || !event.submitter) return;
    event.preventDefault();
    var theme = event.submitter.value;
    var data = new FormData(form);
    data.set("theme", theme);
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error("theme not saved");
        var root = document.documentElement;
        if (theme === "system") root.removeAttribute("data-theme"); else root.setAttribute("data-theme", theme);
        var meta = document.querySelector('meta[name="color-scheme"]');
        if (meta) meta.setAttribute("content", theme === "system" ? "light dark" : theme);
        form.querySelectorAll("button[name=theme]").forEach(function (b) {
          b.setAttribute("aria-pressed", b.value === theme ? "true" : "false");
        });
      })
      .catch(function () { form.submit(); });
  });

  // <div data-live-url="…">: poll a server-rendered partial and swap each [data-live=name]
  // element of the page for the partial's element of the same name (status, health…).
  var live = document.querySelector("[data-live-url]");
  if (live && window.fetch && window.DOMParser) {
    var every = parseInt(live.getAttribute("data-live-every"), 10) || 5000;
    var poll = function () {
      if (document.hidden) return;
      fetch(live.getAttribute("data-live-url"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          fresh.querySelectorAll("[data-live]").forEach(function (part) {
            var name = part.getAttribute("data-live");
            document.querySelectorAll('[data-live="' + name + '"]').forEach(function (old) {
              if (old.innerHTML !== part.innerHTML) old.innerHTML = part.innerHTML;
            });
          });
        })
        .catch(function () {});
    };
    setInterval(poll, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
  }
})();
