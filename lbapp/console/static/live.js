// Live view: one uPlot chart per LB server series and per backend series, fed by the
// console's server-sent events (one point a second), plus the lab's announcement/VIP status.
(function () {
  const keep = 120;
  const charts = {};

  function seriesOf(point) {
    const lbs = {}, backends = {};
    for (const [lb, nodes] of Object.entries(point.lbs || {}))
      for (const [node, v] of Object.entries(nodes)) {
        lbs[`${lb}/${node} req/s`] = v.rps; lbs[`${lb}/${node} err/s`] = v.errors;
      }
    for (const [lb, bes] of Object.entries(point.backends || {}))
      for (const [be, v] of Object.entries(bes)) {
        backends[`${lb}/${be} req/s`] = v.rps; backends[`${lb}/${be} err/s`] = v.errors;
      }
    return {lbs, backends};
  }

  function makeChart(id, names) {
    const el = document.getElementById(id);
    el.innerHTML = "";
    const colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2"];
    const series = [{}].concat(names.map((n, i) => ({
      label: n, stroke: colors[i % colors.length], width: 1.5, dash: n.endsWith("err/s") ? [4, 3] : undefined})));
    const plot = new uPlot({width: Math.max(400, el.clientWidth || 800), height: 240, series,
                            axes: [{}, {label: "per second"}]},
                           [[], ...names.map(() => [])], el);
    return {plot, names, data: [[], ...names.map(() => [])]};
  }

  function add(id, t, values) {
    const names = Object.keys(values).sort();
    let c = charts[id];
    if (!c || c.names.join() !== names.join()) {
      const old = c;
      c = charts[id] = makeChart(id, names);
      if (old) {  // carry the history of series that still exist
        c.data[0] = old.data[0].slice();
        names.forEach((n, i) => {
          const j = old.names.indexOf(n);
          c.data[i + 1] = j >= 0 ? old.data[j + 1].slice() : old.data[0].map(() => null);
        });
      }
    }
    c.data[0].push(t);
    c.names.forEach((n, i) => c.data[i + 1].push(values[n] ?? null));
    if (c.data[0].length > keep) c.data = c.data.map(a => a.slice(-keep));
    c.plot.setData(c.data);
  }

  const counter = document.getElementById("points");
  const rows = {};
  function rowFor(node) {
    if (!rows[node]) {
      const tr = document.createElement("tr");
      tr.dataset.node = node;
      tr.innerHTML = "<td></td><td class='announced'>absent</td><td class='rps'></td><td class='errors'></td>";
      tr.cells[0].textContent = node;
      document.getElementById("lab-status").appendChild(tr);
      rows[node] = tr;
    }
    return rows[node];
  }

  const source = new EventSource("/events");
  source.onmessage = (event) => {
    const point = JSON.parse(event.data);
    const {lbs, backends} = seriesOf(point);
    add("chart-lbs", point.t, lbs);
    add("chart-backends", point.t, backends);
    const n = Number(counter.dataset.count) + 1;
    counter.dataset.count = n;
    counter.textContent = `${n} points`;
    for (const nodes of Object.values(point.lbs || {}))
      for (const [node, v] of Object.entries(nodes)) {
        const tr = rowFor(node);
        tr.querySelector(".rps").textContent = v.up ? (v.rps ?? "…") : "down";
        tr.querySelector(".errors").textContent = v.up ? (v.errors ?? "…") : "";
      }
  };

  async function labStatus() {
    try {
      const status = await (await fetch("/api/status")).json();
      const announcements = status.announcements || {};
      const words = {true: "yes", false: "no"};
      for (const [node, a] of Object.entries(announcements))
        rowFor(node).querySelector(".announced").textContent = words[a && a.announced] || "unknown";
      for (const [node, tr] of Object.entries(rows))  // a report gone: its node's lease expired
        if (!(node in announcements)) tr.querySelector(".announced").textContent = "absent";
      const vip = status.dns_vip;
      document.getElementById("vip-holder").textContent =
        vip ? `${vip.holder || "nobody"} (${vip.address || "?"})` : "absent";
    } catch (e) { /* the next poll tries again */ }
  }
  labStatus();
  setInterval(labStatus, 1000);
})();
