// medlake web UI, the data catalog: one search over tables, columns, metrics and models;
// a table's page (owner, tags, columns with docs and PHI tags, partitions, Delta versions,
// freshness, schema changes, and its columns' lineage); the lineage graph by table (ECharts,
// one column per layer) with a column view; a metric's page (definition, formula,
// dimensions, lineage down to business columns with the filters and joins apart).
// Loaded after app.js and uses its helpers (api, $, t, bytes, lang, I18N, VIEWS). Text goes
// into the page with textContent; the one HTML string (the graph's tooltip) is escaped.
"use strict";

Object.assign(I18N.en, {
  "catalog.search": "Search tables, columns, metrics, models (中文 / English)", "catalog.tables": "Tables",
  "catalog.back": "← Back to the catalog", "search.tables": "Tables", "search.columns": "Columns",
  "search.metrics": "Metrics", "search.models": "Models", "search.none": "Nothing found",
  "table.overview": "Overview", "table.lineage": "Lineage", "table.columns": "Columns",
  "table.schema_changes": "Schema changes", "table.history": "Version history", "table.open_graph": "Open in the lineage graph",
  "table.owner": "Owner", "table.tags": "Tags", "table.layer": "Layer", "table.rows": "Rows", "table.bytes": "Size",
  "table.partitions": "Partitions", "table.version": "Delta version", "table.freshness": "Last commit", "table.grain": "One row per",
  "table.no_changes": "No column added or dropped in the versions listed",
  "col.column": "Column", "col.type": "Type", "col.phi": "PHI", "col.origins": "From business columns", "col.doc": "Description",
  "h.version": "Version", "h.time": "Time", "h.operation": "Operation", "h.rows_added": "Rows added",
  "h.added": "Added columns", "h.removed": "Dropped columns",
  "phi.own": "PHI (own)", "phi.inherited": "PHI (inherited)",
  "ago.min": "min ago", "ago.h": "h ago", "ago.d": "days ago",
  "lineage.hint": "Click a table to see its columns; click a column to see its upstream and downstream.",
  "lineage.depth": "Depth", "lineage.all": "All", "lineage.direct_only": "Values only (DIRECT)",
  "lineage.upstream": "Upstream (comes from)", "lineage.downstream": "Downstream (feeds)",
  "lineage.values_from": "Its value is computed from (DIRECT)", "lineage.shaped_by": "Filters, joins and keys that decide its rows (INDIRECT)",
  "lineage.values_to": "Values that follow it (DIRECT)", "lineage.shapes": "Rows it decides (INDIRECT)",
  "lineage.nothing": "Nothing medlake knows of", "lineage.field": "Field", "lineage.kind": "Kind", "lineage.how": "How",
  "lineage.columns": "columns", "lineage.no_columns": "No columns known", "lineage.none": "No lineage recorded yet (run a build).",
  "lineage.business": "Business columns its value comes from", "lineage.indirect_edges": "Filters and joins that shape it (INDIRECT)",
  "lineage.input": "Input", "lineage.shapes_field": "Shapes",
  "kind.business": "business table", "kind.lake": "lake table", "kind.metric": "metric", "kind.dashboard": "dashboard",
  "metric.back": "← Back to the metric catalog", "metric.dimensions": "Dimensions", "metric.formula": "Formula",
  "metric.lineage": "Lineage (down to business columns)", "metric.name": "Name", "metric.label_zh": "Chinese label",
  "metric.label_en": "English label", "metric.topic": "Topic", "metric.unit": "Unit", "metric.windows": "Windows",
  "metric.dimension": "Dimension", "metric.key": "Key column", "metric.source": "Source", "metric.part": "Part",
  "metric.call": "Daily aggregate", "metric.combine": "Merged over days by", "metric.combined": "Value from the parts", "metric.query": "Query",
});
Object.assign(I18N.zh, {
  "catalog.search": "搜索表、字段、指标、模型 (中文 / English)", "catalog.tables": "数据表",
  "catalog.back": "← 返回数据目录", "search.tables": "数据表", "search.columns": "字段",
  "search.metrics": "指标", "search.models": "模型", "search.none": "未找到",
  "table.overview": "概览", "table.lineage": "血缘", "table.columns": "字段",
  "table.schema_changes": "表结构变更", "table.history": "版本历史", "table.open_graph": "在血缘图中查看",
  "table.owner": "负责人", "table.tags": "标签", "table.layer": "分层", "table.rows": "行数", "table.bytes": "大小",
  "table.partitions": "分区数", "table.version": "Delta 版本", "table.freshness": "最近提交", "table.grain": "粒度",
  "table.no_changes": "所列版本中没有增删字段",
  "col.column": "字段", "col.type": "类型", "col.phi": "PHI", "col.origins": "来源业务字段", "col.doc": "说明",
  "h.version": "版本", "h.time": "时间", "h.operation": "操作", "h.rows_added": "新增行数",
  "h.added": "新增字段", "h.removed": "删除字段",
  "phi.own": "PHI（自身）", "phi.inherited": "PHI（继承）",
  "ago.min": "分钟前", "ago.h": "小时前", "ago.d": "天前",
  "lineage.hint": "点击表节点查看字段，点击字段查看上下游",
  "lineage.depth": "深度", "lineage.all": "全部", "lineage.direct_only": "仅值依赖 (DIRECT)",
  "lineage.upstream": "上游（来自）", "lineage.downstream": "下游（影响）",
  "lineage.values_from": "取值来自 (DIRECT)", "lineage.shaped_by": "决定其行的筛选、关联与键 (INDIRECT)",
  "lineage.values_to": "取值随之变化 (DIRECT)", "lineage.shapes": "其决定行的字段 (INDIRECT)",
  "lineage.nothing": "无已知上下游", "lineage.field": "字段", "lineage.kind": "类型", "lineage.how": "方式",
  "lineage.columns": "个字段", "lineage.no_columns": "无已知字段", "lineage.none": "尚无血缘记录（请先运行构建）。",
  "lineage.business": "取值来自的业务字段", "lineage.indirect_edges": "影响它的筛选与关联 (INDIRECT)",
  "lineage.input": "输入", "lineage.shapes_field": "作用于",
  "kind.business": "业务表", "kind.lake": "湖表", "kind.metric": "指标", "kind.dashboard": "看板",
  "metric.back": "← 返回指标目录", "metric.dimensions": "维度", "metric.formula": "计算公式",
  "metric.lineage": "血缘（到业务字段）", "metric.name": "名称", "metric.label_zh": "中文名",
  "metric.label_en": "英文名", "metric.topic": "主题", "metric.unit": "单位", "metric.windows": "窗口",
  "metric.dimension": "维度", "metric.key": "维度字段", "metric.source": "来源表", "metric.part": "部分",
  "metric.call": "每日聚合", "metric.combine": "跨日合并", "metric.combined": "由各部分计算", "metric.query": "查询",
});

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// An element with attributes (`text` sets its text) and children (nodes or text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return e;
}

// A table of rows whose cells are values or nodes, headed by the labels of `headers`.
function nodeTable(rows, headers) {
  const table = el("table");
  if (headers) {
    const head = table.createTHead().insertRow();
    headers.forEach((h) => head.appendChild(el("th", { text: t(h) })));
  }
  const body = table.createTBody();
  rows.forEach((r) => {
    const tr = body.insertRow();
    r.forEach((v) => {
      const td = tr.insertCell();
      if (v instanceof Node) td.appendChild(v);
      else if (v !== null && v !== undefined) {
        td.textContent = String(v);
        if (typeof v === "number") td.className = "num";
        else if (td.textContent.length > 60) td.className = "wrap";
      }
    });
  });
  return table;
}

const tableHref = (name) => `#table/${encodeURIComponent(name)}`;
const metricHref = (name) => `#metric/${encodeURIComponent(name)}`;
const graphHref = (name) => `#lineage/${encodeURIComponent(name)}`;
// Where a dataset of lineage opens: a lake table's page, a measure's page, else the graph.
function datasetHref(dataset, kind) {
  if (kind === "lake") return tableHref(dataset);
  if (kind === "metric") return metricHref(dataset.slice("metric:".length).split(".")[0]);
  return graphHref(dataset);
}
const tagList = (tags) => el("span", { class: "tags" }, ...(tags || []).map((x) => el("span", { class: "tag", text: x })));
const count = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString());
const when = (iso) => (iso ? new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB") : "–");
function ago(seconds) {
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} ${t("ago.min")}`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} ${t("ago.h")}`;
  return `${(seconds / 86400).toFixed(1)} ${t("ago.d")}`;
}
function facts(target, pairs) {
  target.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", {}, v ?? "–")]));
}

// ---- Search ----
let searchTimer = null, searchSeq = 0;

async function runSearch() {
  const q = $("catalog-search").value.trim();
  const box = $("search-results");
  const seq = ++searchSeq;
  if (!q) { box.hidden = true; box.replaceChildren(); return; }
  let r;
  try { r = await api(`/api/search?q=${encodeURIComponent(q)}`); }
  catch (e) { box.replaceChildren(el("div", { class: "error", text: e.message })); box.hidden = false; return; }
  if (seq !== searchSeq) return;
  const link = (href, text) => el("a", { href, text });
  const groups = [
    ["search.tables", r.tables, (x) => [link(tableHref(x.name), x.name), x.description, tagList(x.tags)]],
    ["search.columns", r.columns, (x) => [link(tableHref(x.table), `${x.table}.${x.column}`), x.doc]],
    ["search.metrics", r.metrics, (x) => [link(metricHref(x.name), x.name), lang === "zh" ? x.label_zh : x.label_en, x.topic, x.definition]],
    ["search.models", r.models, (x) => [link(tableHref(x.name), x.name), x.layer, x.description]],
  ].filter(([, items]) => items.length);
  box.replaceChildren(...groups.map(([key, items, row]) => el("div", { class: "result-group" },
    el("h4", { text: `${t(key)} (${items.length}${items.length >= 50 ? "+" : ""})` }), nodeTable(items.map(row)))));
  if (!groups.length) box.replaceChildren(el("p", { class: "muted", text: t("search.none") }));
  box.hidden = false;
}

// ---- Lineage lists: a column's upstream and downstream ----
// For each node of a walk, how the edges reaching it link (`DIRECT IDENTITY`, ...).
function linksOf(walk) {
  const by = new Map();
  walk.edges.forEach((e) => {
    const reached = walk.direction === "upstream" ? e.from : e.to;
    if (!by.has(reached)) by.set(reached, new Set());
    e.transformations.forEach((x) => by.get(reached).add(`${x.type} ${x.subtype}`));
  });
  return by;
}

function walkTable(nodes, links) {
  return el("div", { class: "grid" }, nodeTable(nodes.map((n) => [
    el("a", { href: datasetHref(n.dataset, n.kind), text: n.name }), t(`kind.${n.kind}`), n.depth,
    [...(links.get(n.name) || [])].join(", "),
  ]), ["lineage.field", "lineage.kind", "lineage.depth", "lineage.how"]));
}

function walkSection(titleKey, walk) {
  const links = linksOf(walk);
  const up = walk.direction === "upstream";
  const direct = walk.nodes.filter((n) => n.direct), indirect = walk.nodes.filter((n) => !n.direct);
  const box = el("div", { class: "walk" }, el("h4", { text: `${t(titleKey)} (${walk.nodes.length})` }));
  if (!walk.nodes.length) box.append(el("p", { class: "muted", text: t("lineage.nothing") }));
  if (direct.length) box.append(el("h5", { text: t(up ? "lineage.values_from" : "lineage.values_to") }), walkTable(direct, links));
  if (indirect.length) box.append(el("h5", { text: t(up ? "lineage.shaped_by" : "lineage.shapes") }), walkTable(indirect, links));
  return box;
}

async function loadColumnWalks(out, target, depth, direct) {
  const token = {};
  out.token = token;
  out.replaceChildren(el("p", { class: "muted", text: t("running") }));
  const query = (direction) => {
    const p = new URLSearchParams({ target, direction, direct: String(direct) });
    if (depth) p.set("depth", depth);
    return `/api/lineage?${p}`;
  };
  try {
    const [up, down] = await Promise.all([api(query("upstream")), api(query("downstream"))]);
    if (out.token === token) out.replaceChildren(walkSection("lineage.upstream", up), walkSection("lineage.downstream", down));
  } catch (e) {
    if (out.token === token) out.replaceChildren(el("div", { class: "error", text: e.message }));
  }
}

// A dataset's columns as buttons; a column clicked shows its upstream and downstream.
function renderColumnLineage(box, dataset, columns, kind) {
  const depth = el("select", {}, el("option", { value: "1", text: "1" }), el("option", { value: "2", text: "2" }),
    el("option", { value: "", text: t("lineage.all") }));
  const direct = el("input", { type: "checkbox" });
  const list = el("div", { class: "column-list" });
  const out = el("div", { class: "column-walks" });
  let selected = null;
  const load = () => { if (selected !== null) loadColumnWalks(out, `${dataset}.${selected}`, depth.value, direct.checked); };
  depth.addEventListener("change", load);
  direct.addEventListener("change", load);
  columns.forEach((c) => {
    const b = el("button", { type: "button", class: "column", text: c });
    b.addEventListener("click", () => {
      selected = c;
      list.querySelectorAll("button").forEach((x) => x.classList.toggle("on", x === b));
      load();
    });
    list.appendChild(b);
  });
  box.replaceChildren(
    el("h4", {}, el("a", { href: datasetHref(dataset, kind), text: dataset }), " ", el("span", { class: "muted", text: kind ? t(`kind.${kind}`) : "" })),
    el("div", { class: "toolbar" }, el("label", {}, t("lineage.depth"), " ", depth), el("label", {}, direct, " ", t("lineage.direct_only"))),
    columns.length ? list : el("p", { class: "muted", text: t("lineage.no_columns") }),
    out,
  );
}

// ---- Table page ----
let tableDetail = null;

function showTableTab(which) {
  $("td-overview").hidden = which !== "overview";
  $("td-lineage").hidden = which !== "lineage";
  $("td-show-overview").classList.toggle("on", which === "overview");
  $("td-show-lineage").classList.toggle("on", which === "lineage");
  if (which === "lineage" && tableDetail) {
    renderColumnLineage($("td-lineage-columns"), tableDetail.name, tableDetail.columns.map((c) => c.name), "lake");
  }
}

function phiBadge(c) {
  if (!c.phi) return "";
  return el("span", { class: `phi ${c.phi}`, text: t(`phi.${c.phi}`) });
}

async function showTablePage(name) {
  if (!name) { location.hash = "#tables"; return; }
  tableDetail = null;
  showTableTab("overview");
  $("td-name").textContent = name;
  $("td-open-graph").href = graphHref(name);
  for (const id of ["td-facts", "td-columns", "td-schema-changes", "table-history", "td-partitions", "td-lineage-columns"]) $(id).replaceChildren();
  $("td-grain").textContent = "";
  let d;
  try { d = await api(`/api/tables/${encodeURIComponent(name)}`); }
  catch (e) { $("td-description").textContent = e.message; return; }
  if ($("td-name").textContent !== d.name) return;
  tableDetail = d;
  $("td-description").textContent = d.description || "";
  $("td-grain").textContent = d.grain ? `${t("table.grain")}: ${d.grain}` : "";
  const fresh = d.freshness ? `${when(d.freshness.last_commit)} (${ago(d.freshness.age_seconds)})` : "–";
  facts($("td-facts"), [
    ["table.owner", d.owner || "–"], ["table.tags", d.tags.length ? tagList(d.tags) : "–"], ["table.layer", d.layer],
    ["table.rows", count(d.rows)], ["table.bytes", bytes(d.bytes)], ["table.partitions", count(d.partitions.length)],
    ["table.version", d.version], ["table.freshness", fresh],
  ]);
  $("td-columns").replaceChildren(nodeTable(d.columns.map((c) =>
    [c.name, c.type, phiBadge(c), (c.phi_origins || []).join(", "), c.doc || ""]),
  ["col.column", "col.type", "col.phi", "col.origins", "col.doc"]));
  $("td-schema-changes").replaceChildren(d.schema_changes.length
    ? nodeTable(d.schema_changes.map((s) => [s.version, when(s.time), s.added.join(", "), s.removed.join(", ")]),
      ["h.version", "h.time", "h.added", "h.removed"])
    : el("p", { class: "muted", text: t("table.no_changes") }));
  $("table-history").replaceChildren(nodeTable(d.history.map((h) => [h.version, when(h.time), h.operation || "", count(h.rows_added)]),
    ["h.version", "h.time", "h.operation", "h.rows_added"]));
  $("td-partitions").replaceChildren(nodeTable(d.partitions.slice(0, 60).map((p) => [p.dt, p.files, p.rows, bytes(p.bytes)]),
    ["dt", "files", "rows", "bytes"]));
}

// ---- Lineage graph: one column per layer, left to right ----
const LAYERS = ["business", "ods", "dim", "dwd", "dws", "ads", "metric", "dashboard"];
let lineageChart = null, lineageNodes = [];

// Positions in pixels: x by layer, `gap` apart; in each layer, nodes 24 px apart, ordered
// by where their inputs are.
function layout(data, gap) {
  // A layer medlake does not know goes between ads and metric, each in a column of its own.
  const extra = [...new Set(data.nodes.map((n) => n.layer).filter((l) => !LAYERS.includes(l)))].sort();
  const rank = (layer) => { const i = LAYERS.indexOf(layer); return i < 0 ? 5.5 + extra.indexOf(layer) / 100 : i; };
  const ranks = [...new Set(data.nodes.map((n) => rank(n.layer)))].sort((a, b) => a - b);
  const columns = ranks.map((r) => data.nodes.filter((n) => rank(n.layer) === r));
  const sources = new Map();
  data.links.forEach((l) => { if (!sources.has(l.target)) sources.set(l.target, []); sources.get(l.target).push(l.source); });
  const y = new Map();
  columns.forEach((col) => {
    const centre = (n) => {
      const ys = (sources.get(n.name) || []).filter((s) => y.has(s)).map((s) => y.get(s));
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : Infinity;
    };
    const at = new Map(col.map((n) => [n.name, centre(n)]));
    col.sort((a, b) => (at.get(a.name) - at.get(b.name)) || a.name.localeCompare(b.name));
    col.forEach((n, j) => y.set(n.name, (j - (col.length - 1) / 2) * 24));
  });
  const x = new Map();
  columns.forEach((col, i) => col.forEach((n) => x.set(n.name, i * gap)));
  const layers = columns.map((col) => col[0].layer);
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  // ECharts widens a zero extent to 2 (one either side): the same here keeps the scale 1.
  const extent = (n, step) => (n > 1 ? (n - 1) * step : 2);
  return { x, y, layers, width: extent(columns.length, gap), height: extent(tallest, 24) };
}

function drawLineage(data) {
  const box = $("lineage-graph");
  echarts.getInstanceByDom(box)?.dispose();
  const room = $("lineage-graph-wrap").clientWidth - 2;
  const layerCount = new Set(data.nodes.map((n) => n.layer)).size;
  const gap = Math.max(180, Math.floor((room - 260) / Math.max(1, layerCount - 1)));
  const { x, y, layers, width, height } = layout(data, gap);
  // The view is exactly the layout's size (scale 1 both ways, so nodes stay round).
  box.style.width = `${Math.max(room, width + 260)}px`;
  box.style.height = `${height + 90}px`;
  lineageNodes = data.nodes;
  lineageChart = echarts.init(box);
  lineageChart.setOption({
    animation: false,
    legend: { data: layers, top: 0 },
    tooltip: {
      formatter: (p) => (p.dataType === "node"
        ? `${esc(p.data.name)}<br>${esc(t(`kind.${p.data.kind}`))} · ${esc(p.data.layer)} · ${p.data.columns.length} ${esc(t("lineage.columns"))}`
        : `${esc(p.data.source)} → ${esc(p.data.target)}${p.data.direct ? "" : " (INDIRECT)"}`),
    },
    series: [{
      type: "graph", layout: "none", roam: true, left: 20, top: 50, width, height,
      categories: layers.map((name) => ({ name })),
      data: data.nodes.map((n) => ({
        name: n.name, x: x.get(n.name), y: y.get(n.name), category: layers.indexOf(n.layer),
        kind: n.kind, layer: n.layer, columns: n.columns, symbolSize: 10,
      })),
      links: data.links.map((l) => ({ source: l.source, target: l.target, direct: l.direct, lineStyle: l.direct ? {} : { type: "dashed" } })),
      label: { show: true, position: "right", fontSize: 10 },
      edgeSymbol: ["none", "arrow"], edgeSymbolSize: 5,
      lineStyle: { color: "source", opacity: 0.35, curveness: 0.1 },
      emphasis: { focus: "adjacency", lineStyle: { width: 2, opacity: 0.9 } },
    }],
  });
  lineageChart.on("click", (p) => { if (p.dataType === "node") selectNode(p.data.name); });
}

function selectNode(name) {
  const i = lineageNodes.findIndex((n) => n.name === name);
  if (i < 0) return;
  const n = lineageNodes[i];
  history.replaceState(null, "", graphHref(name));
  lineageChart.dispatchAction({ type: "downplay", seriesIndex: 0 });
  lineageChart.dispatchAction({ type: "highlight", seriesIndex: 0, dataIndex: i });
  renderColumnLineage($("lineage-columns"), n.name, n.columns, n.kind);
  $("lineage-columns").scrollIntoView({ block: "nearest" });
}

async function showLineage(focus) {
  $("lineage-error").hidden = true;
  try {
    const data = await api("/api/lineage/tables");
    drawLineage(data);
    if (focus) selectNode(focus);
  } catch (e) {
    $("lineage-error").textContent = e.message;
    $("lineage-error").hidden = false;
  }
}

// ---- Metric page ----
function metricLineage(walk, name) {
  const box = $("metric-lineage");
  if (!walk) { box.replaceChildren(el("p", { class: "muted", text: t("lineage.none") })); return; }
  const links = linksOf(walk);
  const business = walk.nodes.filter((n) => n.kind === "business" && n.direct);
  const direct = walk.nodes.filter((n) => n.direct);
  const indirect = [];
  walk.edges.forEach((e) => {
    const how = e.transformations.filter((x) => x.type === "INDIRECT").map((x) => x.subtype);
    if (how.length) indirect.push([e.from, how.join(", "), e.to]);
  });
  box.replaceChildren(
    el("p", {}, el("a", { href: graphHref(`metric:${name}`), text: t("table.open_graph") })),
    el("h5", { text: `${t("lineage.business")} (${business.length})` }),
    el("div", { class: "tags" }, ...business.map((n) => el("span", { class: "tag", text: n.name }))),
    el("h5", { text: `${t("lineage.values_from")} (${direct.length})` }),
    walkTable(direct, links),
    el("h5", { text: `${t("lineage.indirect_edges")} (${indirect.length})` }),
    el("div", { class: "grid" }, nodeTable(indirect, ["lineage.input", "lineage.how", "lineage.shapes_field"])),
  );
}

function formula(f) {
  if (f.kind === "query") return [el("h5", { text: t("metric.query") }), el("pre", { class: "sql", text: f.sql })];
  return [
    el("p", {}, `${t("metric.source")}: `, el("a", { href: tableHref(f.source), text: f.source })),
    el("div", { class: "grid" }, nodeTable(f.parts.map((p, i) => [`p${i}`, p.call, p.combine]), ["metric.part", "metric.call", "metric.combine"])),
    el("h5", { text: t("metric.combined") }),
    el("pre", { class: "sql", text: f.combined }),
  ];
}

async function showMetric(name) {
  for (const id of ["mp-facts", "mp-dimensions", "mp-formula", "metric-lineage"]) $(id).replaceChildren();
  $("mp-title").textContent = name || "";
  $("mp-definition").textContent = "";
  if (!name) return;
  let m;
  try { m = await api(`/api/metrics/${encodeURIComponent(name)}`); }
  catch (e) { $("mp-definition").textContent = e.message; return; }
  if ($("mp-title").textContent !== name) return;
  $("mp-title").textContent = `${lang === "zh" ? m.label_zh : m.label_en} · ${m.name}`;
  $("mp-definition").textContent = m.definition;
  facts($("mp-facts"), [
    ["metric.name", m.name], ["metric.label_zh", m.label_zh], ["metric.label_en", m.label_en], ["metric.topic", m.topic],
    ["metric.unit", m.unit], ["metric.windows", m.windows.map((w) => `${w}d`).join(", ")],
  ]);
  $("mp-dimensions").replaceChildren(nodeTable(m.dimensions.map((d) => [d.name, d.label_zh, d.label_en, d.key || ""]),
    ["metric.dimension", "metric.label_zh", "metric.label_en", "metric.key"]));
  $("mp-formula").replaceChildren(...formula(m.formula));
  metricLineage(m.lineage, m.name);
}

// ---- Wiring ----
const loadTableList = VIEWS.tables;
VIEWS.tables = () => { loadTableList(); runSearch(); };
VIEWS.table = showTablePage;
VIEWS.lineage = showLineage;
VIEWS.metric = showMetric;
$("catalog-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 200); });
$("td-show-overview").addEventListener("click", () => showTableTab("overview"));
$("td-show-lineage").addEventListener("click", () => showTableTab("lineage"));
window.addEventListener("resize", () => { if (lineageChart && !$("view-lineage").hidden) lineageChart.resize(); });
