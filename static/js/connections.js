// Custom apps: "+ Add header" / "+ Add parameter" clone the last row of their fieldset, empty.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-add-row]");
  if (!button) return;
  var fieldset = button.closest("fieldset");
  var rows = fieldset.querySelectorAll(".conn-row");
  var row = rows[rows.length - 1].cloneNode(true);
  row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
  fieldset.insertBefore(row, button);
  row.querySelector("input").focus();
});
