// The hub's only script. Pages work without it; it adds the live compose preview, live
// delivery states, copy buttons and the browser's time zone. No inline code (strict CSP).
"use strict";

(function () {
  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // -- time zone for "send later" ---------------------------------------------------------
  function setTimeZone() {
    let zone = "UTC";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }
    document.querySelectorAll("[data-tz]").forEach(function (input) {
      if (!input.value || input.value === "UTC") { input.value = zone; }
    });
    document.querySelectorAll("[data-tz-label]").forEach(function (label) {
      const input = document.querySelector("[data-tz]");
      label.textContent = input ? input.value : zone;
    });
  }

  // -- compose: live preview ---------------------------------------------------------------
  function setUpPreview(form) {
    const url = form.getAttribute("data-preview-url");
    const body = document.querySelector("[data-preview-body]");
    const status = document.querySelector("[data-preview-status]");
    const maxBody = parseInt(form.getAttribute("data-max-body") || "0", 10);
    const sizeWarning = form.querySelector("[data-size-warning]");
    if (!url || !body) { return; }
    let serial = 0;

    function payload() {
      const data = new FormData(form);
      const files = data.getAll("image");
      const alts = data.getAll("image_alt");
      data.delete("image");
      data.delete("image_alt");
      data.delete("action");
      files.forEach(function (file, i) {
        if (file && file.size) {
          data.append("pending_type", file.type || "image/jpeg");
          data.append("pending_size", String(file.size));
          data.append("pending_alt", alts[i] || "");
        }
      });
      return data;
    }

    function checkSizes() {
      if (!sizeWarning || !maxBody) { return; }
      let total = 0;
      form.querySelectorAll("input[type=file]").forEach(function (input) {
        Array.prototype.forEach.call(input.files || [], function (f) { total += f.size; });
      });
      if (total > maxBody * 0.95) {
        sizeWarning.hidden = false;
        sizeWarning.textContent = "These images add up to " + Math.round(total / 1024) +
          " KB; this hub accepts about " + Math.round(maxBody / 1024) + " KB per post. Choose smaller images.";
      } else {
        sizeWarning.hidden = true;
      }
    }

    function refresh() {
      const mine = ++serial;
      body.setAttribute("aria-busy", "true");
      fetch(url, {method: "POST", body: payload(), credentials: "same-origin",
                  headers: {"X-Requested-With": "fetch"}})
        .then(function (response) {
          if (response.status === 401) { throw new Error("Your session has ended: log in again."); }
          if (!response.ok && response.status !== 422) { throw new Error("The preview failed (" + response.status + "): reload the page."); }
          return response.text();
        })
        .then(function (html) {
          if (mine !== serial) { return; }
          body.innerHTML = html;   // server-rendered with autoescaping: nothing typed becomes markup
          const checks = body.querySelector("[data-checks]");
          const nearSend = form.querySelector("[data-send-check]");
          if (nearSend) { nearSend.replaceChildren(...(checks ? checks.cloneNode(true).childNodes : [])); }
          showCountersAndVariants(form, body);
          const summary = body.querySelector("[data-summary]");
          if (status && summary) { status.textContent = "Preview: " + summary.getAttribute("data-summary"); }
        })
        .catch(function (err) {
          if (mine !== serial) { return; }
          const p = document.createElement("p");
          p.className = "warning";
          p.textContent = err.message;
          body.replaceChildren(p);
        })
        .finally(function () { if (mine === serial) { body.removeAttribute("aria-busy"); } });
    }

    const later = debounce(refresh, 350);
    form.addEventListener("input", later);
    form.addEventListener("change", function () { checkSizes(); later(); });
    form.setAttribute("data-live-preview", "on");
    const hasDraft = form.querySelector("textarea[name=text]").value.trim() ||
                     form.querySelector("input[name=audiences]:checked");
    if (hasDraft) { refresh(); }
  }

  // -- compose: per-part counters (counted on the server, as each network counts) and the
  // variant field of a network the text is too long for
  function showCountersAndVariants(form, body) {
    const counters = body.querySelector("template[data-part-counters]");
    form.querySelectorAll("[data-part-counter]").forEach(function (slot) {
      const row = counters ? counters.content.querySelector(
        "[data-part='" + slot.getAttribute("data-part-counter") + "']") : null;
      slot.replaceChildren(...(row ? row.cloneNode(true).childNodes : []));
    });
    const holder = body.querySelector("[data-too-long]");
    const tooLong = holder ? holder.getAttribute("data-too-long").split(" ").filter(Boolean) : [];
    form.querySelectorAll("[data-too-long-note]").forEach(function (note) {
      note.hidden = tooLong.indexOf(note.getAttribute("data-too-long-note")) < 0;
    });
    const variants = form.querySelector("[data-variants]");
    if (variants && tooLong.length) { variants.open = true; }
  }

  function setUpThread(form) {
    const button = form.querySelector("[data-add-part]");
    if (!button) { return; }
    button.addEventListener("click", function (event) {
      const parts = form.querySelectorAll("[data-thread-part]");
      const last = parts[parts.length - 1];
      if (!last) { return; }
      event.preventDefault();
      const fresh = last.cloneNode(true);
      const n = parts.length + 2;   // part 1 is the text itself
      const label = fresh.querySelector("label");
      const area = fresh.querySelector("textarea");
      const counter = fresh.querySelector("[data-part-counter]");
      label.textContent = "Part " + n;
      label.setAttribute("for", "thread_part_" + n);
      area.id = "thread_part_" + n;
      area.value = "";
      area.setAttribute("aria-describedby", "part_counter_" + n);
      counter.id = "part_counter_" + n;
      counter.setAttribute("data-part-counter", String(n));
      counter.replaceChildren();
      last.after(fresh);
      area.focus();
    });
  }

  // -- posts: live delivery states ---------------------------------------------------------
  function watch(element) {
    const started = Date.now();
    function tick(el) {
      if (el.getAttribute("data-settled") === "true") { return; }
      const wait = Date.now() - started < 60000 ? 1000 : 10000;
      setTimeout(function () {
        fetch(el.getAttribute("data-live-url"), {credentials: "same-origin",
                                                 headers: {"X-Requested-With": "fetch"}})
          .then(function (response) {
            if (!response.ok) { throw new Error(String(response.status)); }
            return response.text();
          })
          .then(function (html) {
            const holder = document.createElement("div");
            holder.innerHTML = html;   // server-rendered with autoescaping
            const fresh = holder.querySelector("[data-live-url]");
            if (!fresh) { return; }
            if (el.contains(document.activeElement)) {   // do not pull the rug from under focus
              tick(el);
              return;
            }
            el.replaceWith(fresh);
            announce(el, fresh);
            tick(fresh);
          })
          .catch(function () { setTimeout(function () { tick(el); }, 5000); });
      }, wait);
    }
    tick(element);
  }

  // Tell screen readers what changed (the panel itself is replaced, so it cannot announce).
  function announce(before, after) {
    const region = document.querySelector("[data-announce]");
    if (!region) { return; }
    const changes = [];
    after.querySelectorAll("li.delivery").forEach(function (item) {
      const target = item.getAttribute("data-target");
      const old = before.querySelector("li.delivery[data-target='" + CSS.escape(target) + "']");
      const status = item.getAttribute("data-status");
      if (!old || old.getAttribute("data-status") !== status) {
        const word = item.querySelector(".badge");
        changes.push(target + ": " + (word ? word.textContent : status));
      }
    });
    if (changes.length) { region.textContent = changes.join(", "); }
  }

  // -- small things ------------------------------------------------------------------------
  function setUpCopy(button) {
    button.addEventListener("click", function () {
      const source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent).then(function () {
        const before = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = before; }, 1500);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setTimeZone();
    const form = document.getElementById("compose");
    if (form) { setUpPreview(form); setUpThread(form); }
    document.querySelectorAll("[data-live-url]").forEach(watch);
    document.querySelectorAll("[data-copy]").forEach(setUpCopy);
    document.querySelectorAll("[data-back]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (history.length > 1) { event.preventDefault(); history.back(); }
      });
    });
  });
})();
