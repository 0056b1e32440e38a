// The catalog and the "+ New Connection" picker: results follow the filters as you type.
// The server renders the results (?partial=1); without this script the form's Filter button
// and the chips' links do the same with a page load. Arrow keys move between the results.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-filters]");
  if (!form || !window.fetch) return;
  var results = document.querySelector(form.getAttribute("data-live-filters"));
  var search = form.querySelector("input[name=q]");
  var category = form.querySelector("input[name=category]");
  var timer = null;
  var inflight = null;

  form.querySelectorAll("[data-live-hide]").forEach(function (el) { el.hidden = true; });

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value) params.set(key, value); });
    return params;
  }

  function refresh() {
    var params = query();
    var visible = params.toString();
    params.set("partial", "1");
    if (inflight) inflight.abort();
    inflight = window.AbortController ? new AbortController() : null;
    results.setAttribute("aria-busy", "true");
    fetch(form.action + "?" + params.toString(), {
      credentials: "same-origin",
      headers: {"X-Requested-With": "fetch"},
      signal: inflight ? inflight.signal : undefined,
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      results.innerHTML = html;
      results.removeAttribute("aria-busy");
      history.replaceState(null, "", form.action + (visible ? "?" + visible : ""));
    }).catch(function (error) {
      if (error && error.name === "AbortError") return;
      results.removeAttribute("aria-busy");
      form.submit();  // fall back to the plain page
    });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  }

  search.addEventListener("input", soon);
  form.addEventListener("change", function (event) {
    if (event.target !== search) refresh();
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    refresh();
  });
  results.addEventListener("click", function (event) {
    var chip = event.target.closest("[data-chips] a[data-category]");
    if (!chip || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    category.value = chip.getAttribute("data-category");
    refresh();
  });

  function cards() {
    return Array.prototype.slice.call(results.querySelectorAll("a.catalog-card"));
  }

  search.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown") return;
    var list = cards();
    if (list.length) { event.preventDefault(); list[0].focus(); }
  });
  results.addEventListener("keydown", function (event) {
    var card = event.target.closest("a.catalog-card");
    if (!card) return;
    var list = cards();
    var index = list.indexOf(card);
    var next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = list[index + 1];
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = index > 0 ? list[index - 1] : search;
    else if (event.key === "Home") next = list[0];
    else if (event.key === "End") next = list[list.length - 1];
    else return;
    event.preventDefault();
    if (next) next.focus();
  });
})();
