// medlake web UI, monitoring (analysts and admins): the components' states as tiles, the
// alerts pending and firing (those an active silence mutes marked), the active silences,
// the scheduler's status and book of days, the alert history and the notifications sent,
// the 24-hour charts (ECharts, SVG renderer) and the rules in force. Admins set and end
// silences and ask for a day to run again. Refreshes itself every 15 s while open.
// Loaded after app.js, catalog.js and quality.js and uses their helpers (api, $, t, me, el,
// nodeTable, tagList, facts, when, ago, esc, bytes, VIEWS). Text goes into the page with
// textContent; the one HTML string (a chart's tooltip) is escaped.
"use strict";

Object.assign(I18N.en, {
  "nav.monitoring": "Monitoring", "mon.title": "Monitoring", "mon.updated": "Last round",
  "mon.first_round": "waiting for the monitor's first round", "mon.every": "refreshes every 15 s",
  "mon.unavailable": "This server runs no monitor: there is nothing to show here.",
  "mon.components": "Components",
  "mon.c.business_db": "Business database", "mon.c.capture": "Change capture", "mon.c.lander": "Lander",
  "mon.c.kafka": "Kafka", "mon.c.lake": "Lake", "mon.c.catalog": "Catalog", "mon.c.scheduler": "Scheduler",
  "mon.c.serving": "Serving",
  "mon.s.up": "up", "mon.s.degraded": "degraded", "mon.s.down": "down", "mon.s.unknown": "unknown",
  "mon.alerts": "Alerts", "mon.no_alerts": "No alert is pending or firing.",
  "mon.severity": "Severity", "mon.state": "State", "mon.rule": "Rule", "mon.summary": "Summary",
  "mon.labels": "Labels", "mon.since": "Since",
  "mon.a.pending": "pending", "mon.a.firing": "firing", "mon.a.resolved": "resolved",
  "mon.silenced": "silenced", "mon.silence": "Silence", "mon.silence_title": "Silence the alerts matching",
  "mon.matchers": "Labels to match:", "mon.hours": "Hours", "mon.reason": "Reason", "mon.silence_set": "Set silence",
  "mon.cancel": "Cancel", "mon.need_matcher": "tick at least one label", "mon.need_reason": "give a reason",
  "mon.silence_done": "silence set, number",
  "mon.silences": "Active silences", "mon.no_silences": "No silence is active.", "mon.matches": "Matches",
  "mon.ends": "Ends", "mon.by": "Set by", "mon.end": "End", "mon.ended": "silence ended, number",
  "mon.pipeline": "Pipeline", "mon.no_scheduler": "This server runs no scheduler ([schedule] is not set).",
  "mon.role": "Role", "mon.leader": "leader", "mon.standby": "standby", "mon.holder": "Scheduler",
  "mon.running": "Running", "mon.idle": "nothing running", "mon.newest_due": "Newest day due",
  "mon.last_tick": "Last looked", "mon.blocked": "Blocked at", "mon.late": "Late days",
  "mon.succeeded_n": "Days succeeded", "mon.failed_n": "Attempts failed", "mon.note": "Note",
  "mon.day": "Day", "mon.attempts": "Attempts", "mon.step": "Step", "mon.started": "Started",
  "mon.finished": "Finished", "mon.next_try": "Next try", "mon.message": "Message",
  "mon.no_book": "The scheduler's book is empty.", "mon.rerun": "Rerun", "mon.rerun_set": "set to run again",
  "mon.d.pending": "pending", "mon.d.running": "running", "mon.d.succeeded": "succeeded", "mon.d.failed": "failed",
  "mon.history": "Alert history", "mon.no_history": "No alert has fired yet.", "mon.ended_at": "Ended",
  "mon.notifications": "Notifications", "mon.no_notifications": "Nothing sent yet.", "mon.receiver": "Receiver",
  "mon.status": "Status", "mon.count": "Alerts", "mon.delivered": "Delivered", "mon.error": "Error",
  "mon.sent": "Sent", "mon.yes": "yes", "mon.no": "no",
  "mon.charts": "Last 24 hours", "mon.no_points": "no points yet",
  "mon.rules": "Alert rules", "mon.origin": "From", "mon.interval": "Evaluated every", "mon.receivers": "Receivers",
  "mon.none": "none", "mon.expr": "Expression", "mon.for": "For", "mon.rule_errors": "Rules that could not be evaluated",
});
Object.assign(I18N.zh, {
  "nav.monitoring": "运维监控", "mon.title": "运维监控", "mon.updated": "最近一轮",
  "mon.first_round": "等待监控的首轮采样", "mon.every": "每 15 秒刷新",
  "mon.unavailable": "本服务未运行监控，此页无可显示的内容。",
  "mon.components": "组件",
  "mon.c.business_db": "业务数据库", "mon.c.capture": "变更捕获", "mon.c.lander": "落地服务",
  "mon.c.kafka": "Kafka", "mon.c.lake": "数据湖", "mon.c.catalog": "元数据目录", "mon.c.scheduler": "调度器",
  "mon.c.serving": "查询服务",
  "mon.s.up": "正常", "mon.s.degraded": "降级", "mon.s.down": "故障", "mon.s.unknown": "未知",
  "mon.alerts": "告警", "mon.no_alerts": "当前没有待定或触发中的告警。",
  "mon.severity": "级别", "mon.state": "状态", "mon.rule": "规则", "mon.summary": "摘要",
  "mon.labels": "标签", "mon.since": "开始于",
  "mon.a.pending": "待定", "mon.a.firing": "触发中", "mon.a.resolved": "已恢复",
  "mon.sev.critical": "严重", "mon.sev.warning": "警告", "mon.sev.info": "提示",
  "mon.silenced": "已静默", "mon.silence": "静默", "mon.silence_title": "静默匹配以下标签的告警",
  "mon.matchers": "匹配的标签：", "mon.hours": "时长（小时）", "mon.reason": "原因", "mon.silence_set": "设置静默",
  "mon.cancel": "取消", "mon.need_matcher": "请至少勾选一个标签", "mon.need_reason": "请填写原因",
  "mon.silence_done": "已设置静默，编号",
  "mon.silences": "生效中的静默", "mon.no_silences": "没有生效中的静默。", "mon.matches": "匹配",
  "mon.ends": "结束于", "mon.by": "设置人", "mon.end": "结束", "mon.ended": "已结束静默，编号",
  "mon.pipeline": "数据流水线", "mon.no_scheduler": "本服务未运行调度器（未配置 [schedule]）。",
  "mon.role": "角色", "mon.leader": "主调度", "mon.standby": "备用", "mon.holder": "调度器",
  "mon.running": "运行中", "mon.idle": "无运行任务", "mon.newest_due": "最新应跑日",
  "mon.last_tick": "最近检查", "mon.blocked": "阻塞于", "mon.late": "延迟的日期",
  "mon.succeeded_n": "成功天数", "mon.failed_n": "失败次数", "mon.note": "说明",
  "mon.day": "业务日", "mon.attempts": "尝试次数", "mon.step": "步骤", "mon.started": "开始",
  "mon.finished": "结束", "mon.next_try": "下次重试", "mon.message": "信息",
  "mon.no_book": "调度记录为空。", "mon.rerun": "重跑", "mon.rerun_set": "已安排重跑",
  "mon.d.pending": "待运行", "mon.d.running": "运行中", "mon.d.succeeded": "成功", "mon.d.failed": "失败",
  "mon.history": "告警历史", "mon.no_history": "尚无告警记录。", "mon.ended_at": "结束",
  "mon.notifications": "通知记录", "mon.no_notifications": "尚未发送通知。", "mon.receiver": "接收方",
  "mon.status": "状态", "mon.count": "告警数", "mon.delivered": "已送达", "mon.error": "错误",
  "mon.sent": "发送时间", "mon.yes": "是", "mon.no": "否",
  "mon.charts": "近 24 小时", "mon.no_points": "暂无数据点",
  "mon.chart.query_p95_seconds": "查询耗时 P95（秒）", "mon.chart.queries_per_second": "每秒查询数",
  "mon.chart.capture_lag_seconds": "变更捕获延迟（秒）", "mon.chart.lake_volume_used_ratio": "数据湖磁盘使用率",
  "mon.chart.host_cpu_ratio": "主机 CPU 使用率", "mon.chart.process_resident_bytes": "服务常驻内存",
  "mon.chart.refused_logins_5m": "5 分钟内被拒登录次数",
  "mon.rules": "告警规则", "mon.origin": "来源", "mon.interval": "评估间隔", "mon.receivers": "接收方",
  "mon.none": "无", "mon.expr": "表达式", "mon.for": "持续", "mon.rule_errors": "无法评估的规则",
});

// The components in the order the strip shows them (others the monitor names follow).
const MON_COMPONENTS = ["business_db", "capture", "lander", "kafka", "lake", "catalog", "scheduler", "serving"];
const MON_REFRESH_MS = 15000;
let monTimer = null, monSeq = 0, monCharts = {};

const monAdmin = () => !!me && me.role === "admin";
// A translation of `prefix.value`, else the value itself (names the server gives).
const monT = (prefix, v) => { const k = `${prefix}.${v}`; const s = t(k); return s === k ? String(v ?? "") : s; };
const monBadge = (cls, text) => el("span", { class: `mon-badge ${cls}`, text });
const monState = (s) => monBadge(s, monT("mon.a", s));
const monSeverity = (s) => monBadge(s || "warning", monT("mon.sev", s || "warning"));
const monSince = (iso) => (iso ? `${when(iso)} (${ago(Math.max(60, (Date.now() - Date.parse(iso)) / 1000))})` : "–");
const monLabelTags = (labels) => tagList(Object.entries(labels || {})
  .filter(([k]) => k !== "alertname" && k !== "severity").map(([k, v]) => `${k}=${v}`));
const monEmpty = (key) => el("p", { class: "muted", text: t(key) });
function monStatus(id, text, ok) {
  const s = $(id);
  s.textContent = text;
  s.className = `mon-status ${ok ? "ok" : "bad"}`;
}

// The active silence whose every matcher equals the label (a missing label is ""), as the
// monitor decides it; `monitor.silenced` holds the same answer as fingerprints.
function monSilencing(labels, silences) {
  return silences.find((s) => {
    const m = Object.entries(s.matchers || {});
    return m.length > 0 && m.every(([k, v]) => String((labels || {})[k] ?? "") === String(v));
  });
}

// ---- Components ----
function renderComponents(components) {
  const order = (c) => { const i = MON_COMPONENTS.indexOf(c.name); return i < 0 ? MON_COMPONENTS.length : i; };
  const sorted = [...components].sort((a, b) => order(a) - order(b));
  $("mon-components").replaceChildren(...sorted.map((c) =>
    el("div", { class: `mon-tile ${c.state}`, "data-component": c.name, "data-state": c.state, title: c.name },
      el("span", { class: "name", text: monT("mon.c", c.name) }),
      el("span", { class: "state", text: monT("mon.s", c.state) }),
      el("span", { class: "detail", text: c.detail }))));
  if (!sorted.length) $("mon-components").replaceChildren(monEmpty("mon.first_round"));
}

// ---- Alerts and silences ----
function renderAlerts(alerts, silences) {
  const rank = (a) => (a.state === "firing" ? 0 : 1) * 10 + (a.labels?.severity === "critical" ? 0 : 1);
  const sorted = [...alerts].sort((a, b) => rank(a) - rank(b) || String(a.starts_at).localeCompare(String(b.starts_at)));
  const admin = monAdmin();
  const headers = ["mon.severity", "mon.state", "mon.rule", "mon.summary", "mon.labels", "mon.since", ""];
  const rows = sorted.map((a) => {
    const silence = monSilencing(a.labels, silences);
    const marks = el("span", { class: "tags" });
    if (silence) {
      const badge = monBadge("silenced", t("mon.silenced"));
      badge.title = `#${silence.id}: ${silence.reason}`;
      marks.append(badge);
    }
    if (admin && a.state === "firing") {
      const button = el("button", { type: "button", class: "mon-silence-open", text: t("mon.silence") });
      button.addEventListener("click", () => openSilenceForm(a));
      marks.append(button);
    }
    return [monSeverity(a.labels?.severity), monState(a.state), a.rule, a.summary, monLabelTags(a.labels),
      monSince(a.starts_at), marks];
  });
  const box = $("mon-alerts");
  box.dataset.count = String(sorted.length);
  box.dataset.firing = String(sorted.filter((a) => a.state === "firing").length);
  box.replaceChildren(rows.length ? nodeTable(rows, headers) : monEmpty("mon.no_alerts"));
  box.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.rule = sorted[i].rule; tr.dataset.state = sorted[i].state; });
}

// The form to silence alerts like `alert`: its labels as ticked boxes, hours, a reason.
function openSilenceForm(alert) {
  const form = $("mon-silence");
  const labels = { alertname: alert.rule, ...(alert.labels || {}) };
  const boxes = Object.entries(labels).map(([k, v]) => {
    const input = el("input", { type: "checkbox", "data-key": k });
    input.checked = true;
    input.dataset.value = v;
    return el("label", { class: "mon-matcher" }, input, ` ${k}=${v}`);
  });
  const hours = el("input", { type: "number", min: "0.25", max: "720", step: "0.25", value: "2", size: "6", id: "mon-silence-hours" });
  const reason = el("input", { size: "40", id: "mon-silence-reason" });
  const submit = el("button", { type: "submit", text: t("mon.silence_set") });
  const cancel = el("button", { type: "button", text: t("mon.cancel") });
  const status = el("span", { class: "mon-status bad" });
  form.replaceChildren(
    el("h4", { text: `${t("mon.silence_title")} · ${alert.rule}` }),
    el("div", { class: "mon-matchers" }, el("span", { class: "muted", text: t("mon.matchers") }), ...boxes),
    el("div", { class: "toolbar" }, el("label", {}, `${t("mon.hours")} `, hours),
      el("label", {}, `${t("mon.reason")} `, reason), submit, cancel, status));
  cancel.addEventListener("click", () => { form.hidden = true; });
  form.onsubmit = async (e) => {
    e.preventDefault();
    const matchers = {};
    form.querySelectorAll("input[type=checkbox]").forEach((b) => { if (b.checked) matchers[b.dataset.key] = b.dataset.value; });
    if (!Object.keys(matchers).length) { status.textContent = t("mon.need_matcher"); return; }
    if (!reason.value.trim()) { status.textContent = t("mon.need_reason"); return; }
    submit.disabled = true;
    try {
      const r = await api("/api/monitoring/silences", { matchers, hours: Number(hours.value), reason: reason.value.trim() });
      form.hidden = true;
      monStatus("mon-alert-status", `${t("mon.silence_done")} ${r.id}`, true);
      loadMonitoring();
    } catch (err) { status.textContent = err.message; }
    finally { submit.disabled = false; }
  };
  form.hidden = false;
  form.scrollIntoView({ block: "nearest" });
  reason.focus();
}

function renderSilences(silences) {
  const admin = monAdmin();
  const headers = ["mon.matches", "mon.ends", "mon.reason", "mon.by"];
  if (admin) headers.push("");
  const rows = silences.map((s) => {
    const row = [tagList(Object.entries(s.matchers || {}).map(([k, v]) => `${k}=${v}`)), when(s.ends_at), s.reason, s.created_by];
    if (admin) {
      const button = el("button", { type: "button", class: "mon-silence-end", text: t("mon.end") });
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await api(`/api/monitoring/silences/${encodeURIComponent(s.id)}`, undefined, undefined, "DELETE");
          monStatus("mon-alert-status", `${t("mon.ended")} ${s.id}`, true);
          loadMonitoring();
        } catch (e) { monStatus("mon-alert-status", e.message, false); button.disabled = false; }
      });
      row.push(button);
    }
    return row;
  });
  $("mon-silences").replaceChildren(rows.length ? nodeTable(rows, headers) : monEmpty("mon.no_silences"));
}

// ---- The pipeline: the scheduler's status and its book of days ----
function renderScheduler(s) {
  const box = $("mon-scheduler");
  if (!s) { box.replaceChildren(); box.append(el("dt", { text: t("mon.holder") }), el("dd", { text: t("mon.no_scheduler") })); return; }
  const running = s.running ? `${s.running[0]} · ${s.running[1]}` : t("mon.idle");
  facts(box, [
    ["mon.role", monBadge(s.leader ? "leader" : "standby", t(s.leader ? "mon.leader" : "mon.standby"))],
    ["mon.holder", `${s.holder} (token ${s.token})`],
    ["mon.running", s.running ? monBadge("running", running) : running],
    ["mon.newest_due", s.newest_due],
    ["mon.blocked", s.blocked ? monBadge("failed", s.blocked) : "–"],
    ["mon.late", (s.late_days || []).length ? monBadge("pending", s.late_days.join(", ")) : "–"],
    ["mon.succeeded_n", String(s.days_succeeded)],
    ["mon.failed_n", String(s.attempts_failed)],
    ["mon.last_tick", s.last_tick ? s.last_tick.replace("T", " ").slice(0, 19) : null],
    ["mon.note", s.note || "–"],
  ]);
}

function renderBook(book, hasScheduler) {
  const chip = (d) => el("span", { class: `mon-chip ${d.state}`, "data-day": d.day,
    title: [d.day, monT("mon.d", d.state), d.step, d.message].filter(Boolean).join(" · ") },
  el("span", { class: "day", text: d.day.slice(5) }), el("span", { class: "what", text: monT("mon.d", d.state) }));
  $("mon-timeline").replaceChildren(...book.map(chip));
  const admin = monAdmin() && hasScheduler;
  const headers = ["mon.day", "mon.state", "mon.attempts", "mon.step", "mon.started", "mon.finished", "mon.next_try", "mon.message"];
  if (admin) headers.push("");
  const newest = [...book].reverse();
  const rows = newest.map((d) => {
    const row = [d.day, monBadge(d.state, monT("mon.d", d.state)), d.attempts, d.step || "", d.started || "",
      d.finished || "", d.next_try || "", d.message || ""];
    if (admin) {
      const button = el("button", { type: "button", class: "mon-rerun", text: t("mon.rerun") });
      button.addEventListener("click", () => monRerun(d.day, button));
      row.push(button);
    }
    return row;
  });
  $("mon-book").replaceChildren(rows.length ? nodeTable(rows, headers) : monEmpty("mon.no_book"));
  $("mon-book").querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.day = newest[i].day; tr.dataset.state = newest[i].state; });
}

async function monRerun(day, button) {
  button.disabled = true;
  try {
    const r = await api("/api/schedule/rerun", { day });
    monStatus("mon-rerun-status", `${t("mon.rerun_set")}: ${(r.days || []).join(", ")}`, true);
    loadMonitoring();
  } catch (e) { monStatus("mon-rerun-status", `${day}: ${e.message}`, false); }
  finally { button.disabled = false; }
}

// ---- History and notifications ----
function renderHistory(history, notifications) {
  $("mon-history").replaceChildren(history.length ? nodeTable(history.map((h) => [monSeverity(h.severity),
    monState(h.state), h.rule, h.summary, monLabelTags(h.labels), when(h.starts_at), h.ends_at ? when(h.ends_at) : "–"]),
  ["mon.severity", "mon.state", "mon.rule", "mon.summary", "mon.labels", "mon.since", "mon.ended_at"]) : monEmpty("mon.no_history"));
  $("mon-notifications").replaceChildren(notifications.length ? nodeTable(notifications.map((n) => [n.receiver,
    monState(n.status), n.alerts, n.attempts, monBadge(n.delivered ? "succeeded" : "failed", t(n.delivered ? "mon.yes" : "mon.no")),
    n.error || "", when(n.sent)]),
  ["mon.receiver", "mon.status", "mon.count", "mon.attempts", "mon.delivered", "mon.error", "mon.sent"]) : monEmpty("mon.no_notifications"));
  $("mon-notifications").querySelectorAll("tbody tr").forEach((tr, i) => { if (!notifications[i].delivered) tr.classList.add("mon-failed"); });
}

// ---- 24-hour charts ----
function monValue(name, v) {
  if (v === null || v === undefined) return "–";
  if (name.endsWith("_ratio")) return `${(v * 100).toFixed(1)}%`;
  if (name.endsWith("_bytes")) return bytes(v);
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: 3 });
}

function renderCharts(series) {
  const box = $("mon-charts");
  const names = `${lang}:${series.map((s) => s.name).join(",")}`;
  if (box.dataset.names !== names) {
    Object.values(monCharts).forEach((c) => c.dispose());
    monCharts = {};
    box.replaceChildren(...series.map((s) => {
      const title = t(`mon.chart.${s.name}`) === `mon.chart.${s.name}` ? s.what : t(`mon.chart.${s.name}`);
      return el("div", { class: "chart-box", "data-series": s.name, title: s.expr },
        el("h4", { text: title }), el("div", { class: "muted mon-series", text: s.name }),
        el("p", { class: "muted mon-no-points", text: t("mon.no_points") }), el("div", { class: "mon-chart" }));
    }));
    box.dataset.names = names;
  }
  const now = Date.now();
  series.forEach((s, i) => {
    const item = box.children[i], area = item.querySelector(".mon-chart");
    const points = (s.points || []).filter((p) => p[1] !== null);
    item.dataset.points = String(points.length);
    item.querySelector(".mon-no-points").hidden = points.length > 0;
    area.hidden = points.length === 0;
    if (!points.length) { monCharts[s.name]?.dispose(); delete monCharts[s.name]; return; }
    const chart = monCharts[s.name] || (monCharts[s.name] = echarts.init(area, null, { renderer: "svg" }));
    chart.setOption({
      animation: false,
      grid: { left: 64, right: 12, top: 10, bottom: 24 },
      tooltip: {
        trigger: "axis",
        formatter: (p) => `${esc(new Date(p[0].value[0]).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB"))}<br>` +
          `${esc(monValue(s.name, p[0].value[1]))}`,
      },
      xAxis: { type: "time", min: now - 24 * 3600 * 1000, max: now },
      yAxis: { type: "value", scale: true, axisLabel: { formatter: (v) => monValue(s.name, v) } },
      series: [{ type: "line", showSymbol: false, data: s.points, lineStyle: { width: 1.5 }, areaStyle: { opacity: 0.08 } }],
    });
  });
}

// ---- Rules ----
function renderRules(m) {
  $("mon-rules-count").textContent = `(${m.rules.length})`;
  const receivers = (m.receivers || []).map(([name, kind]) => `${name} (${kind})`).join(", ") || t("mon.none");
  facts($("mon-rules-about"), [["mon.origin", m.rules_origin], ["mon.interval", `${m.interval_seconds} s`], ["mon.receivers", receivers]]);
  $("mon-rules").replaceChildren(m.rules.length ? nodeTable(m.rules.map((r) => [r.name, monSeverity(r.severity),
    el("code", { text: r.expr }), `${r.for_seconds} s`, r.summary]),
  ["mon.rule", "mon.severity", "mon.expr", "mon.for", "mon.summary"]) : monEmpty("mon.none"));
  const errors = m.rule_errors || [];
  $("mon-rule-errors").hidden = errors.length === 0;
  $("mon-rule-errors").replaceChildren(el("strong", { text: t("mon.rule_errors") }),
    ...errors.map(([rule, error]) => el("div", { text: `${rule}: ${error}` })));
}

// ---- Loading ----
function renderMonitoring(d) {
  const m = d.monitor;
  $("mon-updated").textContent = `${m.updated ? `${t("mon.updated")}: ${when(m.updated)}` : t("mon.first_round")} · ${t("mon.every")}`;
  renderComponents(m.components || []);
  renderAlerts(m.alerts || [], d.silences || []);
  renderSilences(d.silences || []);
  renderScheduler(d.scheduler);
  renderBook(d.book || [], !!d.scheduler);
  renderHistory(d.history || [], d.notifications || []);
  renderRules(m);
}

async function loadMonitoring() {
  const seq = ++monSeq;
  let d;
  try { d = await api("/api/monitoring"); }
  catch (e) {
    if (seq !== monSeq) return;
    const unavailable = e.status === 501 || (e.detail && e.detail.kind === "unavailable");
    $("mon-error").textContent = unavailable ? t("mon.unavailable") : e.message;
    $("mon-error").hidden = false;
    $("mon-body").hidden = unavailable;
    if (unavailable) { clearInterval(monTimer); monTimer = null; }
    return;
  }
  if (seq !== monSeq || $("view-monitoring").hidden) return;
  $("mon-error").hidden = true;
  $("mon-body").hidden = false;
  renderMonitoring(d);
  try {
    const c = await api("/api/monitoring/charts");
    if (seq === monSeq) renderCharts(c.series || []);
  } catch (e) {
    if (seq === monSeq) { $("mon-charts").replaceChildren(el("div", { class: "error", text: e.message })); $("mon-charts").dataset.names = ""; }
  }
}

// `#monitoring`: reads now and every 15 s until another view is shown.
function showMonitoring() {
  clearInterval(monTimer);
  monTimer = setInterval(() => {
    if ($("view-monitoring").hidden) { clearInterval(monTimer); monTimer = null; return; }
    loadMonitoring();
  }, MON_REFRESH_MS);
  loadMonitoring();
}

VIEWS.monitoring = showMonitoring;
window.addEventListener("resize", () => {
  if (!$("view-monitoring").hidden) Object.values(monCharts).forEach((c) => c.resize());
});
