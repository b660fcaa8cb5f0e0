//! `wsprobe schema`, checked by an independent validator (the `jsonschema` crate).

/// Compiled once.
fn schema_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft202012::new(&wsprobe::config::json_schema())
            .expect("wsprobe schema is a valid draft 2020-12 schema")
    })
}

/// The schema's verdict on a YAML document: every problem, one per line.
pub fn schema_errors(yaml: &str) -> Vec<String> {
    let document: serde_json::Value =
        serde_saphyr::from_str(yaml).unwrap_or_else(|err| panic!("not YAML: {err}\n{yaml}"));
    schema_validator()
        .iter_errors(&document)
        .map(|err| format!("{}: {err}", err.instance_path))
        .collect()
}

/// Every config the tests load passes the schema an editor would check it against.
pub fn assert_schema_accepts(yaml: &str, origin: &str) {
    let errors = schema_errors(yaml);
    assert!(
        errors.is_empty(),
        "{origin} does not match `wsprobe schema`:\n{}\n---\n{yaml}",
        errors.join("\n")
    );
}
