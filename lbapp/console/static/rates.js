// LB page: each backend's requests/s, from the console's live samples.
(function () {
  const lb = document.currentScript.dataset.lb;
  const source = new EventSource("/events");
  source.onmessage = (event) => {
    const point = JSON.parse(event.data);
    const backends = (point.backends || {})[lb] || {};
    for (const cell of document.querySelectorAll("td[data-rate]")) {
      const v = backends[cell.dataset.rate];
      cell.textContent = v ? `${v.rps} (${v.errors} err)` : "–";
    }
  };
})();
