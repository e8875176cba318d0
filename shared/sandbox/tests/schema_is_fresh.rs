//! The committed `schemas/sandbox-config.schema.json` must equal the schema of today's `SandboxConfig`.

#[test]
fn the_committed_sandbox_config_schema_is_fresh() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(mde_sandbox::CONFIG_SCHEMA_FILE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == mde_sandbox::render_config_schema(),
        "{} is stale or missing: run `cargo xtask schemas` and commit schemas/",
        path.display()
    );
}
