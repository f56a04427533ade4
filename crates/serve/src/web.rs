//! The web UI's files, built into the binary: the machines that run medlake may have no
//! internet, so nothing is fetched from a CDN.

/// The login page; `{{message}}` is replaced by an error paragraph or nothing.
pub const LOGIN_HTML: &str = include_str!("../web/login.html");
/// The application shell (dashboards, SQL Lab, catalog, lineage, metrics, quality,
/// monitoring, imaging, runs).
pub const APP_HTML: &str = include_str!("../web/app.html");

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "catalog.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/catalog.js"),
    ),
    (
        "quality.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/quality.js"),
    ),
    (
        "monitoring.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/monitoring.js"),
    ),
    (
        "imaging.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/imaging.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
    // Apache ECharts 5.6.0 (Apache-2.0; web/vendor/ECHARTS-LICENSE, ECHARTS-NOTICE).
    (
        "echarts.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/vendor/echarts-5.6.0.min.js"),
    ),
];

/// A static file by name: its content type and body.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, body)| (*t, *body))
}
