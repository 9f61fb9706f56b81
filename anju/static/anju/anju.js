// HTMX: show server refusals (4xx/5xx on partial requests) as a dismissible alert.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("messages");
  if (!box) return;
  var header = event.detail.xhr.getResponseHeader("X-Anju-Message");
  var fallback = document.documentElement.lang.indexOf("zh") === 0
    ? "操作未完成，请重试。" : "The action did not complete. Please try again.";
  var alert = document.createElement("div");
  alert.className = "alert alert-danger alert-dismissible fade show";
  alert.setAttribute("role", "alert");
  alert.textContent = header ? decodeURIComponent(header) : fallback;
  var close = document.createElement("button");
  close.type = "button";
  close.className = "btn-close";
  close.setAttribute("data-bs-dismiss", "alert");
  alert.appendChild(close);
  box.appendChild(alert);
});

// The Content-Security-Policy allows no inline handlers: page behaviour is declared with data-*
// attributes and wired up here.

// <form data-confirm="…">: ask before submitting (revoking a token, retiring a resource).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

document.addEventListener("click", function (event) {
  // <button data-anju-copy="#field">: copy the field's value (a new API token).
  var copy = event.target.closest("[data-anju-copy]");
  if (copy) {
    var field = document.querySelector(copy.dataset.anjuCopy);
    if (field && navigator.clipboard) navigator.clipboard.writeText(field.value);
  }
  // <button data-anju-print>: print the page (recovery codes).
  if (event.target.closest("[data-anju-print]")) window.print();
});

// [data-anju-hold-while-focused]: a polling element skips its refresh while someone is typing in it.
document.addEventListener("htmx:beforeRequest", function (event) {
  var element = event.detail.elt;
  if (element.hasAttribute("data-anju-hold-while-focused") && element.contains(document.activeElement)) {
    event.preventDefault();
  }
});

// A thumbnail opens its gallery's modal at that picture.
document.addEventListener("show.bs.modal", function (event) {
  var trigger = event.relatedTarget;
  if (!trigger || trigger.dataset.anjuSlide === undefined) return;
  var items = event.target.querySelectorAll(".carousel-item");
  items.forEach(function (item, index) { item.classList.toggle("active", index === Number(trigger.dataset.anjuSlide)); });
});

// A #fragment naming a tab (#history, #matching on a listing) opens that tab.
document.addEventListener("DOMContentLoaded", function () {
  var button = location.hash && document.querySelector('[data-bs-toggle="tab"][data-bs-target="' + CSS.escape(location.hash) + '"]');
  if (button) bootstrap.Tab.getOrCreateInstance(button).show();
});

// <div class="progress-bar" data-anju-progress="40">: the bar's width, set here because the policy
// refuses style attributes (setting element.style from a script is allowed); also after HTMX swaps.
function anjuProgressBars(root) {
  var bars = Array.prototype.slice.call(root.querySelectorAll("[data-anju-progress]"));
  if (root.matches && root.matches("[data-anju-progress]")) bars.push(root);
  bars.forEach(function (bar) {
    bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.anjuProgress) || 0)) + "%";
  });
}
document.addEventListener("DOMContentLoaded", function () { anjuProgressBars(document); });
document.addEventListener("htmx:load", function (event) { anjuProgressBars(event.detail.elt); });
