// The board's own script: CSRF header for htmx requests, and live activity over server-sent events.
// Event text is always set with textContent: whatever a title or model output holds, it stays text.
(function () {
  "use strict";
  const csrf = document.body.dataset.csrf || "";
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (csrf) { event.detail.headers["X-CSRF-Token"] = csrf; }
  });

  // A card's "Move…" link brings its move form into the card (one listener for every card).
  document.addEventListener("click", function (event) {
    const link = event.target.closest ? event.target.closest("a.move-open") : null;
    if (!link || !window.htmx) { return; }
    event.preventDefault();
    const card = link.closest("li");
    const form = link.getAttribute("href").split("#")[0] + "/move-form";
    window.htmx.ajax("GET", form, { target: card, swap: "beforeend" }).then(function () {
      link.remove();
      const select = card.querySelector("select");
      if (select) { select.focus(); }
    });
  });

  function line(event) {
    const item = document.createElement("li");
    const when = document.createElement("time");
    when.textContent = (event.occurred_at || "").replace("T", " ").replace("Z", "") + " ";
    const subject = document.createElement("span");
    subject.className = "subject";
    subject.textContent = event.subject + " ";
    const summary = document.createElement("span");
    summary.textContent = event.summary || "";
    item.append(when, subject, summary);
    return item;
  }

  // The board itself is not redrawn under the reader's eyes: it says how many stories changed since.
  const changed = document.getElementById("board-changed");
  if (changed && window.EventSource) {
    let changes = 0;
    const watch = new EventSource("/activity/stream");
    watch.addEventListener("fleet", function (message) {
      const event = JSON.parse(message.data);
      if (!/^planning\.(story|epic|project)\./.test(event.subject)) { return; }
      changes += 1;
      changed.querySelector("span").textContent =
        changes === 1 ? "1 change since this page was shown." : changes + " changes since this page was shown.";
      changed.querySelector("a").href = window.location.pathname + window.location.search;
      changed.hidden = false;
    });
    watch.addEventListener("open", function () { changed.dataset.connected = "true"; });
  }

  const feed = document.getElementById("feed");
  if (!feed || !window.EventSource) { return; }
  const story = feed.dataset.story || "";
  const url = "/activity/stream" + (story ? "?story=" + encodeURIComponent(story) : "");
  const source = new EventSource(url);
  const progress = document.getElementById("council-progress");
  let refreshTimer = null;

  source.addEventListener("fleet", function (message) {
    const event = JSON.parse(message.data);
    feed.prepend(line(event));
    while (feed.children.length > 200) { feed.lastElementChild.remove(); }
    if (progress && event.progress) { progress.textContent = event.progress; }
    if (event.refresh && window.htmx) {
      // Several events often arrive together: refresh the councils once for the burst.
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(function () {
        const councils = document.getElementById("councils");
        if (councils) { window.htmx.trigger(councils, "fleet:refresh"); }
      }, 150);
    }
    document.dispatchEvent(new CustomEvent("fleet:event", { detail: event }));
  });
  // A refresh the API refused (its rate limit, a restart) is tried again shortly: otherwise the last
  // event of a council could leave the page showing the refusal instead of the winner.
  document.body.addEventListener("htmx:afterSwap", function (swapped) {
    const councils = document.getElementById("councils");
    if (councils && swapped.target === councils && councils.querySelector(":scope > p.error")) {
      setTimeout(function () { window.htmx.trigger(councils, "fleet:refresh"); }, 2000);
    }
  });
  source.addEventListener("open", function () {
    feed.dataset.connected = "true";
    // What happened between the page's render and this (re)connection is not replayed: read it once.
    const councils = document.getElementById("councils");
    if (councils && window.htmx) { window.htmx.trigger(councils, "fleet:refresh"); }
  });
})();
