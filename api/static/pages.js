// The pages' only script, and none of it is needed to use them:
// 1. fields marked data-no-paste refuse paste (confirmation fields of screen 16 must be typed);
// 2. an element with data-refresh-url and data-refresh-seconds is re-fetched and replaced in place
//    (the explorer's latest blocks), announced politely through its aria-live region.
(function () {
  "use strict";
  document.querySelectorAll("[data-no-paste]").forEach(function (field) {
    field.addEventListener("paste", function (event) { event.preventDefault(); });
    field.addEventListener("drop", function (event) { event.preventDefault(); });
  });
  document.querySelectorAll("[data-refresh-url]").forEach(function (region) {
    var seconds = Number(region.getAttribute("data-refresh-seconds")) || 5;
    window.setInterval(function () {
      fetch(region.getAttribute("data-refresh-url"), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html !== null && html !== region.innerHTML) { region.innerHTML = html; }
        })
        .catch(function () { /* the next tick tries again */ });
    }, seconds * 1000);
  });
})();
