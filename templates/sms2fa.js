// Counts down the resend wait and enables the button when it is over. The
// page works without this script; the server enforces the wait either way.
// Units come from the page (data-units), in its language, with the plural
// form the browser's Intl.PluralRules picks for the page's lang.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector("button[data-wait]");
  if (!button) return;
  var left = parseInt(button.getAttribute("data-wait"), 10) || 0;
  var template = button.getAttribute("data-template") || "";
  var units = { s: { other: "{n} s" }, min: { other: "{n} min" }, h: { other: "{n} h" } };
  try { units = JSON.parse(button.getAttribute("data-units")) || units; } catch (e) { /* keep the defaults */ }
  var rules = null;
  try { rules = new Intl.PluralRules(document.documentElement.lang || "en"); } catch (e) { /* no Intl: "other" */ }
  function unit(n, u) {
    var forms = units[u] || {};
    var form = rules ? rules.select(n) : "other";
    return (forms[form] || forms.other || "{n}").replace("{n}", String(n));
  }
  // As the server says waits: "45 s", "2 min 30 s", "3 h 20 min" (minutes
  // rounded up once hours show).
  function label(s) {
    var wait;
    if (s < 60) {
      wait = unit(s, "s");
    } else if (s < 3600) {
      wait = unit(Math.floor(s / 60), "min") + (s % 60 > 0 ? " " + unit(s % 60, "s") : "");
    } else {
      var mins = Math.ceil(s / 60);
      wait = unit(Math.floor(mins / 60), "h") + (mins % 60 > 0 ? " " + unit(mins % 60, "min") : "");
    }
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
