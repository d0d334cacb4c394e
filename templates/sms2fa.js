// Counts down the resend wait and enables the button when it is over. The
// page works without this script; the server enforces the wait either way.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector("button[data-wait]");
  if (!button) return;
  var left = parseInt(button.getAttribute("data-wait"), 10) || 0;
  var template = button.getAttribute("data-template") || "";
  function label(s) {
    var m = Math.floor(s / 60), r = s % 60;
    var wait = m > 0 ? (r > 0 ? m + " min " + r + " s" : m + " min") : s + " s";
    return template.replace("{wait}", wait);
  }
  var timer = setInterval(function () {
    left -= 1;
    if (left > 0) {
      button.textContent = label(left);
      return;
    }
    clearInterval(timer);
    button.disabled = false;
    button.removeAttribute("data-wait");
    button.textContent = button.getAttribute("data-ready");
  }, 1000);
});
