//! What a test reads of a browser script's JSON report, strictly: a missing or mistyped field
//! fails. Not declared in `support/mod.rs` (the client crate's tests, which include it, have no
//! serde_json): a test that reads JSON includes it with `#[path = "support/json.rs"] mod json;`.

pub trait Field {
    fn str(&self) -> &str;
    fn num(&self) -> f64;
    fn arr(&self) -> &[serde_json::Value];
}

impl Field for serde_json::Value {
    fn str(&self) -> &str {
        self.as_str()
            .unwrap_or_else(|| panic!("not a string: {self}"))
    }
    fn num(&self) -> f64 {
        self.as_f64()
            .unwrap_or_else(|| panic!("not a number: {self}"))
    }
    fn arr(&self) -> &[serde_json::Value] {
        self.as_array()
            .unwrap_or_else(|| panic!("not an array: {self}"))
    }
}

/// The page errors (uncaught exceptions) among a report's `console` lines.
pub fn page_errors(report: &serde_json::Value) -> Vec<&str> {
    report["console"]
        .arr()
        .iter()
        .map(|e| e.str())
        .filter(|e| e.starts_with("pageerror"))
        .collect()
}

/// A report's `errorResponses` (URLs answered with an HTTP error), but for the favicon the
/// page does not have.
pub fn error_responses(report: &serde_json::Value) -> Vec<&str> {
    report["errorResponses"]
        .arr()
        .iter()
        .map(|e| e.str())
        .filter(|e| !e.ends_with("/favicon.ico"))
        .collect()
}
