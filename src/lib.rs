//! This package only owns the workspace-level tests in `tests/`.
