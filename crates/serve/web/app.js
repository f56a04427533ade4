// medlake web UI: dashboards, SQL Lab, the table list, metric catalog, run history,
// permissions and audit. The data catalog's pages (search, table page, lineage graph,
// metric page) are in catalog.js, the data quality page in quality.js, the monitoring page
// in monitoring.js, the imaging pages (studies, a study's series and previews) in
// imaging.js; each registers its views in VIEWS. No framework, no CDN.
"use strict";

const I18N = {
  en: {
    "nav.sql": "SQL Lab", "nav.tables": "Catalog", "nav.lineage": "Lineage", "nav.metrics": "Metrics", "nav.runs": "Runs",
    "logout": "Log out", "sql.run": "Run", "sql.cancel": "Cancel", "sql.limit": "Row limit",
    "sql.csv": "Download CSV", "sql.history": "History", "metrics.search": "Search metrics (中文 / English)",
    "rows": "rows", "truncated": "(limit reached)", "running": "running…", "cancelled": "cancelled",
    "f.day": "Report day", "f.window": "Window", "f.province": "Province", "f.hospital": "Hospital",
    "w.1": "1 day", "w.7": "7 days", "w.30": "30 days", "all": "All", "dod": "vs previous day", "wow": "vs week before",
    "unfiltered": "all hospitals: this cut is not available per hospital or province", "no data": "no data for this day",
    "tables.partitions": "Partitions", "runs.day": "Day to build", "runs.build": "Start build", "runs.started": "build started; runs refresh every 5 s",
    "nav.governance": "Permissions & audit", "gov.audit": "Audit", "gov.account": "Account", "gov.table": "Table", "gov.outcome": "Outcome",
    "gov.since": "From", "gov.until": "To", "gov.search": "Search", "gov.policies": "Policies", "gov.note": "Why", "gov.save": "Save as new version",
    "gov.saved": "saved as version",
  },
  zh: {
    "nav.sql": "SQL 查询", "nav.tables": "数据目录", "nav.lineage": "血缘图", "nav.metrics": "指标目录", "nav.runs": "运行记录",
    "logout": "退出", "sql.run": "运行", "sql.cancel": "取消", "sql.limit": "行数上限",
    "sql.csv": "下载 CSV", "sql.history": "历史", "metrics.search": "搜索指标 (中文 / English)",
    "rows": "行", "truncated": "(已达上限)", "running": "运行中…", "cancelled": "已取消",
    "f.day": "报告日", "f.window": "窗口", "f.province": "省份", "f.hospital": "医院",
    "w.1": "近1天", "w.7": "近7天", "w.30": "近30天", "all": "全部", "dod": "日环比", "wow": "周同比",
    "unfiltered": "全部医院口径：该维度不支持按医院或省份筛选", "no data": "该日无数据",
    "tables.partitions": "分区", "runs.day": "构建日期", "runs.build": "开始构建", "runs.started": "构建已开始；运行记录每5秒刷新",
    "nav.governance": "权限与审计", "gov.audit": "审计", "gov.account": "账号", "gov.table": "数据表", "gov.outcome": "结果",
    "gov.since": "起", "gov.until": "止", "gov.search": "查询", "gov.policies": "策略", "gov.note": "修改说明", "gov.save": "保存新版本",
    "gov.saved": "已保存为版本",
  },
};
let lang = localStorage.getItem("medlake.lang") || "zh";
const t = (key) => (I18N[lang] && I18N[lang][key]) || key;
const $ = (id) => document.getElementById(id);
let me = null;

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("lang").textContent = lang === "zh" ? "English" : "中文";
}

// GET `path`; POST `body` as JSON when given; `method` (DELETE, say) overrides. Every
// request but a GET carries the session's CSRF token.
async function api(path, body, signal, method) {
  const options = { headers: {}, signal };
  if (body !== undefined || method) {
    options.method = method || "POST";
    options.headers["X-CSRF-Token"] = me ? me.csrf : "";
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
  }
  const response = await fetch(path, options);
  if (response.status === 401) { location.href = "/login"; throw new Error("unauthenticated"); }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const e = new Error((data.error && data.error.message) || response.statusText);
    e.detail = data.error; e.status = response.status;
    throw e;
  }
  return data;
}

function cell(value) {
  const td = document.createElement("td");
  if (value === null || value === undefined) { td.textContent = "NULL"; td.className = "muted"; }
  else {
    td.textContent = String(value);
    if (typeof value === "number") td.className = "num";
    else if (td.textContent.length > 60) td.className = "wrap";
  }
  return td;
}

function renderTable(target, columns, rows) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  columns.forEach((c) => { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
  const body = table.createTBody();
  rows.forEach((r) => { const tr = body.insertRow(); r.forEach((v) => tr.appendChild(cell(v))); });
  target.replaceChildren(table);
}

// ---- Dashboards ----
let dashboards = [], charts = [], current = null;
const label = (l) => (l ? (lang === "zh" ? l.label_zh : l.label_en) : "");

function formatValue(v, unit) {
  if (v === null || v === undefined) return "–";
  if (unit === "ratio") return (v * 100).toFixed(1) + "%";
  if (unit === "CNY") return "¥" + v.toLocaleString(undefined, { maximumFractionDigits: 0 });
  const n = Number.isInteger(v) ? v.toLocaleString() : v.toLocaleString(undefined, { maximumFractionDigits: 2 });
  if (unit === "minutes") return n + (lang === "zh" ? " 分钟" : " min");
  return n;
}

function change(now, before, caption) {
  const span = document.createElement("div");
  span.className = "change";
  if (now === null || before === null || before === 0) { span.textContent = `${caption} –`; return span; }
  const pct = ((now - before) / Math.abs(before)) * 100;
  span.textContent = `${caption} ${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`;
  span.classList.add(pct >= 0 ? "up" : "down");
  return span;
}

function option(value, text, selected) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text; o.selected = selected;
  return o;
}

function dashboardQuery() {
  const p = new URLSearchParams();
  for (const [key, id] of [["day", "f-day"], ["window", "f-window"], ["province", "f-province"], ["hospital", "f-hospital"]]) {
    if ($(id).value) p.set(key, $(id).value);
  }
  return p.toString();
}

function chartBox(title, note) {
  const box = document.createElement("div");
  box.className = "chart-box";
  const h = document.createElement("h4"); h.textContent = title; box.appendChild(h);
  if (note) { const n = document.createElement("div"); n.className = "note"; n.textContent = note; box.appendChild(n); }
  const area = document.createElement("div"); area.className = "chart"; box.appendChild(area);
  return [box, area];
}

function drawChart(area, option) {
  const chart = echarts.init(area);
  chart.setOption(option);
  charts.push(chart);
}

function renderDashboard(d) {
  charts.forEach((c) => c.dispose()); charts = [];
  qualityBanner(d.quality); // quality.js: the checks of the report day that did not pass
  $("dash-title").textContent = lang === "zh" ? d.title_zh : d.title_en;
  $("f-day").replaceChildren(...d.days.map((x) => option(x, x, x === d.day)));
  $("f-window").replaceChildren(...d.windows.map((w) =>
    option(String(w), t(`w.${w}`) === `w.${w}` ? `${w}d` : t(`w.${w}`), w === d.window)));
  const province = $("f-province").value, hospital = $("f-hospital").value;
  $("f-province").replaceChildren(option("", t("all"), !province), ...d.provinces.map((p) => option(p, p, p === province)));
  const hospitals = d.hospitals.filter((h) => !province || h.province === province);
  $("f-hospital").replaceChildren(option("", t("all"), !hospital), ...hospitals.map((h) => option(h.id, h.name, h.id === hospital)));

  $("headlines").replaceChildren(...d.headlines.map((h) => {
    const card = document.createElement("div"); card.className = "card";
    const unit = h.labels && h.labels.unit;
    const l = document.createElement("a"); l.className = "label"; l.textContent = label(h.labels);
    l.href = `#metric/${encodeURIComponent(h.measure)}`;
    const v = document.createElement("div"); v.className = "value"; v.textContent = formatValue(h.value, unit);
    card.append(l, v, change(h.value, h.previous_day, t("dod")), change(h.value, h.previous_week, t("wow")));
    return card;
  }));

  $("trends").replaceChildren();
  d.trends.forEach((tr) => {
    const [box, area] = chartBox(label(tr.labels));
    $("trends").appendChild(box);
    const unit = tr.labels && tr.labels.unit;
    drawChart(area, {
      tooltip: { trigger: "axis", valueFormatter: (v) => formatValue(v, unit) },
      grid: { left: 60, right: 16, top: 16, bottom: 40 },
      xAxis: { type: "category", data: tr.days.map((x) => x.slice(5)) },
      yAxis: { type: "value", axisLabel: { formatter: (v) => formatValue(v, unit) } },
      series: [{ type: "line", data: tr.values, connectNulls: false, smooth: true, areaStyle: { opacity: 0.08 } }],
    });
  });

  $("breakdowns").replaceChildren();
  d.breakdowns.forEach((b) => {
    const title = `${label(b.labels)} · ${label(b.dimension_labels)}`;
    const [box, area] = chartBox(title, b.filtered ? "" : t("unfiltered"));
    $("breakdowns").appendChild(box);
    const unit = b.labels && b.labels.unit;
    if (b.items.length === 0) { area.textContent = t("no data"); area.classList.add("muted"); return; }
    if (b.chart === "table") {
      area.classList.remove("chart");
      renderTable(area, [label(b.dimension_labels), label(b.labels)], b.items.map((i) => [i.label, formatValue(i.v, unit)]));
    } else if (b.chart === "pie") {
      drawChart(area, {
        tooltip: { trigger: "item", valueFormatter: (v) => formatValue(v, unit) },
        series: [{ type: "pie", radius: ["35%", "65%"], data: b.items.map((i) => ({ name: i.label, value: i.v })) }],
      });
    } else {
      drawChart(area, {
        tooltip: { trigger: "axis", valueFormatter: (v) => formatValue(v, unit) },
        grid: { left: 110, right: 16, top: 8, bottom: 24 },
        xAxis: { type: "value", axisLabel: { formatter: (v) => formatValue(v, unit) } },
        yAxis: { type: "category", inverse: true, data: b.items.map((i) => i.label), axisLabel: { interval: 0 } },
        series: [{ type: "bar", barMaxWidth: 28, data: b.items.map((i) => i.v) }],
      });
    }
  });
}

async function loadDashboard(id) {
  current = id;
  $("dash-error").hidden = true;
  $("dash-quality").hidden = true;
  try {
    const d = await api(`/api/dashboards/${encodeURIComponent(id)}?${dashboardQuery()}`);
    if (current === id) renderDashboard(d);
  } catch (e) {
    $("dash-error").textContent = e.message;
    $("dash-error").hidden = false;
  }
}

function dashboardLinks() {
  $("dashboard-links").replaceChildren(...dashboards.map((d) => {
    const a = document.createElement("a");
    a.href = `#dashboard/${d.id}`;
    a.textContent = lang === "zh" ? d.title_zh : d.title_en;
    return a;
  }));
}

// ---- SQL Lab ----
const PAGE = 100;
let result = null, page = 0, running = null, names = [];

function showPage() {
  const rows = result.rows.slice(page * PAGE, (page + 1) * PAGE);
  renderTable($("result"), result.columns.map((c) => c.name), rows);
  const pages = Math.max(1, Math.ceil(result.rows.length / PAGE));
  $("pager").hidden = pages <= 1;
  $("page").textContent = ` ${page + 1} / ${pages} `;
}

async function runQuery() {
  const sql = $("sql-editor").value;
  const limit = Number($("limit").value) || 1000;
  $("error").hidden = true;
  $("status").textContent = t("running");
  $("run").disabled = true; $("cancel").disabled = false;
  running = new AbortController();
  try {
    result = await api("/api/query", { sql, limit }, running.signal);
    page = 0; showPage();
    $("status").textContent = `${result.row_count} ${t("rows")} ${result.truncated ? t("truncated") : ""} · ${result.millis} ms`;
  } catch (e) {
    if (e.name === "AbortError") { $("status").textContent = t("cancelled"); }
    else {
      $("status").textContent = "";
      const d = e.detail || {};
      $("error").textContent = e.message;
      $("error").hidden = false;
      if (d.line && d.column) markError(d.line, d.column);
    }
  } finally {
    $("run").disabled = false; $("cancel").disabled = true; running = null;
    loadHistory();
  }
}

function markError(line, column) {
  const editor = $("sql-editor");
  const lines = editor.value.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  editor.focus();
  editor.setSelectionRange(offset, offset + 1);
}

async function downloadCsv() {
  const response = await fetch("/api/query", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf },
    body: JSON.stringify({ sql: $("sql-editor").value, limit: 100000, format: "csv" }),
  });
  if (!response.ok) { const d = await response.json(); $("error").textContent = d.error.message; $("error").hidden = false; return; }
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url; a.download = "medlake-query.csv"; a.click();
  URL.revokeObjectURL(url);
}

async function loadHistory() {
  const data = await api("/api/history?limit=20");
  const list = $("history");
  list.replaceChildren(...data.history.map((h) => {
    const li = document.createElement("li");
    li.textContent = `${h.at} · ${h.outcome} · ${h.sql}`;
    li.addEventListener("click", () => { $("sql-editor").value = h.sql; });
    return li;
  }));
}

async function loadNames() {
  try {
    const data = await api("/api/query", {
      sql: "SELECT DISTINCT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'",
      limit: 100000,
    });
    const set = new Set();
    data.rows.forEach(([table, column]) => { set.add(table); set.add(column); });
    names = [...set].sort();
  } catch (e) { names = []; }
}

function wordBeforeCursor(editor) {
  const upto = editor.value.slice(0, editor.selectionStart);
  const m = upto.match(/[A-Za-z_][A-Za-z0-9_]*$/);
  return m ? m[0] : "";
}

function suggest() {
  const editor = $("sql-editor"), box = $("suggest");
  const word = wordBeforeCursor(editor);
  const hits = word.length < 2 ? [] : names.filter((n) => n.startsWith(word.toLowerCase()) && n !== word).slice(0, 12);
  box.replaceChildren(...hits.map((n, i) => {
    const li = document.createElement("li");
    li.textContent = n; if (i === 0) li.className = "on";
    li.addEventListener("mousedown", (e) => { e.preventDefault(); accept(n); });
    return li;
  }));
  box.hidden = hits.length === 0;
}

function accept(name) {
  const editor = $("sql-editor");
  const word = wordBeforeCursor(editor);
  const at = editor.selectionStart;
  editor.setRangeText(name, at - word.length, at, "end");
  $("suggest").hidden = true;
  editor.focus();
}

function onEditorKey(e) {
  const box = $("suggest");
  if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); runQuery(); return; }
  if (box.hidden) return;
  const items = [...box.children];
  const on = items.findIndex((li) => li.className === "on");
  if (e.key === "Tab" || e.key === "Enter") { e.preventDefault(); accept(items[Math.max(on, 0)].textContent); }
  else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const next = (on + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    items.forEach((li, i) => { li.className = i === next ? "on" : ""; });
  } else if (e.key === "Escape") { box.hidden = true; }
}

// ---- Tables, metrics, runs ----
const bytes = (n) => n > 1e9 ? (n / 1e9).toFixed(1) + " GB" : n > 1e6 ? (n / 1e6).toFixed(1) + " MB" : (n / 1e3).toFixed(1) + " kB";

async function loadTables() {
  const data = await api("/api/tables");
  renderTable($("tables"), ["layer", "table", "description", "partitions", "rows", "bytes"],
    data.tables.map((x) => [x.layer, x.name, x.description, x.partitions, x.rows, bytes(x.bytes)]));
  $("tables").querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.classList.add("clickable");
    tr.addEventListener("click", () => { location.hash = `#table/${encodeURIComponent(data.tables[i].name)}`; });
  });
}

async function loadMetrics() {
  const q = $("metric-search").value.trim().replace(/'/g, "''");
  const filter = q ? ` AND (metric LIKE '%${q}%' OR label_zh LIKE '%${q}%' OR label_en ILIKE '%${q}%' OR definition LIKE '%${q}%')` : "";
  try {
    const data = await api("/api/query", {
      sql: "SELECT metric, label_zh, label_en, topic, unit, dimension, window_days, definition FROM ads_metric_catalog " +
        `WHERE dt = (SELECT max(dt) FROM ads_metric_catalog)${filter} ORDER BY metric`,
      limit: 5000,
    });
    renderTable($("metrics"), data.columns.map((c) => c.name), data.rows);
    // An instance is <measure>.<dimension>.<window>d: its row opens the measure's page.
    $("metrics").querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.classList.add("clickable");
      const measure = String(data.rows[i][0]).split(".")[0];
      tr.addEventListener("click", () => { location.hash = `#metric/${encodeURIComponent(measure)}`; });
    });
  } catch (e) { $("metrics").textContent = e.message; }
}

let runsTimer = null;

async function startBuild() {
  const day = $("build-day").value;
  try {
    await api("/api/builds", { day });
    $("build-status").textContent = `${day}: ${t("runs.started")}`;
    clearInterval(runsTimer);
    runsTimer = setInterval(() => { if (location.hash === "#runs") loadRuns(); else clearInterval(runsTimer); }, 5000);
    loadRuns();
  } catch (e) {
    $("build-status").textContent = e.message;
  }
}

async function loadRuns() {
  $("build-form").hidden = !me || me.role !== "admin";
  const data = await api("/api/runs?limit=200");
  renderTable($("runs"), ["kind", "target", "dt", "started", "seconds", "outcome", "rows"],
    data.runs.map((r) => [r.kind, r.target, r.dt, r.started, r.seconds, r.outcome, r.rows]));
}

// ---- Permissions and audit (admins) ----
function auditQuery() {
  const q = new URLSearchParams();
  for (const [key, id] of [["account", "audit-account"], ["table", "audit-table"], ["outcome", "audit-outcome"], ["since", "audit-since"], ["until", "audit-until"]]) {
    if ($(id).value) q.set(key, $(id).value);
  }
  return q;
}

async function loadAudit() {
  const q = auditQuery();
  $("audit-csv").href = `/api/audit?${q}&format=csv&limit=100000`;
  try {
    const data = await api(`/api/audit?${q}&limit=500`);
    renderTable($("audit"), ["id", "at", "account", "channel", "outcome", "rows", "tables", "policies", "PHI", "statement", "error"],
      data.audit.map((r) => [r.id, r.at, r.account, r.channel, r.outcome, r.rows, r.tables, r.policies, r.phi_unmasked ? "unmasked" : "", r.statement, r.error]));
  } catch (e) { $("audit").textContent = e.message; }
}

async function loadGovernance() {
  loadAudit();
  const p = await api("/api/policies");
  $("policy-version").textContent = p.version ? `version ${p.version}` : "";
  $("policy-editor").value = p.body || "";
  renderTable($("policy-history"), ["version", "changed_at", "changed_by", "note"],
    p.history.map((v) => [v.version, v.changed_at, v.changed_by, v.note]));
}

async function savePolicies() {
  try {
    const r = await api("/api/policies", { body: $("policy-editor").value, note: $("policy-note").value });
    $("policy-status").textContent = `${t("gov.saved")} ${r.version}`;
    loadGovernance();
  } catch (e) { $("policy-status").textContent = e.message; }
}

// Views by the first part of the location hash (`#view/arg`); catalog.js adds its own.
const VIEWS = { tables: loadTables, metrics: loadMetrics, runs: loadRuns, governance: loadGovernance };
// Pages reached from a tab that keep the tab marked.
const TAB_OF = { table: "tables", metric: "metrics" };

function route() {
  const hash = (location.hash || (dashboards.length ? `#dashboard/${dashboards[0].id}` : "#sql")).slice(1);
  const [view, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : undefined;
  const tab = `#${TAB_OF[view] || view}`;
  document.querySelectorAll(".view").forEach((s) => { s.hidden = s.id !== `view-${view}`; });
  document.querySelectorAll("header nav a").forEach((a) => {
    const href = a.getAttribute("href");
    a.className = href === `#${hash}` || href === tab ? "active" : "";
  });
  if (view === "dashboard") { loadDashboard(arg); return; }
  VIEWS[view]?.(arg);
}

async function logout() {
  await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": me.csrf } });
  location.href = "/login";
}

async function start() {
  me = await api("/api/me");
  $("who").textContent = `${me.name} (${me.role})`;
  $("nav-governance").hidden = me.role !== "admin";
  $("nav-quality").hidden = me.role === "viewer";
  $("nav-monitoring").hidden = me.role === "viewer";
  $("nav-imaging").hidden = me.role === "viewer";
  applyLanguage();
  dashboards = (await api("/api/dashboards")).dashboards;
  dashboardLinks();
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("medlake.lang", lang);
    applyLanguage(); dashboardLinks(); route();
  });
  for (const id of ["f-day", "f-window", "f-province", "f-hospital"]) {
    $(id).addEventListener("change", () => {
      if (id === "f-province") $("f-hospital").value = "";
      loadDashboard(current);
    });
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  $("logout").addEventListener("click", logout);
  $("run").addEventListener("click", runQuery);
  $("cancel").addEventListener("click", () => running && running.abort());
  $("csv").addEventListener("click", downloadCsv);
  $("build").addEventListener("click", startBuild);
  $("audit-search").addEventListener("click", loadAudit);
  $("policy-save").addEventListener("click", savePolicies);
  $("prev").addEventListener("click", () => { if (page > 0) { page--; showPage(); } });
  $("next").addEventListener("click", () => { if ((page + 1) * PAGE < result.rows.length) { page++; showPage(); } });
  $("sql-editor").addEventListener("input", suggest);
  $("sql-editor").addEventListener("keydown", onEditorKey);
  $("metric-search").addEventListener("input", loadMetrics);
  window.addEventListener("hashchange", route);
  route();
  loadHistory();
  loadNames();
}

// After every deferred script (catalog.js adds views and labels) has run.
document.addEventListener("DOMContentLoaded", start);
