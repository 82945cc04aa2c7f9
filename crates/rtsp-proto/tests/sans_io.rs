//! rtsp-proto is sans-IO: no sockets, no threads, no clock of its own. Time is an argument, so
//! every rule is a test that runs faster than real time. This test holds the crate to it: no
//! source outside test code names `std::net`, `std::thread`, `Instant::now` or
//! `SystemTime::now`.

use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 4] = ["std::net", "std::thread", "Instant::now", "SystemTime::now"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines of `source` outside `#[cfg(test)]` items: the item after the attribute runs to
/// the line where its braces balance again (a one-line item, such as `mod tests;`, ends at once).
fn non_test_lines(source: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut depth: i64 = 0;
    let mut skipping = false;
    let mut pending = false;
    for (n, line) in source.lines().enumerate() {
        if !skipping && line.trim_start().starts_with("#[cfg(test)]") {
            pending = true;
            continue;
        }
        if pending {
            pending = false;
            depth = 0;
            skipping = true;
        }
        if skipping {
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if depth <= 0 && (line.contains('}') || line.trim_end().ends_with(';')) {
                skipping = false;
            }
            continue;
        }
        out.push((n + 1, line));
    }
    out
}

/// The files that are test modules: each `#[cfg(test)] mod NAME;` of a file `DIR/F.rs` is
/// `DIR/F/NAME.rs` (or, for `lib.rs` and `mod.rs`, `DIR/NAME.rs`), with `NAME/mod.rs` too.
fn test_module_files(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut tests = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let declared = pair[1]
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'));
            let (true, Some(name)) = (pair[0] == "#[cfg(test)]", declared) else {
                continue;
            };
            let dir = file.parent().unwrap();
            let stem = file.file_stem().unwrap();
            let base = match stem == "lib" || stem == "mod" {
                true => dir.to_path_buf(),
                false => dir.join(stem),
            };
            tests.push(base.join(format!("{name}.rs")));
            tests.push(base.join(name).join("mod.rs"));
        }
    }
    tests
}

#[test]
fn no_sockets_threads_or_clock_reads_outside_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let test_files = test_module_files(&files);
    let mut found = Vec::new();
    for file in files {
        if test_files.contains(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in non_test_lines(&text) {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    found.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "not sans-IO:\n{}", found.join("\n"));
}

#[test]
fn test_items_are_skipped_and_the_rest_is_read() {
    let source =
        "use a;\n#[cfg(test)]\nmod tests {\n    fn f() { Instant::now(); }\n}\nfn g() {}\n";
    let lines: Vec<&str> = non_test_lines(source).into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, ["use a;", "fn g() {}"]);
    let one_line = "#[cfg(test)]\nmod tests;\nuse std::net;\n";
    let lines: Vec<&str> = non_test_lines(one_line)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(lines, ["use std::net;"]);
}
