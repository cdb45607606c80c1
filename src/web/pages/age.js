// noodepd: keeps the data age on an open page current (served as /static/age.js, the one
// script; the CSP allows only same-origin scripts). Every page is complete without it: the
// server already wrote the age at the time it sent the page. This only counts on from
// there, measured from the box's clock (data-now), never the PC's, and marks the page
// out of date once the age passes data-stale-after, as the server would on a reload.
(function () {
  "use strict";
  var el = document.querySelector("[data-as-of]");
  if (!el || !document.documentElement.classList) {
    return;
  }
  var asOf = Date.parse(el.getAttribute("data-as-of"));
  var boxNow = Date.parse(el.getAttribute("data-now"));
  var staleAfter = Number(el.getAttribute("data-stale-after"));
  var loaded = Date.now();
  if (isNaN(asOf) || isNaN(boxNow) || isNaN(staleAfter)) {
    return;
  }
  var en = document.documentElement.lang === "en";
  function words(s) {
    var h = en ? "h" : "u";
    if (s < 60) {
      return s + " s";
    }
    if (s < 3600) {
      return Math.floor(s / 60) + " min";
    }
    if (s < 86400) {
      return Math.floor(s / 3600) + " " + h + " " + Math.floor((s % 3600) / 60) + " min";
    }
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " " + h;
  }
  function tick() {
    var s = Math.max(0, Math.floor((boxNow - asOf + (Date.now() - loaded)) / 1000));
    var n = el.querySelector(".age-n");
    if (n) {
      n.textContent = words(s);
    }
    if (s > staleAfter && el.classList.contains("age-fresh")) {
      el.classList.remove("age-fresh");
      el.classList.add("age-stale");
      document.body.classList.add("data-stale");
      var hidden = document.querySelectorAll("[data-show-when-stale]");
      for (var i = 0; i < hidden.length; i++) {
        hidden[i].hidden = false;
      }
    }
  }
  tick();
  window.setInterval(tick, 15000);
})();
