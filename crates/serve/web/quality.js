// medlake web UI, data quality: a day's check results (a summary, the tables as tiles
// coloured by their worst result, the checks that did not pass), one table's checks and
// column profile, one check's history as an ECharts line of what it observed, each point
// coloured by its status. Also lists a table's checks on the catalog's table page, and
// fills a dashboard's banner when its report day has checks that did not pass.
// Loaded after app.js and catalog.js and uses their helpers (api, $, t, me, option, el,
// nodeTable, count, esc, tableHref, VIEWS). Text goes into the page with textContent; the
// one HTML string (the chart's tooltip) is escaped.
"use strict";

Object.assign(I18N.en, {
  "quality.title": "Data quality", "quality.day": "Day checked", "quality.tables": "Tables",
  "quality.failing": "Checks that did not pass", "quality.none_failing": "Every check passed on this day.",
  "quality.no_results": "No check results yet (run a build, or medlake check).",
  "quality.pass": "Passed", "quality.warn": "Warnings", "quality.fail": "Failed",
  "quality.checks": "checks", "quality.failing_n": "failing", "quality.warned_n": "warning",
  "quality.check": "Check", "quality.table": "Table", "quality.kind": "Kind", "quality.severity": "Severity",
  "quality.status": "Status", "quality.observed": "Observed", "quality.expected": "Expected",
  "quality.failing_rows": "Failing rows", "quality.message": "Note", "quality.sample": "Sample keys",
  "quality.dt": "Day", "quality.checked_at": "Checked at", "quality.description": "Description",
  "quality.table_checks": "Checks", "quality.profile": "Column profile", "quality.column": "Column",
  "quality.rows": "Rows", "quality.nulls": "Nulls", "quality.null_rate": "Null rate", "quality.distinct": "Distinct",
  "quality.min": "Min", "quality.max": "Max", "quality.mean": "Mean", "quality.p50": "Median", "quality.p95": "P95",
  "quality.no_checks": "No checks are declared for this table.", "quality.no_profile": "No profile for this day.",
  "quality.not_run": "not run", "quality.undeclared": "(not declared)", "quality.open": "Open in the quality page",
  "quality.no_history": "No results recorded yet.", "table.quality": "Data quality",
  "nav.quality": "Quality", "dash.quality": "Built from a day with quality warnings",
});
Object.assign(I18N.zh, {
  "quality.title": "数据质量", "quality.day": "检查日", "quality.tables": "数据表",
  "quality.failing": "未通过的检查", "quality.none_failing": "该日所有检查均已通过。",
  "quality.no_results": "尚无检查结果（请先运行构建或 medlake check）。",
  "quality.pass": "通过", "quality.warn": "告警", "quality.fail": "失败",
  "quality.checks": "项检查", "quality.failing_n": "项失败", "quality.warned_n": "项告警",
  "quality.check": "检查", "quality.table": "数据表", "quality.kind": "类型", "quality.severity": "级别",
  "quality.status": "状态", "quality.observed": "观测值", "quality.expected": "期望",
  "quality.failing_rows": "不合格行数", "quality.message": "说明", "quality.sample": "样例主键",
  "quality.dt": "日期", "quality.checked_at": "检查时间", "quality.description": "描述",
  "quality.table_checks": "检查项", "quality.profile": "字段画像", "quality.column": "字段",
  "quality.rows": "行数", "quality.nulls": "空值数", "quality.null_rate": "空值率", "quality.distinct": "去重数",
  "quality.min": "最小值", "quality.max": "最大值", "quality.mean": "均值", "quality.p50": "中位数", "quality.p95": "P95",
  "quality.no_checks": "该表未声明检查。", "quality.no_profile": "该日无字段画像。",
  "quality.not_run": "未运行", "quality.undeclared": "（未声明）", "quality.open": "在数据质量页查看",
  "quality.no_history": "尚无检查记录。", "table.quality": "数据质量",
  "nav.quality": "数据质量", "dash.quality": "本看板报告日的数据有质量告警",
});

// Point and badge colours by status.
const Q_COLORS = { pass: "#12b76a", warn: "#f79009", fail: "#d92d20", error: "#7a271a" };
const Q_CHECK_HEADERS = ["quality.check", "quality.status", "quality.kind", "quality.severity", "quality.observed",
  "quality.expected", "quality.failing_rows", "quality.description"];
let qChart = null, qSeq = 0;

const qBadge = (status) => el("span", { class: `q-status ${status}`, text: status });
const qNumber = (v) => (v === null || v === undefined ? "–"
  : Number(v).toLocaleString(undefined, { maximumFractionDigits: 4 }));
const qPercent = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(2)}%`);
const qDayQuery = () => ($("q-day").value ? `?day=${encodeURIComponent($("q-day").value)}` : "");

// ---- A day: summary, tables, checks that did not pass ----
function renderQualityOverview(d) {
  $("q-day").replaceChildren(...d.days.map((x) => {
    const s = d.day_summary[x] || { pass: 0, warn: 0, fail: 0 };
    const o = option(x, `${x}  ✓${s.pass} ⚠${s.warn} ✗${s.fail}`, x === d.day);
    o.dataset.issues = String(s.warn + s.fail);
    return o;
  }));
  // A day asked for that the recent list does not hold.
  if (d.day && !d.days.includes(d.day)) $("q-day").prepend(option(d.day, d.day, true));

  const s = d.summary, sum = $("q-summary");
  Object.assign(sum.dataset, { day: d.day || "", pass: s.pass, warn: s.warn, fail: s.fail });
  sum.replaceChildren(...["pass", "warn", "fail"].map((k) =>
    el("span", { class: `q-count ${k}`, text: `${t(`quality.${k}`)} ${s[k]}` })));

  $("q-tables").replaceChildren(...d.tables.map((x) => {
    const figures = [` ${x.checks} ${t("quality.checks")}`];
    if (x.failing) figures.push(` · ${x.failing} ${t("quality.failing_n")}`);
    if (x.warned) figures.push(` · ${x.warned} ${t("quality.warned_n")}`);
    const tile = el("button", { type: "button", class: `q-tile ${x.status}`, "data-table": x.table, "data-status": x.status },
      el("span", { class: "name", text: x.table }),
      el("span", { class: "figures" }, qBadge(x.status), ...figures));
    tile.addEventListener("click", () => {
      history.replaceState(null, "", `#quality/${encodeURIComponent(x.table)}`);
      showQualityTable(x.table, true);
    });
    return tile;
  }));
  if (!d.tables.length) $("q-tables").replaceChildren(el("p", { class: "muted", text: t("quality.no_results") }));

  const admin = me && me.role === "admin";
  const headers = ["quality.check", "quality.status", "quality.severity", "quality.kind", "quality.observed",
    "quality.expected", "quality.failing_rows", "quality.message"];
  if (admin) headers.push("quality.sample");
  const rows = d.failing.map((r) => {
    const row = [r.check_id, qBadge(r.status), r.severity, r.kind, qNumber(r.observed), r.expected, r.failing_rows, r.message || ""];
    if (admin) row.push((r.sample || []).join(", "));
    return row;
  });
  $("q-failing").replaceChildren(d.failing.length ? nodeTable(rows, headers)
    : el("p", { class: "muted", text: d.tables.length ? t("quality.none_failing") : "" }));
  $("q-failing").querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.classList.add("clickable");
    tr.dataset.check = d.failing[i].check_id;
    tr.addEventListener("click", () => showQualityCheck(d.failing[i].check_id, true));
  });
}

// Reads and shows the day picked (the newest day with results when none is); false when
// it could not be read.
async function loadQualityOverview() {
  $("q-error").hidden = true;
  const seq = ++qSeq;
  let d;
  try { d = await api(`/api/quality${qDayQuery()}`); }
  catch (e) {
    if (seq === qSeq) { $("q-error").textContent = e.message; $("q-error").hidden = false; }
    return false;
  }
  if (seq !== qSeq) return false;
  renderQualityOverview(d);
  return true;
}

// `#quality`, `#quality/<table>` (its checks and profile) or `#quality/<table>.<check>`
// (also the check's history).
async function showQuality(target) {
  $("q-table").hidden = true;
  $("q-check").hidden = true;
  if (!(await loadQualityOverview()) || !target) return;
  showQualityTable(target.split(".")[0], false);
  if (target.includes(".")) showQualityCheck(target, true);
}

async function changeQualityDay() {
  if (!(await loadQualityOverview())) return;
  if (!$("q-table").hidden) showQualityTable($("q-table").dataset.table, false);
}

// ---- A table: its checks on the day and the day's column profile ----
function qualityCheckRows(d) {
  return d.checks.map((c) => {
    const r = c.result;
    const name = c.declared ? c.name : `${c.name} ${t("quality.undeclared")}`;
    const status = r ? qBadge(r.status) : el("span", { class: "muted", text: t("quality.not_run") });
    return [name, status, c.kind, c.severity, r ? qNumber(r.observed) : "", r ? r.expected : "",
      r ? r.failing_rows : "", c.description || (r && r.message) || ""];
  });
}

// The checks of `d` (a /api/quality/tables answer) in `target`, a row opening `open(id)`.
function renderQualityChecks(target, d, open) {
  if (!d.checks.length) { target.replaceChildren(el("p", { class: "muted", text: t("quality.no_checks") })); return; }
  target.replaceChildren(nodeTable(qualityCheckRows(d), Q_CHECK_HEADERS));
  target.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.classList.add("clickable");
    tr.dataset.check = d.checks[i].id;
    tr.addEventListener("click", () => open(d.checks[i].id));
  });
}

function renderQualityProfile(target, profile) {
  if (!profile.length) { target.replaceChildren(el("p", { class: "muted", text: t("quality.no_profile") })); return; }
  const all = profile.find((p) => p.column === "*");
  const rows = profile.filter((p) => p.column !== "*").map((p) => [p.column, p.null_count, qPercent(p.null_rate),
    count(p.distinct), p.min ?? "–", p.max ?? "–", qNumber(p.mean), qNumber(p.p50), qNumber(p.p95)]);
  target.replaceChildren(
    ...(all ? [el("p", { class: "muted", text: `${t("quality.rows")}: ${count(all.row_count)}` })] : []),
    nodeTable(rows, ["quality.column", "quality.nulls", "quality.null_rate", "quality.distinct", "quality.min",
      "quality.max", "quality.mean", "quality.p50", "quality.p95"]));
}

async function showQualityTable(table, scroll) {
  const box = $("q-table");
  box.hidden = false;
  box.dataset.table = table;
  const seq = box.seq = (box.seq || 0) + 1;
  $("q-tables").querySelectorAll(".q-tile").forEach((b) => b.classList.toggle("on", b.dataset.table === table));
  $("q-table-title").replaceChildren(el("a", { href: tableHref(table), text: table }));
  $("q-table-checks").replaceChildren(el("p", { class: "muted", text: t("running") }));
  $("q-table-profile").replaceChildren();
  let d;
  try { d = await api(`/api/quality/tables/${encodeURIComponent(table)}${qDayQuery()}`); }
  catch (e) {
    if (box.seq === seq) $("q-table-checks").replaceChildren(el("div", { class: "error", text: e.message }));
    return;
  }
  if (box.seq !== seq) return;
  if (d.day) $("q-table-title").append(" ", el("span", { class: "muted", text: d.day }));
  renderQualityChecks($("q-table-checks"), d, (id) => showQualityCheck(id, true));
  renderQualityProfile($("q-table-profile"), d.profile);
  if (scroll) box.scrollIntoView({ block: "nearest" });
}

// ---- A check: its history ----
function drawQualityHistory(c) {
  const area = $("q-check-chart");
  echarts.getInstanceByDom(area)?.dispose();
  qChart = echarts.init(area);
  qChart.setOption({
    animation: false,
    tooltip: {
      trigger: "axis",
      formatter: (points) => {
        const h = c.history[points[0].dataIndex];
        return `${esc(h.dt)} · ${esc(h.status)}<br>${esc(t("quality.observed"))}: ${esc(qNumber(h.observed))}` +
          `<br>${esc(t("quality.expected"))}: ${esc(h.expected)}<br>${esc(t("quality.failing_rows"))}: ${esc(h.failing_rows)}`;
      },
    },
    grid: { left: 70, right: 16, top: 16, bottom: 40 },
    xAxis: { type: "category", data: c.history.map((h) => h.dt) },
    yAxis: { type: "value", scale: true },
    series: [{
      type: "line", name: t("quality.observed"), connectNulls: true, symbol: "circle", symbolSize: 9, lineStyle: { color: "#98a2b3" },
      data: c.history.map((h) => ({ value: h.observed, itemStyle: { color: Q_COLORS[h.status] || "#98a2b3" } })),
    }],
  });
}

async function showQualityCheck(id, scroll) {
  const box = $("q-check");
  box.hidden = false;
  history.replaceState(null, "", `#quality/${encodeURIComponent(id)}`);
  const seq = box.seq = (box.seq || 0) + 1;
  $("q-check-title").textContent = id;
  $("q-check-description").textContent = "";
  $("q-check-history").replaceChildren();
  let c;
  try { c = await api(`/api/quality/checks/${encodeURIComponent(id)}?limit=60`); }
  catch (e) { if (box.seq === seq) $("q-check-description").textContent = e.message; return; }
  if (box.seq !== seq) return;
  const about = [c.kind, c.severity].filter(Boolean).join(" · ");
  $("q-check-title").replaceChildren(id, " ", el("span", { class: "muted", text: about }));
  $("q-check-description").textContent = c.description || "";
  if (!c.history.length) {
    echarts.getInstanceByDom($("q-check-chart"))?.dispose();
    qChart = null;
    $("q-check-history").replaceChildren(el("p", { class: "muted", text: t("quality.no_history") }));
  } else {
    drawQualityHistory(c);
    $("q-check-history").replaceChildren(nodeTable([...c.history].reverse().map((h) =>
      [h.dt, qBadge(h.status), qNumber(h.observed), h.expected, h.failing_rows, h.message || "", h.checked_at || ""]),
    ["quality.dt", "quality.status", "quality.observed", "quality.expected", "quality.failing_rows", "quality.message",
      "quality.checked_at"]));
  }
  if (scroll) box.scrollIntoView({ block: "nearest" });
}

// ---- A dashboard's banner (app.js calls it): the report day's checks that did not pass,
// each linked to its history for those who may open the quality page ----
function qualityBanner(items) {
  const box = $("dash-quality");
  box.hidden = !items || items.length === 0;
  if (box.hidden) { box.replaceChildren(); return; }
  const linked = me && me.role !== "viewer";
  const names = items.flatMap((q, i) => {
    const name = linked ? el("a", { href: `#quality/${encodeURIComponent(q.check_id)}`, text: q.check_id }) : q.check_id;
    return [...(i ? [", "] : []), name, ` (${q.status})`];
  });
  box.replaceChildren(`${t("dash.quality")}: `, ...names);
}

// ---- The catalog's table page: the table's checks and their latest status ----
async function showTableQuality(name) {
  const section = $("td-quality-section"), box = $("td-quality");
  box.replaceChildren();
  section.hidden = !name || !me || me.role === "viewer";
  if (section.hidden) return;
  let d;
  try { d = await api(`/api/quality/tables/${encodeURIComponent(name)}`); }
  catch (e) { box.replaceChildren(el("div", { class: "error", text: e.message })); return; }
  if ($("td-name").textContent !== name) return;
  const checks = el("div", { class: "grid" });
  renderQualityChecks(checks, d, (id) => { location.hash = `#quality/${encodeURIComponent(id)}`; });
  box.replaceChildren(
    el("p", {}, el("a", { href: `#quality/${encodeURIComponent(name)}`, text: t("quality.open") }),
      d.day ? el("span", { class: "muted", text: ` · ${t("quality.dt")}: ${d.day}` }) : null),
    checks,
  );
}

// ---- Wiring ----
const showTableWithoutQuality = VIEWS.table;
VIEWS.table = (name) => { showTableWithoutQuality(name); showTableQuality(name); };
VIEWS.quality = showQuality;
$("q-day").addEventListener("change", changeQualityDay);
window.addEventListener("resize", () => { if (qChart && !$("view-quality").hidden) qChart.resize(); });
