//! The Kubernetes manifests (`deploy/k8s`): each Kustomize directory built and every resource
//! validated against the Kubernetes schemas and our rules by `scripts/validate-k8s.py`
//! (kubernetes-validate from the locked PyPI packages), and a broken copy refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn validate(directory: &Path) -> Output {
    Command::new(std::env::var("VENTROS_PYTHON").expect("VENTROS_PYTHON (scripts/test.sh sets it)"))
        .arg(root().join("scripts/validate-k8s.py"))
        .arg(directory)
        .output()
        .expect("the validator runs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_kubernetes_manifests_validate_and_a_broken_copy_does_not() {
    for directory in ["deploy/k8s/base", "deploy/k8s/overlays/production"] {
        let output = validate(&root().join(directory));
        assert!(
            output.status.success(),
            "{directory}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The same manifests with a misspelt field, a literal secret and MemoryService opened to all.
    let broken = std::env::temp_dir().join(format!("k8s-{}", uuid::Uuid::new_v4()));
    copy_dir(&root().join("deploy/k8s"), &broken);
    let edit = |file: &str, from: &str, to: &str| {
        let path = broken.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("base/api.yaml", "  replicas: 2", "  replicass: 2");
    edit(
        "base/mcp.yaml",
        "            - name: VENTROS_API_URL",
        "            - name: API_TOKEN_SECRET\n              value: literal\n            - name: VENTROS_API_URL",
    );
    edit(
        "base/network-policies.yaml",
        "  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: agents",
        "  ingress:\n    - ports:\n        - port: 50052\n    - from:\n        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: agents",
    );
    let output = validate(&broken.join("overlays/production"));
    let _ = std::fs::remove_dir_all(&broken);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a broken copy passed");
    for reason in [
        "'replicass' was unexpected",
        "API_TOKEN_SECRET is a literal",
        "worker: worker admits every source",
    ] {
        assert!(errors.contains(reason), "{reason} not reported: {errors}");
    }

    // Temporal's chart values take the database passwords from Secrets, never inline.
    let values = std::fs::read_to_string(root().join("deploy/k8s/temporal-values.yaml")).unwrap();
    assert_eq!(values.matches("existingSecret:").count(), 2);
    assert!(!values.contains("password:"));
}
