// The registration page's card step through the card helper on the resident's own PC
// (`mykey card helper`, card_bridge/browser_helper). No framework, nothing else needed:
// 1. show the card-reader form (it is hidden without JavaScript) and ask the helper for its status;
// 2. on submit: get a one-time registration statement from this server, bound to this page's
//    origin (the helper signs it only for the page it names), send {challenge, pin} to the helper
//    (the PIN goes there and on to the card, never to this server), clear the PIN field, then post
//    the helper's certificate + signature to /my/register/card-answer, which opens step 2;
// 3. show every refusal in plain words next to the PIN field, announced through aria-live.
(function () {
  "use strict";
  var root = document.getElementById("card-helper");
  var answerForm = document.getElementById("card-answer-form");
  var messagesElement = document.getElementById("card-helper-messages");
  if (!root || !answerForm || !messagesElement) { return; }
  var messages = JSON.parse(messagesElement.textContent);
  var helperUrl = root.getAttribute("data-helper-url").replace(/\/+$/, "");
  var challengeUrl = root.getAttribute("data-challenge-url");
  var statusLine = document.getElementById("card-helper-status");
  var form = document.getElementById("card-helper-form");
  var pinField = document.getElementById("helper-pin");
  var errorSlot = document.getElementById("helper-pin-error-slot");
  var submitButton = document.getElementById("card-helper-submit");
  var PIN_SHAPE = /^[0-9]{4}$/;

  function text(key, tries) {
    var template = messages[key] || messages.card_error;
    return template.replace("{tries}", String(tries));
  }

  function keyOf(problem) {
    var key = String((problem && problem.code) || "card-error").replace(/-/g, "_");
    return Object.prototype.hasOwnProperty.call(messages, key) ? key : "card_error";
  }

  function showStatus(key) { statusLine.textContent = text(key); }

  function showError(message) {
    errorSlot.textContent = "";
    var error = document.createElement("span");
    error.className = "field-error";
    error.id = "helper-pin-error";
    error.textContent = message;
    errorSlot.appendChild(error);
    pinField.setAttribute("aria-invalid", "true");
    pinField.setAttribute("aria-describedby", "helper-pin-hint helper-pin-error");
  }

  function clearError() {
    errorSlot.textContent = "";
    pinField.removeAttribute("aria-invalid");
    pinField.setAttribute("aria-describedby", "helper-pin-hint");
  }

  function problemOf(response) {
    return response.json().catch(function () { return { code: "card-error" }; });
  }

  function checkStatus() {
    showStatus("checking");
    return fetch(helperUrl + "/v1/status", { method: "GET", mode: "cors", credentials: "omit" })
      .then(function (response) {
        if (!response.ok) {
          return problemOf(response).then(function (problem) { showStatus(keyOf(problem)); });
        }
        return response.json().then(function (status) {
          if (!status.reader_present) { showStatus("no_reader"); }
          else if (!status.card_present) { showStatus("no_card_yet"); }
          else { showStatus("ready"); }
        });
      })
      .catch(function () { showStatus("not_running"); });
  }

  function refuse(key, tries) {
    showError(text(key, tries));
    pinField.focus();
    // The error is announced beside the field; the status line tells the reader's state anew.
    checkStatus();
  }

  function authenticate(pin) {
    var issued = null;
    // The browser sends the Origin header itself; the body names the same origin for servers
    // behind a proxy that drops the header (the server refuses the two if they differ).
    return fetch(challengeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ origin: window.location.origin }),
    })
      .then(function (response) {
        if (!response.ok) { throw { key: "challenge_failed" }; }
        return response.json();
      })
      .then(function (challenge) {
        issued = challenge;
        return fetch(helperUrl + "/v1/authentications", {
          method: "POST",
          mode: "cors",
          credentials: "omit",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ challenge: challenge.challenge, pin: pin }),
        }).catch(function () { throw { key: "not_running" }; });
      })
      .then(function (response) {
        if (!response.ok) {
          return problemOf(response).then(function (problem) {
            throw { key: keyOf(problem), tries: problem.tries_left };
          });
        }
        return response.json();
      })
      .then(function (answer) {
        answerForm.elements.challenge_id.value = issued.challenge_id;
        answerForm.elements.certificate.value = answer.certificate;
        answerForm.elements.signature.value = answer.signature;
        showStatus("working");
        answerForm.submit();
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var pin = pinField.value;
    // The PIN leaves the field as soon as it is read: it is kept nowhere on the page.
    pinField.value = "";
    clearError();
    if (!PIN_SHAPE.test(pin)) { refuse("malformed_pin"); return; }
    submitButton.disabled = true;
    showStatus("working");
    authenticate(pin)
      .catch(function (failure) {
        refuse((failure && failure.key) || "card_error", failure && failure.tries);
      })
      .then(function () { submitButton.disabled = false; });
  });

  root.hidden = false;
  checkStatus();
})();
