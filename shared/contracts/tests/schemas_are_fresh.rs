//! The committed `schemas/*.schema.json` must equal what the contracts generate today.

use std::path::Path;

#[test]
fn committed_schemas_match_the_contract_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let mut stale = Vec::new();
    for file in mde_contracts::schemas::all() {
        let path = dir.join(file.file_name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != file.render() {
            stale.push(file.file_name);
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing schemas: {stale:?}; run `cargo xtask schemas` and commit schemas/"
    );
}
