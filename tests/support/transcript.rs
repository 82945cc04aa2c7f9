//! Captured exchanges of real peers (`tests/data/*.rtsp`): a header of `#` lines saying where
//! one came from, then records. `%% connection NAME` starts an RTSP connection, and
//! `%% C->S N` / `%% S->C N` is followed by exactly N bytes of one message as the peer sent it
//! (CRLF, bare LF and all) and one LF.

/// Who sent a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

/// One message as captured.
pub struct Record {
    pub connection: String,
    pub direction: Direction,
    pub bytes: Vec<u8>,
}

/// Reads a transcript: its records in order. Panics, naming the line, on a malformed file.
pub fn read_transcript(name: &str) -> Vec<Record> {
    let path = super::repo_root().join("tests/data").join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records = Vec::new();
    let mut connection = String::new();
    let mut pos = 0;
    while pos < data.len() {
        let eol = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |n| pos + n);
        let line = std::str::from_utf8(&data[pos..eol]).expect("record lines are text");
        pos = eol + 1;
        if line.starts_with('#') {
            assert!(
                records.is_empty(),
                "{name}: header line after a record: {line}"
            );
            continue;
        }
        if let Some(c) = line.strip_prefix("%% connection ") {
            connection = c.to_string();
            continue;
        }
        let (direction, len) = match line.split_once(' ').and_then(|(_, r)| r.split_once(' ')) {
            Some(("C->S", n)) => (Direction::ClientToServer, n),
            Some(("S->C", n)) => (Direction::ServerToClient, n),
            _ => panic!("{name}: not a record line: {line:?}"),
        };
        assert!(
            !connection.is_empty(),
            "{name}: record before any connection"
        );
        let len: usize = len.parse().expect("record length");
        let bytes = data
            .get(pos..pos + len)
            .unwrap_or_else(|| panic!("{name}: record {line:?} runs past the file"))
            .to_vec();
        pos += len;
        assert_eq!(data.get(pos), Some(&b'\n'), "{name}: no LF after {line:?}");
        pos += 1;
        records.push(Record {
            connection: connection.clone(),
            direction,
            bytes,
        });
    }
    records
}
