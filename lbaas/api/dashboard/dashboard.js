// lbaas dashboard: polls the public API as the caller (X-Auth-Token from the login box) once a second.
// Everything shown comes from API answers for that caller; nothing is cached across callers. Text from
// the API is put into the page as text nodes only (never parsed as markup), so a hostile name stays a name.

import { drawTopology, statusColour } from "./topology.js";

const TOKEN_KEY = "lbaas.dashboard.token";
const POLL_MS = 1000;
const LOG_TAIL = 30;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  selected: null, // load balancer id shown in detail
  samples: new Map(), // object id → {t, total} for rates
  memberStats: "unknown", // "unknown" | "yes" | "no"
  timer: null,
  polling: false,
};

const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

const PROVISIONING_COLOURS = { ACTIVE: "#2e9d46", ERROR: "#d32f2f", DELETED: "#8d949b" };

function badge(status) {
  const node = h("span", { class: "badge", "data-status": status || "" }, status || "?");
  const pending = status && status.startsWith("PENDING_");
  node.style.background = pending ? "#4f7fd1" : PROVISIONING_COLOURS[status] || statusColour(status); // CSSOM, not a style attribute: the CSP allows no inline styles
  return node;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const headers = { Accept: "application/json" };
  if (state.token) headers["X-Auth-Token"] = state.token;
  const r = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
  if (!r.ok) {
    let msg = `${r.status}`;
    try {
      const body = await r.json();
      msg = body.faultstring || body.detail || (body.error && body.error.message) || msg;
    } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  return r.json();
}

async function optional(path) {
  // An endpoint the caller may not read (401/403) or that this server lacks (404/501): null.
  try {
    return await api(path);
  } catch (e) {
    if (e instanceof ApiError && [401, 403, 404, 405, 501].includes(e.status)) return null;
    throw e;
  }
}

function rate(id, total, now) {
  if (total === undefined || total === null) return null;
  const prev = state.samples.get(id);
  state.samples.set(id, { t: now, total });
  if (!prev || now <= prev.t || total < prev.total) return null;
  return (total - prev.total) / ((now - prev.t) / 1000);
}

// ------------------------------------------------------------------------------------ login

function renderAuth() {
  $("token").value = "";
  $("auth-state").textContent = state.token ? "signed in with a token" : "no token (fine when the API runs without authentication)";
  $("logout").hidden = !state.token;
}

function setupLogin() {
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token").value.trim();
    state.token = value;
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
    state.samples.clear();
    state.memberStats = "unknown";
    renderAuth();
    pollNow();
  });
  $("logout").addEventListener("click", () => {
    state.token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    state.samples.clear();
    state.memberStats = "unknown";
    renderAuth();
    pollNow();
  });
  renderAuth();
}

// ------------------------------------------------------------------------------------ list

function renderList(lbs) {
  const body = $("lb-rows");
  const rows = lbs.map((lb) => h("tr", { dataset: { lbId: lb.id }, class: lb.id === state.selected ? "selected" : "" },
    h("td", {}, h("a", { href: `#/lb/${encodeURIComponent(lb.id)}` }, lb.name || lb.id)),
    h("td", { class: "mono" }, lb.vip_address || ""),
    h("td", { class: "prov" }, badge(lb.provisioning_status)),
    h("td", { class: "oper" }, badge(lb.operating_status)),
    h("td", {}, String((lb.listeners || []).length)),
    h("td", {}, String((lb.pools || []).length)),
    h("td", { class: "mono small" }, lb.project_id || ""),
  ));
  body.replaceChildren(...rows);
  $("lb-empty").hidden = lbs.length > 0;
}

// ------------------------------------------------------------------------------------ detail

function topologyModel(lb, tree, listeners, pools, listenerStats, memberStats, now) {
  const listenerById = new Map(listeners.map((l) => [l.id, l]));
  const poolById = new Map(pools.map((p) => [p.id, p]));
  const poolsOut = new Map();
  const listenersOut = [];
  for (const lt of tree.listeners || []) {
    const li = listenerById.get(lt.id) || {};
    const stats = listenerStats.get(lt.id);
    listenersOut.push({
      id: lt.id, name: lt.name, protocol: li.protocol || "", port: li.protocol_port ?? "",
      operating_status: lt.operating_status,
      rate: stats ? rate(lt.id, stats.total_connections, now) : null,
      pools: (lt.pools || []).map((p) => p.id),
    });
    for (const pt of lt.pools || []) {
      if (poolsOut.has(pt.id)) continue;
      const p = poolById.get(pt.id) || {};
      const unit = ["HTTP", "HTTPS", "TERMINATED_HTTPS"].includes(p.protocol) ? "req/s" : "conn/s";
      poolsOut.set(pt.id, {
        id: pt.id, name: pt.name, protocol: p.protocol, algorithm: p.lb_algorithm, operating_status: pt.operating_status,
        members: (pt.members || []).map((m) => {
          const ms = memberStats ? memberStats.get(m.id) : null;
          return {
            id: m.id, name: m.name, address: m.address, port: m.protocol_port, operating_status: m.operating_status,
            rate: ms ? rate(`member/${m.id}`, ms.total_connections, now) : null, rateUnit: unit,
          };
        }),
      });
    }
  }
  return {
    lb: { id: lb.id, name: lb.name, vip: lb.vip_address, operating_status: lb.operating_status,
          provisioning_status: lb.provisioning_status },
    listeners: listenersOut,
    pools: [...poolsOut.values()],
    memberRates: Boolean(memberStats),
  };
}

function lbMode(_lb) {
  // Every load balancer is one-arm today; routed and transparent modes will name themselves here.
  return "one-arm";
}

async function pollDetail(id, now) {
  const enc = encodeURIComponent(id);
  let lb;
  try {
    lb = (await api(`/v2/lbaas/loadbalancers/${enc}`)).loadbalancer;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) {
      $("detail-title").textContent = "Load balancer not found";
      $("detail-body").hidden = true;
      $("detail-missing").hidden = false;
      return;
    }
    throw e;
  }
  const q = `loadbalancer_id=${enc}`;
  const [tree, listeners, pools, memberStatsBody, logs, amphorae] = await Promise.all([
    api(`/v2/lbaas/loadbalancers/${enc}/status`),
    api(`/v2/lbaas/listeners?${q}`),
    api(`/v2/lbaas/pools?${q}`),
    state.memberStats === "no" ? Promise.resolve(null) : optional(`/v2/octavia/loadbalancers/${enc}/member_stats`),
    optional(`/v2/octavia/loadbalancers/${enc}/logs?tail=${LOG_TAIL}`),
    optional(`/v2/octavia/amphorae?${q}`),
  ]);
  if (state.memberStats === "unknown") state.memberStats = memberStatsBody ? "yes" : "no";
  const lis = listeners.listeners || [];
  const statsPairs = await Promise.all(lis.map(async (l) => {
    const body = await optional(`/v2/lbaas/listeners/${encodeURIComponent(l.id)}/stats`);
    return [l.id, body ? body.stats : null];
  }));
  const listenerStats = new Map(statsPairs.filter(([, s]) => s));
  const memberStats = memberStatsBody ? new Map((memberStatsBody.members || []).map((m) => [m.id, m])) : null;
  if (state.selected !== id) return; // the user moved on while we were asking

  $("detail-missing").hidden = true;
  $("detail-body").hidden = false;
  $("detail-title").textContent = `Load balancer ${lb.name || lb.id}`;
  const hosts = amphorae ? [...new Set((amphorae.amphorae || []).map((a) => a.compute_id).filter(Boolean))] : [];
  $("detail-meta").replaceChildren(
    h("span", {}, "id ", h("code", {}, lb.id)),
    h("span", {}, "VIP ", h("code", {}, lb.vip_address || "")),
    h("span", {}, "provisioning ", badge(lb.provisioning_status)),
    h("span", {}, "operating ", badge(lb.operating_status)),
    h("span", {}, "mode ", h("code", {}, lbMode(lb))),
    hosts.length ? h("span", {}, "host ", h("code", {}, hosts.join(", "))) : null,
  );
  const model = topologyModel(lb, tree.statuses.loadbalancer, lis, pools.pools || [], listenerStats, memberStats, now);
  drawTopology($("topology"), model, { mode: lbMode(lb) });
  $("rates-note").textContent = memberStats
    ? "Rates per listener (connections/s) and per member (requests/s for HTTP pools), from the agent's counters, sampled every second."
    : "Per-member rates are not available from this server: listener rates and member status only.";

  const logBox = $("log-tail");
  if (logs && Array.isArray(logs.lines)) {
    logBox.dataset.available = "yes";
    logBox.textContent = logs.lines.length ? logs.lines.join("\n") : "(no log lines yet)";
  } else {
    logBox.dataset.available = "no";
    logBox.textContent = "Access logs are not available for this load balancer on this server.";
  }
}

function showDetail(id) {
  state.selected = id;
  $("detail").hidden = !id;
  if (!id) return;
  $("detail-title").textContent = "Load balancer …";
  $("detail-body").hidden = true;
  $("detail-missing").hidden = true;
  while ($("topology").firstChild) $("topology").removeChild($("topology").firstChild);
}

// ------------------------------------------------------------------------------------ fleet

async function pollFleet() {
  const [agents, breaker] = await Promise.all([optional("/v2/octavia/agents"), optional("/v2/octavia/failover_breaker")]);
  const section = $("fleet");
  if (!agents) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const list = agents.agents || [];
  $("agent-rows").replaceChildren(...list.map((a) => h("tr", { dataset: { host: a.host } },
    h("td", { class: "mono" }, a.host),
    h("td", {}, a.availability_zone || "–"),
    h("td", {}, badge(a.alive ? "ONLINE" : "ERROR"), " ", a.liveness || ""),
    h("td", {}, a.admin_state_up ? "enabled" : "disabled"),
    h("td", { class: "num" }, String(a.loadbalancer_count ?? 0)),
    h("td", { class: "mono small" }, a.last_heartbeat || "never"),
  )));
  $("agents-empty").hidden = list.length > 0;
  const b = breaker && breaker.failover_breaker;
  $("breaker").replaceChildren(b
    ? h("span", { id: "breaker-state", "data-tripped": b.tripped ? "yes" : "no" }, "failover breaker ",
        badge(b.tripped ? "ERROR" : "ONLINE"), b.tripped ? " open: nothing fails over (fail-static)" : " closed",
        ` · agents down ${b.down} of ${b.fleet} · opens above ${Math.round(b.max_dead_share * 100)}% down`)
    : h("span", {}, "failover breaker: not readable"));
}

// ------------------------------------------------------------------------------------ loop

async function poll() {
  if (state.polling) return;
  state.polling = true;
  const now = performance.now();
  try {
    const body = await api("/v2/lbaas/loadbalancers?limit=1000");
    $("auth-error").hidden = true;
    renderList(body.loadbalancers || []);
    $("detail").hidden = !state.selected;
    await Promise.all([state.selected ? pollDetail(state.selected, now) : null, pollFleet()]);
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    $("updated").dataset.ok = "yes";
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      $("auth-error").hidden = false;
      $("auth-error").textContent = state.token ? "The API refused this token: log in again." : "The API needs a token: log in.";
      $("lb-rows").replaceChildren();
      $("fleet").hidden = true;
      $("detail").hidden = true;
    } else {
      $("updated").textContent = `API error: ${e.message}`;
      $("updated").dataset.ok = "no";
    }
  } finally {
    state.polling = false;
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    await poll();
    schedule();
  }, POLL_MS);
}

function pollNow() {
  poll().finally(schedule);
}

function route() {
  const m = /^#\/lb\/([^/?#]+)$/.exec(location.hash);
  showDetail(m ? decodeURIComponent(m[1]) : null);
  pollNow();
}

window.addEventListener("hashchange", route);
setupLogin();
route();
