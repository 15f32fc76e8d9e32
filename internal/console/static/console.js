// gitaccess console: small enhancements over pages that work without
// script. No framework, no build step; the Content-Security-Policy allows
// this file and nothing inline.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Provider-dependent fields and guide on the add-token form.
  function showProvider(select) {
    var choice = select.value;
    document.querySelectorAll("[data-show-for]").forEach(function (el) {
      el.hidden = el.getAttribute("data-show-for").split(" ").indexOf(choice) < 0;
    });
    document.querySelectorAll("[data-guide]").forEach(function (el) {
      el.classList.toggle("other", el.getAttribute("data-guide") !== choice);
    });
    updateTokenLinks();
  }
  function updateTokenLinks() {
    var url = document.getElementById("url");
    document.querySelectorAll("[data-token-link]").forEach(function (a) {
      var base = url && url.value.trim().replace(/\/+$/, "");
      if (base && /^https?:\/\/[^\s]+$/.test(base)) {
        a.href = base + a.getAttribute("data-token-link");
        a.hidden = false;
      } else {
        a.hidden = true;
      }
    });
  }
  var select = document.querySelector("[data-provider-select]");
  if (select) {
    select.addEventListener("change", function () { showProvider(select); });
    showProvider(select);
    var url = document.getElementById("url");
    if (url) url.addEventListener("input", updateTokenLinks);
  }

  // "Test" without reloading: the report replaces the result area and the
  // value the user typed stays in its field (the server never echoes it).
  var testButton = document.querySelector("[data-test-button]");
  if (testButton && window.fetch) {
    testButton.addEventListener("click", function (ev) {
      var form = testButton.form;
      if (!form.reportValidity()) return;
      ev.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      body.set("action", "test");
      body.set("fragment", "1");
      var out = document.getElementById("report");
      testButton.disabled = true;
      out.setAttribute("aria-busy", "true");
      fetch(form.getAttribute("action"), { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (resp) { return resp.text(); })
        .then(function (html) {
          out.innerHTML = html;
          var focus = document.getElementById("report-body") || document.getElementById("report-error");
          if (focus) { focus.setAttribute("tabindex", "-1"); focus.focus(); }
        })
        .catch(function () {
          out.innerHTML = "";
          var p = document.createElement("p");
          p.className = "error";
          p.setAttribute("role", "alert");
          p.textContent = "The test could not reach the server; check your connection and try again.";
          out.appendChild(p);
        })
        .finally(function () {
          testButton.disabled = false;
          out.removeAttribute("aria-busy");
        });
    });
  }

  // Filter a list as the user types into its search box.
  document.querySelectorAll("[data-filter]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("data-filter"));
    if (!list) return;
    var empty = document.querySelector('[data-filter-empty="' + list.id + '"]');
    function apply() {
      var q = input.value.trim().toLowerCase();
      var shown = 0;
      list.querySelectorAll("[data-filter-text]").forEach(function (li) {
        var hit = li.getAttribute("data-filter-text").toLowerCase().indexOf(q) >= 0;
        li.hidden = !hit;
        if (hit) shown++;
      });
      if (empty) empty.hidden = shown > 0;
    }
    input.addEventListener("input", apply);
    // Enter in the box asks the provider (a normal GET submit).
    apply();
  });

  // Choosing a token or a repository loads the next step.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () {
      if (el.form.requestSubmit) el.form.requestSubmit(); else el.form.submit();
    });
  });

  // Confirmation dialogs: links that lead to a confirmation page open the
  // same form in a <dialog>; its button is enabled once the word is typed.
  document.querySelectorAll("[data-dialog]").forEach(function (opener) {
    var dialog = document.getElementById(opener.getAttribute("data-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") return;
    opener.addEventListener("click", function (ev) {
      ev.preventDefault();
      dialog.showModal();
      var input = dialog.querySelector("[data-confirm-word]");
      if (input) { input.value = ""; input.dispatchEvent(new Event("input")); input.focus(); }
    });
    dialog.addEventListener("close", function () { opener.focus(); });
    dialog.querySelectorAll("[data-dialog-close]").forEach(function (c) {
      c.addEventListener("click", function (ev) { ev.preventDefault(); dialog.close(); });
    });
  });
  document.querySelectorAll("[data-confirm-word]").forEach(function (input) {
    var button = input.form && input.form.querySelector("[data-confirm-submit]");
    if (!button) return;
    function sync() { button.disabled = input.value.trim() !== input.getAttribute("data-confirm-word"); }
    input.addEventListener("input", sync);
    sync();
  });
})();
