// Dendrite Lab's page script (sent inline by app/assets.py; runs once the document is ready).
// Panel and Bokeh draw their controls inside shadow roots, many without an accessible name; this
// names them from the text a sighted user reads beside them, gives each plot's canvas its title
// as a text alternative, and folds the settings away on narrow screens so Play stays in view.
(function () {
  if (window.__dendriteLab) return;
  window.__dendriteLab = true;
  var NARROW = "(max-width: 768px)";

  function roots(start) {
    var out = [start];
    for (var i = 0; i < out.length; i++) {
      var all = out[i].querySelectorAll("*");
      for (var j = 0; j < all.length; j++) if (all[j].shadowRoot) out.push(all[j].shadowRoot);
    }
    return out;
  }
  function clean(text) {
    return (text || "").replace(/\s+/g, " ").replace(/[:\s]+$/, "").trim();
  }
  // the text label of the widget a control belongs to: Panel puts it in the same shadow root, or
  // (an editable slider's number box) in a static text beside it, a few shadow roots up
  var LABELS = ".bk-slider-title, label, .bk-Div";
  function labelIn(root) {
    var found = root.querySelectorAll(LABELS);
    for (var i = 0; i < found.length; i++) {
      var el = found[i];
      var text = clean(el.shadowRoot ? el.shadowRoot.textContent : el.textContent);
      if (text) return text;
    }
    return "";
  }
  function widgetLabel(root) {
    for (var depth = 0; root && depth < 4; depth++) {
      var text = labelIn(root);
      if (text) return text;
      root = root.host ? root.host.getRootNode() : null;
    }
    return "";
  }
  function name(el, text) {
    if (text && !el.getAttribute("aria-label")) el.setAttribute("aria-label", text);
  }
  function fixControls(root) {
    var label = null;
    root.querySelectorAll(".noUi-handle").forEach(function (h) {
      name(h, label || (label = widgetLabel(root)) || "slider");
    });
    root.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (el.type === "hidden") return;
      // Bokeh gives some boxes an empty <label>: that names nothing
      if (el.labels && Array.prototype.some.call(el.labels, function (l) { return clean(l.textContent); })) return;
      name(el, el.title || label || (label = widgetLabel(root)));
    });
    root.querySelectorAll("button, [role=button]").forEach(function (b) {
      if (clean(b.textContent) || b.getAttribute("aria-label")) return;
      var cls = b.className || "";
      var what = b.title || (/up/.test(cls) ? "increase" : /down/.test(cls) ? "decrease" : "");
      if (!what && b.closest(".card-header, .bk-card-header, .card-button")) what = "fold or unfold";
      var lbl = label || (label = widgetLabel(root));
      name(b, clean((what || "button") + (lbl ? " " + lbl : "")));
    });
  }
  function fixPlots() {
    if (!window.Bokeh || !Bokeh.index || !Bokeh.index.all_views) return;
    for (var v of Bokeh.index.all_views()) {
      var m = v.model, cv = v.canvas_view;
      if (!cv || !m || !m.title) continue;
      var title = (m.title.text || "").trim() || "plot";
      var el = cv.el;
      if (el.getAttribute("aria-label") !== "Plot: " + title) {
        el.setAttribute("role", "img");
        el.setAttribute("aria-label", "Plot: " + title);
      }
    }
  }
  // Bokeh's tabs are plain divs: give them the roles of a tab list, and the keyboard
  function fixTabs(root) {
    root.querySelectorAll(".bk-tab").forEach(function (tab) {
      var list = tab.parentElement;       // the tab list is the tabs' own parent, not Bokeh's header
      if (list && list.getAttribute("role") !== "tablist") list.setAttribute("role", "tablist");
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-selected", tab.classList.contains("bk-active") ? "true" : "false");
      if (!tab.hasAttribute("tabindex")) {
        tab.setAttribute("tabindex", "0");
        tab.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); tab.click(); }
        });
        // a tab's contents arrive from the server a moment after the click: name them as they come
        tab.addEventListener("click", function () { [50, 400, 1000].forEach(function (ms) { setTimeout(fixAll, ms); }); });
      }
    });
  }
  function fixSidebarButton() {
    var b = document.getElementById("sidebar-button");
    if (!b || b.getAttribute("role")) return;
    b.setAttribute("role", "button");
    b.setAttribute("tabindex", "0");
    b.setAttribute("aria-label", "Show or hide the settings");
    b.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); b.click(); }
    });
  }
  // the template's landmarks: one main region, one top-level heading, no list without items
  function fixTemplate() {
    var main = document.getElementById("main");
    if (main && !main.getAttribute("role")) main.setAttribute("role", "main");
    // the heading role on the title's box: a link (the title itself) may not be a heading
    var titleBox = document.querySelector("#header .app-header");
    if (titleBox && !titleBox.getAttribute("role")) { titleBox.setAttribute("role", "heading"); titleBox.setAttribute("aria-level", "1"); }
    // the settings are a landmark of their own, so that no control lies outside one
    var sidebar = document.getElementById("sidebar");
    if (sidebar && !sidebar.getAttribute("role")) { sidebar.setAttribute("role", "region"); sidebar.setAttribute("aria-label", "Settings"); }
    document.querySelectorAll("#sidebar > ul, #right-sidebar > ul").forEach(function (ul) {
      ul.setAttribute("role", "none");
    });
  }
  // The grid's three rows share the height left below whatever stands above them (a ghost's status
  // line, an alert, a card): with a fixed allowance the bottom row fell off a projector's screen.
  // static/cells.css reads the grid's top from --dl-grid-top.
  var gridTop = null;
  function fitGrid(all) {
    for (var i = 0; i < all.length; i++) {
      var cell = all[i].querySelector(".dl-cell");
      if (!cell) continue;
      var top = Math.round(cell.getBoundingClientRect().top + window.scrollY);
      if (top > 0 && top !== gridTop) {
        gridTop = top;
        document.documentElement.style.setProperty("--dl-grid-top", top + "px");
      }
      return;
    }
  }
  // The connection to the server: a phone that slept or a school network that dropped closes the
  // websocket. Bokeh then joins the same session again (at once, then after 2, 4, 8 and 16 s) and
  // redraws the page from it; meanwhile the page says so, and it says what to do when Bokeh gives up.
  var lost = null;
  function lostBanner(text, reload) {
    if (!lost) {
      lost = document.createElement("div");
      lost.id = "dl-connection";
      lost.setAttribute("role", "alert");
      document.body.appendChild(lost);
    }
    lost.textContent = text;
    if (reload) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = "Reload the page";
      b.addEventListener("click", function () { window.location.reload(); });
      lost.appendChild(b);
      b.focus();
    }
    lost.hidden = false;
  }
  // Bokeh tells the server of every change the browser makes to a model, the ranges and plot sizes
  // the browser computes for itself included: about 17 messages a second from a training page, each
  // decoded and applied by the server's one event loop, which never reads them. And a range whose
  // computed ends the server held came back fixed when a reconnected page was redrawn from the server's
  // copy, so its curves ran off the plot. These changes stay in the browser.
  var LOCAL = {start: "DataRange1d", end: "DataRange1d", inner_width: "*", inner_height: "*",
               outer_width: "*", outer_height: "*"};
  function local(ev) {
    var kind = ev && ev.model && LOCAL.hasOwnProperty(ev.attr) ? LOCAL[ev.attr] : null;
    return ev.kind === "ModelChanged" && kind !== null && (kind === "*" || ev.model.constructor.__name__ === kind);
  }
  function keepLocal(doc) {
    var trigger = doc._trigger_on_change;
    if (doc.__dlLocal || typeof trigger !== "function") return;
    doc.__dlLocal = true;
    doc._trigger_on_change = function (event) {
      var events = event && event.events ? event.events : [event];
      for (var i = 0; i < events.length; i++) if (local(events[i])) events[i].sync = false;
      return trigger.apply(this, arguments);
    };
  }
  // the session had ended while the page was away, and the server sent one line (app/limits.py): load
  // the link again (checked at each pass too: the line may come after Bokeh says it has reconnected)
  var reloading = false;
  function reloadIfEnded() {
    if (reloading) return;
    var docs = (window.Bokeh && window.Bokeh.documents) || [];
    for (var i = 0; i < docs.length; i++) {
      for (var m of docs[i]._all_models.values()) {
        if (m.css_classes && m.css_classes.indexOf("dl-session-ended") >= 0) {
          reloading = true;
          window.location.reload();
          return;
        }
      }
    }
  }
  function watchConnection() {
    var docs = (window.Bokeh && window.Bokeh.documents) || [];
    docs.forEach(function (doc) {
      keepLocal(doc);
      if (doc.__dlConnection || typeof doc.on_event !== "function") return;
      doc.__dlConnection = true;
      doc.on_event("connection_lost", function (_, ev) {
        // Bokeh keeps what it had read of a message the dropped socket cut in half and reads the new
        // socket's first message as its rest, so every attempt failed ("First message was not an
        // ACK") and the page stayed frozen: each attempt starts with an empty reader
        var conn = ev.connection && ev.connection.deref ? ev.connection.deref() : null;
        if (conn && conn._receiver && typeof conn._receiver.constructor === "function") {
          conn._receiver = new conn._receiver.constructor();
        }
        if (ev.timeout != null) {
          lostBanner("The connection to the server was lost (a screen that slept, or the network). " +
                     "Trying again" + (ev.timeout > 0 ? " in " + Math.round(ev.timeout / 1000) + " s" : "") + "\u2026", false);
        } else {
          lostBanner("The connection to the server is lost. Reload the page to start again: the address " +
                     "bar holds your settings. ", true);
        }
      });
      doc.on_event("client_reconnected", function () { if (lost) lost.hidden = true; reloadIfEnded(); });
    });
  }
  function fixAll() {
    try {
      fixTemplate();
      fixSidebarButton();
      var all = roots(document);
      all.forEach(function (r) { fixControls(r); fixTabs(r); });
      fitGrid(all);
      fixPlots();
      if (lost) reloadIfEnded();
    } catch (err) { console.warn("Dendrite Lab page script:", err); }
  }
  if (window.matchMedia && window.matchMedia(NARROW).matches && typeof closeNav === "function") closeNav();
  watchConnection();
  fixAll();
  // plots and tabs arrive after the page: name what came new (a walk costs ~1 ms)
  setInterval(fixAll, 1500);
})();
