//! The OpenAPI document: generated, served, and fuzzed by schemathesis with no 5xx.

use super::*;

#[tokio::test]
async fn the_openapi_document_is_generated_served_and_survives_schemathesis() {
    // The whole stack, agent service included (GET /agents answers from it), and an API whose
    // rate limit will not turn the fuzzer's requests into 429s.
    let memory_address = format!("127.0.0.1:{}", support::free_port());
    let agents = support::AgentService::start(&memory_address).await;
    let app = TestApp::builder()
        .settings(quiet_settings())
        .agents(&agents.address, &memory_address)
        .spawn()
        .await;
    app.customer_writes("5511999990151@c.us", text("Oi"), 1, false)
        .await;
    let api = app
        .api()
        .agents(&agents.address)
        .memory(&memory_address)
        .configure(|c| {
            c.rate_limit_per_minute = 1_000_000;
            c.rate_limit_burst = 1_000_000;
        })
        .spawn()
        .await;
    let resp = app
        .http
        .get(format!("{api}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let spec: Value = resp.json().await.unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    let operations: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert!(operations >= 50, "{operations} operations documented");
    let docs = app
        .http
        .get(format!("{api}/api/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the interactive docs page"
    );

    let schemathesis = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/schemathesis");
    let output = tokio::process::Command::new(schemathesis)
        .args([
            "run",
            &format!("{api}/api/openapi.json"),
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--workers",
            "2",
        ])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", app.api_key),
        ])
        .args([
            "--seed",
            "1",
            "--no-color",
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
        ])
        .output()
        .await
        .expect("schemathesis (installed by scripts/test.sh into .venv)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("passed") || report.contains("PASSED"),
        "{report}"
    );
}
