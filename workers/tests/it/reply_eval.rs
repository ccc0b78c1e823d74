//! The reply-quality evaluation (`python -m ventros_agents.reply_eval`) against the whole system:
//! the demo knowledge base uploaded through the API and indexed by the worker, 163 customer
//! messages in Portuguese and English answered by the real agent service through
//! `POST /api/v1/agents/draft`. The figures it prints are the README's; this test keeps them from
//! falling back unnoticed.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::ai_app;

fn eval(app_api: &str, key: &str, args: &[&str]) -> std::process::Output {
    let python = std::env::var("VENTROS_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    Command::new(python)
        .args(["-m", "ventros_agents.reply_eval"])
        .args(args)
        .args(["--api", app_api, "--key", key])
        .output()
        .expect("the evaluation runs")
}

#[tokio::test]
async fn replies_are_in_the_customers_language_truthful_and_honest_about_what_was_done() {
    let (app, agents) = ai_app(json!({"debounce_ms": 0})).await;
    let (api, key) = (app.api.clone(), app.api_key.clone());
    let out = std::env::temp_dir().join(format!("reply-eval-{}.json", uuid::Uuid::new_v4()));
    let out_arg = out.to_str().unwrap().to_owned();
    let (seeded, ran) = tokio::task::spawn_blocking(move || {
        let seeded = eval(&api, &key, &["seed"]);
        let ran = eval(&api, &key, &["run", "--json", &out_arg, "--show-failures"]);
        (seeded, ran)
    })
    .await
    .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let printed = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(
        ran.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    println!("{printed}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    for lang in ["pt", "en"] {
        let figures = &report["figures"][lang];
        assert!(figures["cases"].as_u64().unwrap() >= 75, "{figures}");
        // The offline default's floor, a little under what it measures (README): a regression in
        // language, facts, honesty or handoffs shows here.
        assert!(
            figures["passed"].as_f64().unwrap() >= FLOOR,
            "{lang}: {figures}\n{printed}"
        );
        assert_eq!(
            figures["honest"].as_f64().unwrap(),
            1.0,
            "{lang}: a reply broke a promise\n{printed}"
        );
    }
    drop(agents);
}

const FLOOR: f64 = 0.8;
