// Custom apps: "+ Add header" / "+ Add parameter" clone the last row of their fieldset, empty;
// "Remove" takes a row out (the last one is emptied instead, so the fieldset keeps its shape).
document.addEventListener("click", function (event) {
  var add = event.target.closest("[data-add-row]");
  if (add) {
    var fieldset = add.closest("fieldset");
    var rows = fieldset.querySelectorAll(".conn-row");
    var row = rows[rows.length - 1].cloneNode(true);
    row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    fieldset.insertBefore(row, add);
    row.querySelector("input").focus();
    return;
  }
  var remove = event.target.closest("[data-remove-row]");
  if (remove) {
    var current = remove.closest(".conn-row");
    var all = current.parentNode.querySelectorAll(".conn-row");
    if (all.length > 1) {
      var next = current.nextElementSibling && current.nextElementSibling.matches(".conn-row")
        ? current.nextElementSibling : current.previousElementSibling;
      current.remove();
      (next.querySelector("input") || next).focus();
    } else {
      current.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      current.querySelector("input").focus();
    }
  }
});
