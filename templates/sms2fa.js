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
  function label(s) {
    var m = Math.floor(s / 60), r = s % 60;
    var wait = m > 0 ? (r > 0 ? unit(m, "min") + " " + unit(r, "s") : unit(m, "min")) : unit(s, "s");
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
