// Drives headless Chromium (Debian's /usr/bin/chromium) through the medlake web UI: login,
// every dashboard, a filter change, a SQL Lab query and the data catalog (search, table
// page, lineage graph, metric page). Fails on any console error, page
// error, failed request or empty chart, and saves a screenshot of each step.
//
// With MEDLAKE_ADMIN_ACCOUNT and MEDLAKE_ADMIN_PASSWORD it then logs in as that admin and
// opens the permissions and audit page: audit rows, a search, the policy file in force;
// then the data quality page: the table grid, a day with a check that did not pass, and
// that check's history chart; then the monitoring page: the component tiles, the alerts,
// the scheduler's book, the 24-hour charts and the rules in force; then the imaging
// pages: the studies of the newest day (totals by modality, the list), the first study's
// page with every series' preview image loaded. The viewer is offered neither the
// monitoring nor the imaging page; the imaging dashboard is among the dashboards above.
//
// Usage: node check.mjs BASE_URL ACCOUNT SCREENSHOT_DIR   (password in MEDLAKE_PASSWORD)
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, account, shots] = process.argv.slice(2);
const password = process.env.MEDLAKE_PASSWORD;
if (!base || !account || !shots || !password) {
  console.error("usage: MEDLAKE_PASSWORD=... node check.mjs BASE_URL ACCOUNT SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const problems = [];
const seen = { dashboards: [], charts: 0, tables: 0, screenshots: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()} at ${m.location().url}`); });
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`); });

async function shot(name) {
  const path = `${shots}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  seen.screenshots.push(path);
}

// Every chart area holds an ECharts instance with data, every table area has rows.
async function checkCharts(where) {
  const report = await page.evaluate(() => {
    const out = { charts: 0, tables: 0, empty: [] };
    document.querySelectorAll("#view-dashboard .chart-box").forEach((box) => {
      const title = box.querySelector("h4")?.textContent;
      const area = box.querySelector("div:last-child");
      const chart = window.echarts && echarts.getInstanceByDom(area);
      if (chart) {
        const series = chart.getOption().series || [];
        const points = series.reduce((n, s) => n + (s.data || []).filter((v) => v !== null && (v.value ?? v) !== null).length, 0);
        if (points === 0) out.empty.push(title); else out.charts++;
      } else if (area.querySelector("tbody tr")) {
        out.tables++;
      } else {
        out.empty.push(title);
      }
    });
    const cards = [...document.querySelectorAll("#headlines .card .value")].map((v) => v.textContent);
    out.cards = cards.length;
    out.blankCards = cards.filter((c) => c === "–").length;
    return out;
  });
  if (report.empty.length) problems.push(`${where}: empty charts: ${report.empty.join(", ")}`);
  if (report.cards === 0) problems.push(`${where}: no headline figures`);
  if (report.blankCards === report.cards) problems.push(`${where}: every headline figure is blank`);
  seen.charts += report.charts;
  seen.tables += report.tables;
  return report;
}

async function settle() {
  await page.waitForLoadState("networkidle");
  await page.waitForTimeout(300);
}

await page.goto(`${base}/login`);
await page.fill("input[name=name]", account);
await page.fill("input[name=password]", password);
await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
await settle();
await shot("01-after-login");

const links = await page.$$eval("#dashboard-links a", (as) => as.map((a) => a.getAttribute("href")));
if (links.length === 0) problems.push("no dashboards are listed");
for (const [i, href] of links.entries()) {
  await page.click(`#dashboard-links a[href="${href}"]`);
  await page.waitForFunction((h) => location.hash === h, href);
  await settle();
  const id = href.split("/")[1];
  const report = await checkCharts(`dashboard ${id}`);
  seen.dashboards.push({ id, charts: report.charts, tables: report.tables, cards: report.cards });
  await shot(`0${i + 2}-dashboard-${id}`);
}
if (!seen.dashboards.some((d) => d.id === "imaging")) problems.push("the imaging dashboard is not listed");

// A filter change: the first province, then the 7-day window; every chart redraws.
await page.click(`#dashboard-links a[href="${links[0]}"]`);
await settle();
const before = await page.$eval("#headlines", (h) => h.textContent);
const province = await page.$eval("#f-province", (s) => [...s.options].map((o) => o.value).find((v) => v));
if (!province) problems.push("the province filter offers no province");
else {
  await page.selectOption("#f-province", province);
  await settle();
  await page.selectOption("#f-window", "7");
  await settle();
  const after = await page.$eval("#headlines", (h) => h.textContent);
  if (after === before) problems.push("changing province and window did not change the headline figures");
  await checkCharts(`dashboard ${links[0]} filtered by ${province}, 7 days`);
  await shot("20-filtered");
}

// SQL Lab: a query with rows, then a syntax error marked with its position.
await page.click('a[href="#sql"]');
await page.fill("#sql-editor", "SELECT metric, dimension_value, value FROM ads_metric_value ORDER BY value DESC");
await page.click("#run");
await page.waitForSelector("#result tbody tr");
const rows = await page.$$eval("#result tbody tr", (r) => r.length);
if (rows === 0) problems.push("SQL Lab returned no rows");
seen.sqlLabRows = rows;
await shot("30-sql-lab");
await page.fill("#sql-editor", "SELECT metric FROM ads_metric_value WHERE");
await page.click("#run");
await page.waitForSelector("#error:not([hidden])");
const error = await page.$eval("#error", (e) => e.textContent);
if (!/line 1, column \d+/.test(error)) problems.push(`SQL Lab error does not give its position: ${error}`);
// That refusal was expected; the HTTP 400 it produced is not a problem of the page.
const expected = (p) => p.includes(" 400 ") && p.endsWith("/api/query");
await shot("31-sql-lab-error");

// Catalog pages: a table's columns and partitions, the metric catalog searched in Chinese,
// the run history.
await page.click('a[href="#tables"]');
await page.waitForSelector("#tables tbody tr");
await page.click("#tables tbody tr:has-text('ads_metric_value')");
await page.waitForSelector("#td-columns tbody tr");
seen.tableColumns = await page.$$eval("#td-columns tbody tr", (r) => r.length);
await shot("40-table-detail");
await page.click('a[href="#metrics"]');
await page.waitForSelector("#metrics tbody tr");
await Promise.all([
  page.waitForResponse((r) => r.url().endsWith("/api/query")),
  page.fill("#metric-search", "好评"),
]);
await settle();
await page.waitForSelector("#metrics tbody tr");
seen.metricsFound = await page.$$eval("#metrics tbody tr", (r) => r.length);
await shot("41-metric-catalog");

// The data catalog: a search, a table's Delta versions, the lineage graph with one
// column's upstream and downstream, a measure's page with its formula and lineage.
await page.click('a[href="#tables"]');
await page.fill("#catalog-search", "metric");
await page.waitForSelector("#search-results table");
seen.searchGroups = await page.$$eval("#search-results h4", (h) => h.length);
await page.click("#tables tbody tr:has-text('ads_metric_value')");
await page.waitForSelector("#table-history tbody tr");
seen.tableVersions = await page.$$eval("#table-history tbody tr", (r) => r.length);
await shot("43-catalog-table");
await page.evaluate(() => { location.hash = "#lineage/ads_metric_value"; });
await page.waitForSelector("#lineage-graph canvas");
await page.waitForSelector("#lineage-columns .column-list button");
await page.click("#lineage-columns .column-list button");
await page.waitForSelector("#lineage-columns .walk");
seen.lineageWalks = await page.$$eval("#lineage-columns .walk", (w) => w.length);
await shot("44-lineage-graph");
await page.click('a[href="#metrics"]');
await page.fill("#metric-search", "");
await settle();
await page.click("#metrics tbody tr");
await page.waitForSelector("#metric-page #mp-formula pre");
await page.waitForSelector("#metric-lineage > *");
seen.metricLineageTables = await page.$$eval("#metric-lineage table", (t) => t.length);
await shot("45-metric-page");
await page.click('a[href="#runs"]');
await page.waitForSelector("#runs tbody tr");
seen.runs = await page.$$eval("#runs tbody tr", (r) => r.length);
await shot("42-runs");

// The viewer has no permissions page; an admin's shows the audit and the policies.
seen.viewerSeesGovernance = await page.$eval("#nav-governance", (a) => !a.hidden);
seen.viewerSeesMonitoring = await page.$eval("#nav-monitoring", (a) => !a.hidden);
if (seen.viewerSeesMonitoring) problems.push("monitoring: the viewer is offered the monitoring page");
seen.viewerSeesImaging = await page.$eval("#nav-imaging", (a) => !a.hidden);
if (seen.viewerSeesImaging) problems.push("imaging: the viewer is offered the imaging page");
const adminAccount = process.env.MEDLAKE_ADMIN_ACCOUNT;
if (adminAccount) {
  const admin = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const adminPage = await admin.newPage();
  adminPage.on("pageerror", (e) => problems.push(`admin page error: ${e.message}`));
  adminPage.on("response", (r) => { if (r.status() >= 400) problems.push(`admin: HTTP ${r.status()} for ${r.url()}`); });
  await adminPage.goto(`${base}/login`);
  await adminPage.fill("input[name=name]", adminAccount);
  await adminPage.fill("input[name=password]", process.env.MEDLAKE_ADMIN_PASSWORD);
  await Promise.all([adminPage.waitForURL(`${base}/`), adminPage.click("button[type=submit]")]);
  await adminPage.click('a[href="#governance"]');
  await adminPage.waitForSelector("#audit tbody tr");
  seen.auditRows = await adminPage.$$eval("#audit tbody tr", (r) => r.length);
  await adminPage.fill("#audit-account", account);
  await Promise.all([
    adminPage.waitForResponse((r) => r.url().includes("/api/audit?")),
    adminPage.click("#audit-search"),
  ]);
  await adminPage.waitForTimeout(300);
  seen.auditAccounts = await adminPage.$$eval("#audit tbody tr td:nth-child(3)", (c) => [...new Set(c.map((x) => x.textContent))]);
  seen.policyFile = (await adminPage.$eval("#policy-editor", (e) => e.value)).includes("[[policy]]");
  await adminPage.screenshot({ path: `${shots}/50-permissions-and-audit.png`, fullPage: false });
  seen.screenshots.push(`${shots}/50-permissions-and-audit.png`);

  // Data quality: the tables of the newest day checked; when every check of that day
  // passed, the day the day list marks with warnings or failures (the fixture injects a
  // fault on one day); a check that did not pass, and its history drawn.
  await adminPage.click('a[href="#quality"]');
  await adminPage.waitForSelector("#q-tables .q-tile");
  const issues = () => adminPage.$eval("#q-summary", (s) => Number(s.dataset.warn) + Number(s.dataset.fail));
  if ((await issues()) === 0) {
    const day = await adminPage.$eval("#q-day", (s) => [...s.options].find((o) => Number(o.dataset.issues) > 0)?.value);
    if (!day) problems.push("quality: no day in the day list has a check that did not pass");
    else {
      await adminPage.selectOption("#q-day", day);
      // A selector, not waitForFunction: the page's CSP forbids the eval its polling uses.
      await adminPage.waitForSelector(`#q-summary[data-day="${day}"]`);
      await adminPage.waitForSelector("#q-tables .q-tile");
    }
  }
  seen.qualityDay = await adminPage.$eval("#q-summary", (s) => s.dataset.day);
  seen.qualityTables = await adminPage.$$eval("#q-tables .q-tile", (t) => t.length);
  seen.qualityIssues = await issues();
  if (seen.qualityTables === 0) problems.push("quality: the page shows no table");
  const statuses = await adminPage.$$eval("#q-tables .q-status, #q-failing .q-status", (s) => s.map((x) => x.textContent));
  if (!statuses.some((s) => s !== "pass")) problems.push("quality: no status other than pass is shown");
  seen.qualityFailing = await adminPage.$$eval("#q-failing tbody tr", (r) => r.length);
  if (seen.qualityFailing === 0) problems.push("quality: no check that did not pass is listed");
  else {
    await adminPage.click("#q-failing tbody tr");
    await adminPage.waitForSelector("#q-check-chart canvas");
    await adminPage.waitForSelector("#q-check-history tbody tr");
    seen.qualityHistoryPoints = await adminPage.evaluate(() => {
      const chart = echarts.getInstanceByDom(document.getElementById("q-check-chart"));
      return chart ? ((chart.getOption().series[0] || {}).data || []).length : 0;
    });
    if (!seen.qualityHistoryPoints) problems.push("quality: the check's history chart has no points");
  }
  await adminPage.waitForTimeout(300);
  await adminPage.screenshot({ path: `${shots}/51-quality.png`, fullPage: true });
  seen.screenshots.push(`${shots}/51-quality.png`);

  // Monitoring: a tile per component (the monitor's first round runs as the server
  // starts), the firing alert of the failed day, the scheduler's section, a
  // box per 24-hour chart series and the rules in force.
  const components = ["business_db", "capture", "lander", "kafka", "lake", "catalog", "scheduler", "serving"];
  await adminPage.click('a[href="#monitoring"]');
  await adminPage.waitForSelector("#mon-components .mon-tile:nth-child(8)", { timeout: 45000 })
    .catch(() => problems.push("monitoring: fewer than 8 component tiles after 45 s"));
  await adminPage.waitForSelector("#mon-alerts[data-count]");
  // The fixture's third day failed its checks: its BuildFailed alert fires on the
  // monitor's first round; the page shows it (refreshing every 15 s).
  await adminPage.waitForFunction(
    () => document.getElementById("mon-alerts").textContent.includes("BuildFailed"),
    null, { timeout: 45000 },
  ).catch(() => problems.push("monitoring: the failed build's BuildFailed alert is not shown"));
  await adminPage.waitForSelector("#mon-charts .chart-box").catch(() => {}); // counted below
  const monitoring = await adminPage.evaluate(() => ({
    tiles: [...document.querySelectorAll("#mon-components .mon-tile")].map((t) => `${t.dataset.component}:${t.dataset.state}`),
    alerts: Number(document.getElementById("mon-alerts").dataset.count),
    rules: document.querySelectorAll("#mon-rules tbody tr").length,
    scheduler: document.getElementById("mon-scheduler").children.length,
    charts: document.querySelectorAll("#mon-charts .chart-box").length,
    drawn: [...document.querySelectorAll("#mon-charts .chart-box")].filter((b) => b.querySelector(".mon-chart svg")).length,
    error: document.getElementById("mon-error").hidden ? "" : document.getElementById("mon-error").textContent,
  }));
  Object.assign(seen, {
    monitoringTiles: monitoring.tiles, monitoringAlerts: monitoring.alerts, monitoringRules: monitoring.rules,
    monitoringCharts: monitoring.charts, monitoringChartsDrawn: monitoring.drawn,
  });
  if (monitoring.error) problems.push(`monitoring: ${monitoring.error}`);
  const missing = components.filter((c) => !monitoring.tiles.some((t) => t.startsWith(`${c}:`)));
  if (monitoring.tiles.length < 8 || missing.length) problems.push(`monitoring: component tiles missing: ${missing.join(", ")}`);
  if (monitoring.rules === 0) problems.push("monitoring: no alert rule is listed");
  if (monitoring.scheduler === 0) problems.push("monitoring: the scheduler's section is empty");
  if (monitoring.charts === 0) problems.push("monitoring: no 24-hour chart");
  await adminPage.waitForTimeout(300);
  await adminPage.screenshot({ path: `${shots}/52-monitoring.png`, fullPage: true });
  seen.screenshots.push(`${shots}/52-monitoring.png`);

  // Imaging: the studies of the newest day with studies, drawn by modality; the first
  // study's page, where an admin sees every series' preview (a PNG the server renders
  // from the ingested DICOM file).
  await adminPage.click('a[href="#imaging"]');
  await adminPage.waitForSelector("#img-studies tbody tr", { timeout: 30000 })
    .catch(() => problems.push("imaging: no study is listed"));
  seen.imagingStudies = await adminPage.$$eval("#img-studies tbody tr", (r) => r.length);
  if (seen.imagingStudies > 0) {
    await adminPage.waitForSelector("#img-chart canvas")
      .catch(() => problems.push("imaging: the studies-by-modality chart is not drawn"));
    seen.imagingModalities = await adminPage.$$eval("#img-totals tbody tr", (r) => r.length);
    await adminPage.waitForTimeout(300);
    await adminPage.screenshot({ path: `${shots}/53-imaging-studies.png`, fullPage: true });
    seen.screenshots.push(`${shots}/53-imaging-studies.png`);
    await adminPage.click("#img-studies tbody tr a");
    await adminPage.waitForSelector("#st-series .series-card");
    seen.studySeries = await adminPage.$$eval("#st-series .series-card", (c) => c.length);
    // Each preview's load or error marks its <img> (a selector: the CSP forbids eval).
    await adminPage.waitForSelector("#st-series img.preview[data-loaded], #st-series .preview-box .error", { timeout: 30000 })
      .catch(() => {});
    await adminPage.waitForLoadState("networkidle");
    const previews = await adminPage.$$eval("#st-series img.preview", (imgs) => ({
      loaded: imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
      failed: document.querySelectorAll("#st-series .preview-box .error").length,
    }));
    seen.previewImages = previews.loaded;
    if (previews.loaded === 0) problems.push("imaging: no series preview image loaded");
    if (previews.failed) problems.push(`imaging: ${previews.failed} series previews failed to load`);
    seen.studyNoteShown = await adminPage.$eval("#st-note", (n) => !n.hidden);
    if (seen.studyNoteShown) problems.push("imaging: an admin is told images need the image_reader role");
    await adminPage.waitForTimeout(300);
    await adminPage.screenshot({ path: `${shots}/54-study-preview.png`, fullPage: true });
    seen.screenshots.push(`${shots}/54-study-preview.png`);
  }
  await admin.close();
}

await browser.close();
const real = problems.filter((p) => !expected(p));
console.log(JSON.stringify({ ...seen, problems: real }));
process.exit(real.length ? 1 : 0);
