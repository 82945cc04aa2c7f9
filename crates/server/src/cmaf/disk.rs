//! The disk cache of finished segments (`--cache-dir`, `--cache-mb`): one file per segment
//! under a directory per video version, written whole then renamed into place (a crash
//! leaves no half segment), the least recently used removed past the bound. What it holds
//! survives a restart: the index is rebuilt from the files, oldest modification first.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::store::PartKey;

/// The cache of one server.
pub struct DiskCache {
    dir: PathBuf,
    limit: u64,
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// Each file's size and when it was last used (a counter).
    files: HashMap<PathBuf, (u64, u64)>,
    total: u64,
    clock: u64,
}

impl DiskCache {
    /// The cache in `dir` (created if missing), at most `limit` bytes.
    pub fn open(dir: &Path, limit: u64) -> io::Result<DiskCache> {
        std::fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for video in std::fs::read_dir(dir)?.flatten() {
            let Ok(entries) = std::fs::read_dir(video.path()) else {
                continue;
            };
            for f in entries.flatten() {
                let path = f.path();
                let Ok(meta) = f.metadata() else { continue };
                if path.extension().is_some_and(|e| e == "tmp") {
                    let _ = std::fs::remove_file(&path);
                } else if meta.is_file() {
                    let when = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    found.push((when, path, meta.len()));
                }
            }
        }
        found.sort();
        let mut index = Index::default();
        for (_, path, size) in found {
            index.clock += 1;
            index.total += size;
            index.files.insert(path, (size, index.clock));
        }
        let cache = DiskCache {
            dir: dir.to_path_buf(),
            limit,
            index: Mutex::new(index),
        };
        cache.evict();
        Ok(cache)
    }

    fn path(&self, key: &PartKey) -> PathBuf {
        self.dir
            .join(format!("{:016x}", key.video))
            .join(key.file_name())
    }

    /// The bytes of `key`, if held.
    pub fn read(&self, key: &PartKey) -> Option<Vec<u8>> {
        let path = self.path(key);
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.clock += 1;
        let clock = index.clock;
        let entry = index.files.get_mut(&path)?;
        entry.1 = clock;
        drop(index);
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                log::warn!("segment cache: {}: {e}", path.display());
                self.forget(&path);
                None
            }
        }
    }

    /// The size of `key`'s file, if held (asks the index only).
    pub fn size(&self, key: &PartKey) -> Option<u64> {
        let index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.files.get(&self.path(key)).map(|e| e.0)
    }

    /// Keeps `bytes` as `key`; a failure is logged and costs only the caching.
    pub fn write(&self, key: &PartKey, bytes: &[u8]) {
        let path = self.path(key);
        let tmp = path.with_extension("tmp");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            log::warn!("segment cache: writing {}: {e}", path.display());
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.clock += 1;
        let clock = index.clock;
        let size = bytes.len() as u64;
        if let Some((old, _)) = index.files.insert(path, (size, clock)) {
            index.total -= old;
        }
        index.total += size;
        drop(index);
        self.evict();
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.index.lock().map_or(0, |i| i.total)
    }

    fn forget(&self, path: &Path) {
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((size, _)) = index.files.remove(path) {
            index.total -= size;
        }
    }

    /// Removes the least recently used files until the cache is within its bound.
    fn evict(&self) {
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if index.total <= self.limit {
            return;
        }
        let mut by_age: Vec<(u64, PathBuf, u64)> = index
            .files
            .iter()
            .map(|(p, &(size, used))| (used, p.clone(), size))
            .collect();
        by_age.sort();
        for (_, path, size) in by_age {
            if index.total <= self.limit {
                break;
            }
            index.files.remove(&path);
            index.total -= size;
            if let Err(e) = std::fs::remove_file(&path) {
                log::debug!("segment cache: removing {}: {e}", path.display());
            }
            if let Some(dir) = path.parent() {
                // Only succeeds once the version's directory is empty.
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmaf::store::Part;

    fn key(n: u32) -> PartKey {
        PartKey {
            video: 7,
            rendition: "288p".into(),
            part: Part::Segment(n),
        }
    }

    #[test]
    fn the_least_recently_used_go_first_and_a_restart_keeps_the_rest() {
        let dir = std::env::temp_dir().join(format!("cmaf-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = DiskCache::open(&dir, 3000).unwrap();
        for n in 1..=3 {
            cache.write(&key(n), &vec![n as u8; 1000]);
        }
        assert_eq!(cache.bytes(), 3000);
        // Segment 1 is read, so 2 is now the least recently used: a fourth evicts it.
        assert_eq!(cache.read(&key(1)), Some(vec![1; 1000]));
        cache.write(&key(4), &[4; 1000]);
        assert_eq!(cache.bytes(), 3000);
        assert_eq!(cache.read(&key(2)), None);
        assert!(cache.size(&key(1)).is_some() && cache.size(&key(4)).is_some());
        drop(cache);
        // A stray temporary file (a crash mid-write) is removed, not indexed.
        std::fs::write(dir.join(format!("{:016x}", 7)).join("288p-9.tmp"), b"half").unwrap();
        let again = DiskCache::open(&dir, 3000).unwrap();
        assert_eq!(again.bytes(), 3000);
        assert_eq!(again.read(&key(3)), Some(vec![3; 1000]));
        // A smaller bound on reopening evicts down to it.
        drop(again);
        let small = DiskCache::open(&dir, 1000).unwrap();
        assert_eq!(small.bytes(), 1000);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
