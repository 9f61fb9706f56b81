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
