// One load balancer as a picture: clients → VIP (listeners) → pools → members, with the addresses each
// hop carries and where the replies go. Pure drawing: drawTopology(svg, model, options) replaces the
// SVG's content from a plain model (see dashboard.js `topologyModel`); no API calls here.
//
// The data-plane mode is a parameter. Only one-arm exists today; the others describe what the members
// would see once routed and transparent modes exist, so adding one is a table entry, not a new drawing.

const SVG_NS = "http://www.w3.org/2000/svg";

export const STATUS_COLOURS = {
  ONLINE: "#2e9d46",
  DEGRADED: "#e39a1c",
  ERROR: "#d32f2f",
  OFFLINE: "#d32f2f",
  NO_MONITOR: "#8d949b",
  DRAINING: "#4f7fd1",
};
const UNKNOWN_COLOUR = "#b8bec4";

export function statusColour(status) {
  return STATUS_COLOURS[status] || UNKNOWN_COLOUR;
}

// What a member sees as the source of a request, and where its reply goes, per data-plane mode.
export const MODES = {
  "one-arm": {
    label: "one-arm",
    memberSource: (m) => m.vip, // HAProxy opens backend connections from the LB's own (VIP) address
    forwardNote: "HAProxy connects from the VIP; X-Forwarded-For carries the client",
    replyNote: (m) => `replies go to ${m.vip} (the LB), which answers the client`,
  },
  routed: {
    label: "routed",
    memberSource: (m) => m.memberSideAddress || "LB address on the member subnet",
    forwardNote: "the LB connects from its address on the member subnet",
    replyNote: () => "replies go back to the LB's member-side address",
  },
  transparent: {
    label: "transparent",
    memberSource: () => "client address",
    forwardNote: "the LB keeps the client's source address",
    replyNote: () => "replies must route through the LB (members' gateway)",
  },
};

function el(name, attrs, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function clip(text, n) {
  const s = String(text ?? "");
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

function fmtRate(rate) {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return "–";
  return rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
}

function arrow(g, x1, y1, x2, y2, cls) {
  const midX = (x1 + x2) / 2;
  g.appendChild(el("path", {
    d: `M${x1},${y1} C${midX},${y1} ${midX},${y2} ${x2},${y2}`,
    class: cls, "marker-end": cls.includes("reply") ? "url(#arrow-reply)" : "url(#arrow)",
    fill: "none",
  }));
}

// model: {lb: {id, name, vip, operating_status, provisioning_status},
//         listeners: [{id, name, protocol, port, operating_status, rate, pools: [pool ids]}],
//         pools: [{id, name, protocol, algorithm, operating_status, members: [
//                   {id, name, address, port, operating_status, rate, rateUnit}]}],
//         memberRates: bool (per-member rates measured)}
export function drawTopology(svg, model, options = {}) {
  const mode = MODES[options.mode || "one-arm"] || MODES["one-arm"];
  const W = 1100;
  const colClient = 20, colListener = 250, colPool = 500, colMember = 770;
  const boxW = { client: 150, listener: 200, pool: 200, member: 300 };
  const memberH = 62, memberGap = 12, poolGap = 26, top = 96;

  while (svg.firstChild) svg.removeChild(svg.firstChild);

  const defs = el("defs");
  for (const [id, cls] of [["arrow", "arrowhead"], ["arrow-reply", "arrowhead reply"]]) {
    const marker = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
    defs.appendChild(marker);
  }
  svg.appendChild(defs);

  // Vertical layout: members stacked by pool; each pool centred on its members; listeners spread evenly.
  const pools = model.pools;
  let y = top;
  const poolY = new Map();
  const memberY = new Map();
  for (const pool of pools) {
    const n = Math.max(pool.members.length, 1);
    const blockH = n * memberH + (n - 1) * memberGap;
    pool.members.forEach((m, i) => memberY.set(pool.id + "/" + m.id, y + i * (memberH + memberGap)));
    poolY.set(pool.id, y + blockH / 2 - 32);
    y += blockH + poolGap;
  }
  const listenerH = 64;
  const contentBottom = Math.max(y - poolGap, top + Math.max(model.listeners.length, 1) * (listenerH + 16));
  const listenerSpan = contentBottom - top;
  const listenerY = new Map();
  model.listeners.forEach((li, i) => {
    const slot = listenerSpan / Math.max(model.listeners.length, 1);
    listenerY.set(li.id, top + i * slot + Math.max(0, (slot - listenerH) / 2));
  });
  const H = contentBottom + 96;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("data-mode", mode.label);

  // Title and legend.
  const lb = model.lb;
  svg.appendChild(el("text", { x: 20, y: 26, class: "title" },
    `${clip(lb.name || lb.id, 40)} — VIP ${lb.vip} — ${mode.label} mode`));
  svg.appendChild(el("text", { x: 20, y: 46, class: "note" },
    `→ ${mode.forwardNote}.  ⇠ ${mode.replyNote(lb)}.`));

  // The load balancer's boundary: listeners and pools live inside it.
  const lbBox = el("g", { class: "lb", "data-lb-id": lb.id, "data-status": lb.operating_status });
  lbBox.appendChild(el("rect", { x: colListener - 20, y: top - 34, width: colPool + boxW.pool - colListener + 40,
    height: contentBottom - top + 52, rx: 14, class: "lb-box", stroke: statusColour(lb.operating_status) }));
  lbBox.appendChild(el("text", { x: colListener - 8, y: top - 14, class: "lb-label" },
    `load balancer · VIP ${lb.vip} · ${lb.operating_status} / ${lb.provisioning_status}`));
  svg.appendChild(lbBox);

  // Clients.
  const clientY = top + listenerSpan / 2 - 30;
  const clients = el("g", { class: "clients" });
  clients.appendChild(el("rect", { x: colClient, y: clientY, width: boxW.client, height: 60, rx: 30, class: "client-box" }));
  clients.appendChild(el("text", { x: colClient + boxW.client / 2, y: clientY + 26, class: "centre strong" }, "clients"));
  clients.appendChild(el("text", { x: colClient + boxW.client / 2, y: clientY + 44, class: "centre small" }, `dst ${lb.vip}`));
  svg.appendChild(clients);

  const edges = el("g", { class: "edges" });
  svg.insertBefore(edges, lbBox.nextSibling);

  // Listeners.
  for (const li of model.listeners) {
    const ly = listenerY.get(li.id);
    const g = el("g", { class: "listener", "data-listener-id": li.id, "data-status": li.operating_status });
    g.appendChild(el("rect", { x: colListener, y: ly, width: boxW.listener, height: listenerH, rx: 8,
      class: "box", fill: statusColour(li.operating_status) }));
    g.appendChild(el("text", { x: colListener + 10, y: ly + 20, class: "strong on-colour" },
      `${li.protocol} :${li.port}`));
    g.appendChild(el("text", { x: colListener + 10, y: ly + 38, class: "small on-colour" }, clip(li.name || li.id, 28)));
    g.appendChild(el("text", { x: colListener + 10, y: ly + 55, class: "small on-colour rate", "data-rate": li.rate ?? "" },
      `${li.operating_status} · ${fmtRate(li.rate)} conn/s`));
    svg.appendChild(g);
    arrow(edges, colClient + boxW.client, clientY + 24, colListener, ly + listenerH / 2 - 6, "edge");
    arrow(edges, colListener, ly + listenerH / 2 + 6, colClient + boxW.client, clientY + 36, "edge reply");
    for (const pid of li.pools) {
      if (poolY.has(pid)) arrow(edges, colListener + boxW.listener, ly + listenerH / 2, colPool, poolY.get(pid) + 32, "edge");
    }
  }

  // Pools and members.
  for (const pool of pools) {
    const py = poolY.get(pool.id);
    const g = el("g", { class: "pool", "data-pool-id": pool.id, "data-status": pool.operating_status });
    g.appendChild(el("rect", { x: colPool, y: py, width: boxW.pool, height: 64, rx: 8, class: "box",
      fill: statusColour(pool.operating_status) }));
    g.appendChild(el("text", { x: colPool + 10, y: py + 20, class: "strong on-colour" }, clip(pool.name || "pool", 24)));
    g.appendChild(el("text", { x: colPool + 10, y: py + 38, class: "small on-colour" },
      `${pool.protocol || ""} ${pool.algorithm || ""}`.trim()));
    g.appendChild(el("text", { x: colPool + 10, y: py + 55, class: "small on-colour" }, pool.operating_status));
    svg.appendChild(g);
    if (pool.members.length === 0) {
      svg.appendChild(el("text", { x: colMember, y: py + 36, class: "note" }, "no members"));
    }
    for (const m of pool.members) {
      const my = memberY.get(pool.id + "/" + m.id);
      const mg = el("g", { class: "member", "data-member-id": m.id, "data-pool-id": pool.id, "data-status": m.operating_status });
      const fill = statusColour(m.operating_status);
      mg.appendChild(el("rect", { x: colMember, y: my, width: boxW.member, height: memberH, rx: 8, class: "box member-box", fill }));
      mg.appendChild(el("text", { x: colMember + 10, y: my + 18, class: "strong on-colour" },
        `${clip(m.name || "member", 22)}  ${m.address}:${m.port}`));
      mg.appendChild(el("text", { x: colMember + 10, y: my + 36, class: "small on-colour" },
        `sees src ${mode.memberSource(lb)} · XFF client`));
      const rateText = model.memberRates ? `${fmtRate(m.rate)} ${m.rateUnit || "req/s"}` : "rate: n/a";
      mg.appendChild(el("text", { x: colMember + 10, y: my + 53, class: "small on-colour rate", "data-rate": m.rate ?? "" },
        `${m.operating_status} · ${rateText}`));
      svg.appendChild(mg);
      arrow(edges, colPool + boxW.pool, py + 26, colMember, my + memberH / 2 - 6, "edge");
      arrow(edges, colMember, my + memberH / 2 + 6, colPool + boxW.pool, py + 40, "edge reply");
    }
  }

  // Legend.
  const legend = el("g", { class: "legend" });
  let lx = 20;
  const ly = H - 30;
  for (const status of ["ONLINE", "DEGRADED", "ERROR", "OFFLINE", "NO_MONITOR", "DRAINING"]) {
    legend.appendChild(el("rect", { x: lx, y: ly - 11, width: 14, height: 14, rx: 3, fill: statusColour(status) }));
    legend.appendChild(el("text", { x: lx + 20, y: ly, class: "small" }, status));
    lx += 24 + status.length * 8 + 14;
  }
  legend.appendChild(el("path", { d: `M${lx + 10},${ly - 4} L${lx + 50},${ly - 4}`, class: "edge", "marker-end": "url(#arrow)" }));
  legend.appendChild(el("text", { x: lx + 58, y: ly, class: "small" }, "request"));
  lx += 130;
  legend.appendChild(el("path", { d: `M${lx + 10},${ly - 4} L${lx + 50},${ly - 4}`, class: "edge reply", "marker-end": "url(#arrow-reply)" }));
  legend.appendChild(el("text", { x: lx + 58, y: ly, class: "small" }, "reply"));
  svg.appendChild(legend);
}
