// The console's only hand-written script. Live regions ([data-live]: the board, the
// projections table) are polled by htmx every 2 s; a poll is skipped while the
// user is filling in a form inside the region, so a refresh never throws away
// what they were typing or choosing.
document.addEventListener("htmx:beforeRequest", function (event) {
  var region = event.detail.elt;
  if (!region || !region.hasAttribute("data-live")) return;
  var focused = document.activeElement;
  var editing = focused && region.contains(focused) && focused.closest("form, details");
  if (editing || region.querySelector("details[open]")) event.preventDefault();
});
