//! `docker-compose.yml` is a valid Compose file, checked by the docker CLI when one is installed
//! (no engine is needed to validate).

use std::process::Command;

/// `docker compose` (plugin) or `docker-compose` (standalone), whichever answers.
fn compose() -> Option<Vec<&'static str>> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("docker", &["compose", "version"]) {
        Some(vec!["docker", "compose"])
    } else if works("docker-compose", &["version"]) {
        Some(vec!["docker-compose"])
    } else {
        None
    }
}

#[test]
fn docker_compose_file_is_valid() {
    let Some(command) = compose() else {
        eprintln!("skipped: no docker compose CLI on this machine");
        return;
    };
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docker-compose.yml");
    let output = Command::new(command[0])
        .args(&command[1..])
        .args(["-f", file, "config", "-q"])
        .env("DANGAN_JWT_SECRET", "a-secret-for-validation-only")
        .env("DANGAN_ADMIN_PASSWORD", "a-password-for-validation-only")
        .env(
            "DANGAN_DB_APP_PASSWORD",
            "another-password-for-validation-only",
        )
        .env("DANGAN_FILES_KEY", "00".repeat(32))
        .output()
        .map_err(|e| e.to_string());
    let output = match output {
        Ok(output) => output,
        Err(e) => panic!("could not run {command:?}: {e}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
