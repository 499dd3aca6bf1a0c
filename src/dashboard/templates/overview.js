// Refreshes the overview's live part from /ui/overview.json every 10 seconds while the tab is
// visible; a failed poll keeps what is shown. The HTML comes rendered (and escaped) by the server.
(function () {
  var live = document.getElementById("live");
  if (!live) return;
  function refresh() {
    if (document.hidden) return;
    var typing = document.activeElement && document.activeElement.name === "reason" && document.activeElement.value;
    if (typing) return;
    fetch(live.dataset.src, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j && j.html) { live.innerHTML = j.html; live.dataset.refreshed = String(j.overview.generated_ms); } })
      .catch(function () {});
  }
  setInterval(refresh, 10000);
})();
