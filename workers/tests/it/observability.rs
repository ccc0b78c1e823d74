//! Metrics as an operator's Prometheus sees them: Debian's `prometheus` scrapes the API's and the
//! worker's `/metrics`, and a customer's message moves the series it should (the webhook accepted,
//! a refused one counted by its reason, the greeting sent and its latency, the memory episode
//! stored, the outbox wait, the Temporal SDK's own worker metrics), while the public API port
//! serves no metrics. The compose deployment's Prometheus configuration and Grafana dashboard
//! (`deploy/`) are checked with the same tools.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{TestApp, eventually, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Debian's Prometheus on a free port, scraping `targets` every second; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Prometheus {
    fn start(targets: &[(&str, String)]) -> Prometheus {
        let dir = std::env::temp_dir().join(format!("ventros-prometheus-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let jobs: String = targets
            .iter()
            .map(|(job, target)| {
                format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n")
            })
            .collect();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}"),
        )
        .expect("config");
        let port = free_port();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's prometheus (scripts/test.sh installs it)");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// Prometheus' HTTP API answer at `path` (with `query` as the PromQL, if any).
    async fn api(&self, http: &reqwest::Client, path: &str, query: Option<&str>) -> Option<Value> {
        let mut request = http.get(format!("{}{path}", self.url));
        if let Some(query) = query {
            request = request.query(&[("query", query)]);
        }
        request.send().await.ok()?.json().await.ok()
    }

    /// The instant value of `query` (summed over its series), None while it has no data.
    async fn value(&self, http: &reqwest::Client, query: &str) -> Option<f64> {
        let body = self.api(http, "/api/v1/query", Some(query)).await?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn prometheus_sees_a_message_move_the_api_and_worker_series() {
    let worker_metrics = format!("127.0.0.1:{}", free_port());
    let app = TestApp::builder()
        .settings(json!({"debounce_ms": 0, "greeting": "Olá! Já vamos responder."}))
        .worker_env("WORKER_METRICS_BIND", &worker_metrics)
        .spawn()
        .await;
    // The API in this test process: its metrics on their own port, as API_METRICS_BIND does.
    let api_metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_metrics_address = api_metrics.local_addr().unwrap().to_string();
    tokio::spawn(ventros_api::metrics::serve(api_metrics));
    let prometheus = Prometheus::start(&[("api", api_metrics_address), ("worker", worker_metrics)]);
    let http = &app.http;
    eventually("both targets up", Duration::from_secs(60), || async {
        (prometheus.value(http, "sum(up)").await == Some(2.0)).then_some(())
    })
    .await;

    // A webhook without a valid signature is refused and counted by why.
    let refused = http
        .post(format!("{}/webhooks/waha/{}", app.api, app.channel_id))
        .json(&json!({"event": "message", "session": "default", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    app.customer_writes(
        "5511999990401@c.us",
        json!([{"body": "I moved to Recife last month"}]),
        1,
        false,
    )
    .await;

    for (what, query) in [
        (
            "the accepted webhook",
            r#"sum(ventros_webhooks_total{provider="waha",outcome="accepted"})"#,
        ),
        (
            "the refused webhook, by reason",
            r#"sum(ventros_webhooks_total{provider="waha",outcome="bad_signature"})"#,
        ),
        (
            "requests under their route template",
            r#"sum(ventros_http_requests_total{route="/webhooks/waha/{channel_id}",status="401"})"#,
        ),
        (
            "the memory episode stored by the worker",
            r#"sum(ventros_memory_episodes_total{kind="message"})"#,
        ),
        (
            "the reply sent",
            r#"sum(ventros_messages_sent_total{channel="waha",outcome="sent"})"#,
        ),
        (
            "the reply's latency from the customer's message",
            r#"sum(ventros_reply_latency_seconds_count)"#,
        ),
        (
            "the outbox event's wait for the memory feed",
            r#"sum(ventros_outbox_lag_seconds_count{consumer="memory"})"#,
        ),
        (
            "the Temporal SDK's own worker metrics",
            r#"sum(temporal_workflow_task_execution_latency_seconds_count)"#,
        ),
    ] {
        eventually(what, Duration::from_secs(60), || async {
            prometheus
                .value(http, query)
                .await
                .filter(|v| *v >= 1.0)
                .map(|_| ())
        })
        .await;
    }
    // Every query of the provisioned dashboard is PromQL this Prometheus accepts.
    for expr in dashboard_queries() {
        let answer = prometheus
            .api(http, "/api/v1/query", Some(&expr))
            .await
            .expect("an answer");
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
    }
    // No route label carries an id: every label value is a template or "other".
    let routes = prometheus
        .api(http, "/api/v1/label/route/values", None)
        .await
        .expect("an answer");
    let routes = routes["data"].as_array().cloned().unwrap_or_default();
    assert!(!routes.is_empty());
    for route in &routes {
        let route = route.as_str().unwrap_or_default();
        assert!(
            !route.contains(&app.channel_id.to_string()),
            "a raw path in a label: {route}"
        );
    }
    // The public port does not serve them.
    let public = http
        .get(format!("{}/metrics", app.api))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!public.contains("ventros_http_requests_total"));
}

fn deploy_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

/// The PromQL of every panel of the Ventros dashboard.
fn dashboard_queries() -> Vec<String> {
    let dashboard: Value = serde_json::from_slice(
        &std::fs::read(deploy_file("grafana/dashboards/ventros.json")).expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("a PromQL target").to_owned())
        .collect()
}

#[test]
fn the_compose_prometheus_and_grafana_files_are_valid_and_agree() {
    // promtool (Debian's prometheus package) checks the scrape configuration.
    let output = Command::new("/usr/bin/promtool")
        .args(["check", "config"])
        .arg(deploy_file("prometheus/prometheus.yml"))
        .output()
        .expect("promtool, from Debian's prometheus (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let config = std::fs::read_to_string(deploy_file("prometheus/prometheus.yml")).unwrap();
    assert!(config.contains("port: 9464") && config.contains("port: 9465"));
    // The dashboard reads the provisioned data source, and covers what an operator watches.
    let datasource = std::fs::read_to_string(deploy_file(
        "grafana/provisioning/datasources/prometheus.yml",
    ))
    .unwrap();
    assert!(datasource.contains("uid: ventros-prometheus"));
    let dashboard: Value = serde_json::from_slice(
        &std::fs::read(deploy_file("grafana/dashboards/ventros.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"], "ventros-prometheus",
            "{}",
            panel["title"]
        );
    }
    let queries = dashboard_queries().join("\n");
    for series in [
        "ventros_webhooks_total",
        "ventros_messages_sent_total",
        "ventros_reply_latency_seconds",
        "ventros_handoffs_total",
        "ventros_http_requests_total",
        "ventros_agent_calls_seconds",
        "ventros_campaign_skipped_total",
        "temporal_workflow_task_execution_latency_seconds",
    ] {
        assert!(queries.contains(series), "the dashboard shows no {series}");
    }
}
