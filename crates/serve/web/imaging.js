// medlake web UI, medical imaging: the DICOM studies of a day or window (totals by
// modality as an ECharts bar and a table, the studies newest first, a modality filter),
// and a study's page with its series, each with a preview of its middle image for people
// allowed to see images (admins and accounts granted image_reader or phi_reader; `me`
// says so, by the same rule the preview route applies). The imaging metrics are the
// "imaging" dashboard, drawn by app.js.
// Loaded after app.js and catalog.js and uses their helpers (api, $, t, me, lang, option,
// bytes, el, nodeTable, count, facts, VIEWS, TAB_OF). Text goes into the page with
// textContent (el's "text"); the one HTML string (the chart's tooltip) is escaped.
"use strict";

Object.assign(I18N.en, {
  "nav.imaging": "Imaging", "img.title": "Medical imaging", "img.day": "Study day", "img.window": "Window",
  "img.modality": "Modality", "img.dashboard": "Imaging metrics", "img.by_modality": "Studies by modality",
  "img.totals": "Stored by modality", "img.studies": "Studies", "img.series": "Series", "img.instances": "Instances",
  "img.bytes": "Size", "img.study_uid": "Study UID", "img.series_uid": "Series UID", "img.study_date": "Study date",
  "img.study_time": "Time", "img.body_part": "Body part", "img.institution": "Institution", "img.station": "Station",
  "img.device": "Manufacturer / model", "img.matrix": "Matrix", "img.frames": "Frames", "img.series_number": "Series no.",
  "img.none": "No studies in this window.", "img.none_yet": "No DICOM studies have been ingested yet (medlake imaging ingest).",
  "img.truncated": "Showing the newest 200 studies; narrow the window or pick a modality.",
  "img.back": "← Back to imaging", "img.study": "Study",
  "img.need_role": "Images are shown to admins and to accounts granted the image_reader role (medlake users grant NAME image_reader).",
  "img.preview": "Preview of series", "img.preview_failed": "The image could not be loaded.", "img.loading": "loading…",
  "img.orders_without_study": "exams performed without images", "img.studies_without_order": "studies without an order",
});
Object.assign(I18N.zh, {
  "nav.imaging": "影像", "img.title": "医学影像", "img.day": "检查日", "img.window": "窗口",
  "img.modality": "模态", "img.dashboard": "影像指标", "img.by_modality": "各模态检查数",
  "img.totals": "各模态存储量", "img.studies": "检查", "img.series": "序列", "img.instances": "图像数",
  "img.bytes": "大小", "img.study_uid": "检查 UID", "img.series_uid": "序列 UID", "img.study_date": "检查日期",
  "img.study_time": "时间", "img.body_part": "部位", "img.institution": "机构", "img.station": "设备",
  "img.device": "厂商 / 型号", "img.matrix": "矩阵", "img.frames": "帧数", "img.series_number": "序列号",
  "img.none": "该时间窗内没有检查。", "img.none_yet": "尚未导入 DICOM 检查（medlake imaging ingest）。",
  "img.truncated": "仅显示最新的 200 个检查；请缩短时间窗或选择模态。",
  "img.back": "← 返回影像列表", "img.study": "检查",
  "img.need_role": "影像预览仅对管理员和被授予 image_reader 角色的账号显示（medlake users grant NAME image_reader）。",
  "img.orders_without_study": "已检查无影像", "img.studies_without_order": "影像无开单",
  "img.preview": "序列预览", "img.preview_failed": "影像加载失败。", "img.loading": "加载中…",
});

let imgChart = null, imgSeq = 0, studySeq = 0;

const studyHref = (uid) => `#study/${encodeURIComponent(uid)}`;
const previewSrc = (uid) => `/api/imaging/series/${encodeURIComponent(uid)}/preview.png`;
const imgBytes = (n) => (n === null || n === undefined ? "–" : bytes(Number(n)));
const imgText = (v) => (v === null || v === undefined || v === "" ? "–" : String(v));

function imagingQuery() {
  const q = new URLSearchParams();
  if ($("img-day").value) q.set("day", $("img-day").value);
  q.set("days", $("img-days").value || "1");
  if ($("img-modality").value) q.set("modality", $("img-modality").value);
  return q.toString();
}

// Studies per modality as bars; a click on one filters the list to it.
function drawModalities(totals) {
  if (imgChart) { imgChart.dispose(); imgChart = null; }
  const area = $("img-chart");
  area.replaceChildren();
  if (!totals.length) { area.textContent = t("img.none"); return; }
  imgChart = echarts.init(area);
  imgChart.setOption({
    tooltip: {
      trigger: "axis",
      formatter: (items) => {
        const x = totals[items[0].dataIndex];
        return `${esc(x.modality || "–")}<br>${esc(t("img.studies"))}: ${esc(count(x.studies))}` +
          `<br>${esc(t("img.instances"))}: ${esc(count(x.instances))}<br>${esc(t("img.bytes"))}: ${esc(imgBytes(x.bytes))}`;
      },
    },
    grid: { left: 48, right: 16, top: 16, bottom: 32 },
    xAxis: { type: "category", data: totals.map((x) => x.modality || "–") },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", barMaxWidth: 36, data: totals.map((x) => x.studies) }],
  });
  imgChart.on("click", (p) => {
    const modality = totals[p.dataIndex] && totals[p.dataIndex].modality;
    if (!modality) return;
    $("img-modality").value = modality;
    loadStudies();
  });
}

function renderStudies(d) {
  const days = d.days_available || [];
  const picked = d.day || "";
  $("img-day").replaceChildren(...days.map((x) => option(x, x, x === picked)));
  if (picked && !days.includes(picked)) $("img-day").prepend(option(picked, picked, true));
  const modality = d.modality || "";
  const modalities = d.totals.map((x) => x.modality).filter((m) => m);
  if (modality && !modalities.includes(modality)) modalities.push(modality);
  $("img-modality").replaceChildren(option("", t("all"), !modality), ...modalities.map((m) => option(m, m, m === modality)));

  drawModalities(d.totals);
  $("img-totals").replaceChildren(nodeTable(
    d.totals.map((x) => [imgText(x.modality), count(x.studies), count(x.instances), imgBytes(x.bytes)]),
    ["img.modality", "img.studies", "img.instances", "img.bytes"]));

  const list = $("img-studies");
  list.dataset.count = String(d.studies.length);
  if (!d.studies.length) {
    list.replaceChildren(el("p", { class: "muted", text: t(d.day ? "img.none" : "img.none_yet") }));
  } else {
    list.replaceChildren(nodeTable(d.studies.map((s) => [
      imgText(s.study_date), imgText(s.study_time), imgText(s.modality), imgText(s.body_part), imgText(s.institution),
      count(s.series), count(s.instances), imgBytes(s.bytes),
      el("a", { href: studyHref(s.study_uid), class: "uid", text: s.study_uid }),
    ]), ["img.study_date", "img.study_time", "img.modality", "img.body_part", "img.institution",
      "img.series", "img.instances", "img.bytes", "img.study_uid"]));
    list.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.classList.add("clickable");
      tr.addEventListener("click", () => { location.hash = studyHref(d.studies[i].study_uid); });
    });
  }
  const studies = d.totals.reduce((n, x) => n + (x.studies || 0), 0);
  const r = d.reconciliation;
  const unmatched = r
    ? ` · ${count(r.orders_without_study)} ${t("img.orders_without_study")} · ${count(r.studies_without_order)} ${t("img.studies_without_order")}`
    : "";
  $("img-summary").textContent = d.day
    ? `${d.from === d.day ? d.day : `${d.from} – ${d.day}`} · ${count(studies)} ${t("img.studies")}${unmatched}` : "";
  $("img-truncated").hidden = !d.truncated;
}

async function loadStudies() {
  const seq = ++imgSeq;
  $("img-error").hidden = true;
  let d;
  try { d = await api(`/api/imaging/studies?${imagingQuery()}`); }
  catch (e) {
    if (seq === imgSeq) { $("img-error").textContent = e.message; $("img-error").hidden = false; }
    return;
  }
  if (seq === imgSeq) renderStudies(d);
}

// `#imaging`: the studies of the day picked (the newest day with studies at first).
function showImaging() { loadStudies(); }

// One series: its preview (or why there is none) and its facts.
function seriesCard(s, mayPreview) {
  const card = el("div", { class: "series-card", "data-series": s.series_uid });
  if (mayPreview) {
    const box = el("div", { class: "preview-box" });
    const img = el("img", { class: "preview", alt: `${t("img.preview")} ${imgText(s.series_number)}` });
    img.addEventListener("load", () => { img.dataset.loaded = "1"; });
    img.addEventListener("error", () => {
      img.dataset.failed = "1";
      box.replaceChildren(el("p", { class: "error", text: t("img.preview_failed") }));
    });
    img.src = previewSrc(s.series_uid);
    box.appendChild(img);
    card.appendChild(box);
  }
  const title = [`${t("img.series")} ${imgText(s.series_number)}`, s.modality, s.body_part].filter((x) => x).join(" · ");
  card.appendChild(el("h4", { text: title }));
  const matrix = s.image_rows && s.image_columns ? `${s.image_rows} × ${s.image_columns}` : "–";
  const device = [s.manufacturer, s.model_name].filter((x) => x).join(" / ") || "–";
  const dl = el("dl", { class: "facts series-facts" });
  facts(dl, [
    ["img.instances", count(s.instances)], ["img.matrix", matrix],
    ["img.frames", imgText(s.frames)], ["img.bytes", imgBytes(s.bytes)],
    ["img.station", imgText(s.station_name)], ["img.device", device],
  ]);
  card.append(dl, el("div", { class: "uid muted", text: s.series_uid }));
  return card;
}

// `#study/<uid>`: the study's facts and its series.
async function showStudy(uid) {
  const seq = ++studySeq;
  $("st-error").hidden = true;
  $("st-title").textContent = `${t("img.study")} ${uid || ""}`;
  $("st-facts").replaceChildren();
  $("st-series").replaceChildren(el("p", { class: "muted", text: t("img.loading") }));
  let d;
  try { d = await api(`/api/imaging/studies/${encodeURIComponent(uid || "")}`); }
  catch (e) {
    if (seq === studySeq) { $("st-error").textContent = e.message; $("st-error").hidden = false; $("st-series").replaceChildren(); }
    return;
  }
  if (seq !== studySeq) return;
  const first = d.series[0] || {};
  const sum = (k) => d.series.reduce((n, s) => n + (Number(s[k]) || 0), 0);
  const modalities = [...new Set(d.series.map((s) => s.modality).filter((m) => m))].join(", ");
  facts($("st-facts"), [
    ["img.study_uid", d.study_uid], ["img.study_date", `${imgText(first.study_date)} ${first.study_time || ""}`.trim()],
    ["img.modality", modalities || "–"], ["img.body_part", imgText(first.body_part)],
    ["img.institution", imgText(first.institution)], ["img.series", count(d.series.length)],
    ["img.instances", count(sum("instances"))], ["img.bytes", imgBytes(sum("bytes"))],
  ]);
  const mayPreview = !!(me && me.may_preview_images);
  $("st-note").textContent = t("img.need_role");
  $("st-note").hidden = mayPreview;
  $("st-series").replaceChildren(...d.series.map((s) => seriesCard(s, mayPreview)));
}

VIEWS.imaging = showImaging;
VIEWS.study = showStudy;
TAB_OF.study = "imaging";
window.addEventListener("resize", () => { if (imgChart && !$("view-imaging").hidden) imgChart.resize(); });
document.addEventListener("DOMContentLoaded", () => {
  for (const id of ["img-day", "img-days", "img-modality"]) $(id).addEventListener("change", loadStudies);
});
