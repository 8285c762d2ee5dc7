//! Durable storage: one redb table of JSON records, written through on every change.
//!
//! Why redb: it is a pure-Rust embedded database with ACID write transactions whose commit is
//! durable (fsync) before it returns by default, crash-safe without a recovery step we would
//! have to write, and one file under the data directory. SQLite would need a C build and
//! brings SQL we do not need; sled is unmaintained and its durability needs explicit flushes.
//!
//! Layout: table `records`, key `<kind>/<id…>`, value the record as JSON. JSON (not a binary
//! format) so a stored record can be read with any tool and old records keep loading when
//! members are added.

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

const RECORDS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("records");

/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "berth.redb";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// redb reported an error (open, transaction, commit, corruption).
    #[error("database error: {0}")]
    Db(#[source] Box<redb::Error>),
    /// A stored record is not valid JSON for its kind.
    #[error("stored record {key} cannot be read: {source}")]
    Corrupt {
        /// The record key.
        key: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored task's id is not one Berth makes (32 lowercase hex digits), so the cluster
    /// cannot index it.
    #[error(
        "stored record {key} cannot be read: its task id {id:?} is not 32 lowercase hex digits"
    )]
    TaskId {
        /// The record key.
        key: String,
        /// The id it holds.
        id: String,
    },
}

fn dberr<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// A change to one record: write this JSON, or delete the key (`None`).
pub type Change = (String, Option<Vec<u8>>);

/// What [`Store::load_split`] read.
#[derive(Debug)]
pub struct LoadedSplit<T> {
    /// The records outside the prefix, in key order, as stored.
    pub others: Vec<(String, Vec<u8>)>,
    /// The records under the prefix, in key order, parsed.
    pub parsed: Vec<(String, T)>,
}

/// The first key after every key that starts with `prefix` (`task/` → `task0`).
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    match end.pop() {
        Some(last) => {
            // Prefixes here end in an ASCII separator, whose successor is a character too.
            let next = char::from_u32(u32::from(last) + 1).unwrap_or(char::MAX);
            end.push(next);
        }
        None => end.push(char::MAX),
    }
    end
}

/// The redb database.
pub struct Store {
    db: Database,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) `<dir>/berth.redb`, or an in-memory database when `dir` is `None`.
    ///
    /// # Errors
    ///
    /// [`StoreError::CreateDir`] or [`StoreError::Db`] (including when another process has the
    /// file open).
    pub fn open(dir: Option<&Path>) -> Result<Store, StoreError> {
        let db = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
                Database::create(dir.join(FILE_NAME)).map_err(dberr)?
            }
            None => Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(dberr)?,
        };
        // Make sure the table exists so reads never fail on a fresh file.
        let txn = db.begin_write().map_err(dberr)?;
        txn.open_table(RECORDS).map_err(dberr)?;
        txn.commit().map_err(dberr)?;
        Ok(Store { db })
    }

    /// A store on a caller-given redb backend (tests inject storage failures with one).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn with_backend(backend: impl redb::StorageBackend) -> Result<Store, StoreError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(dberr)?;
        let txn = db.begin_write().map_err(dberr)?;
        txn.open_table(RECORDS).map_err(dberr)?;
        txn.commit().map_err(dberr)?;
        Ok(Store { db })
    }

    /// Every record, in key order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn load(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(RECORDS).map_err(dberr)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(dberr)? {
            let (k, v) = item.map_err(dberr)?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Whether no record is stored (a new data directory).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(RECORDS).map_err(dberr)?;
        table.is_empty().map_err(dberr)
    }

    /// [`Store::load`] with the records whose keys start with `prefix` (the kind that makes up
    /// most of a big store) read and parsed by `parse` on two threads, straight from the
    /// database's pages: one reads the first half forward while the other reads the second
    /// half backward, so neither copies a record out first. Answers the other records (key
    /// order) and the parsed ones (key order). Call it before anything writes (when opening):
    /// the two threads read in transactions of their own.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], or the first error `parse` returned.
    pub fn load_split<T: Send>(
        &self,
        prefix: &str,
        parse: impl Fn(&str, &[u8]) -> Result<T, StoreError> + Sync,
    ) -> Result<LoadedSplit<T>, StoreError> {
        let end = prefix_end(prefix);
        let txn = self.db.begin_read().map_err(dberr)?;
        let table = txn.open_table(RECORDS).map_err(dberr)?;
        let mut others = Vec::new();
        for range in [table.range(..prefix), table.range(end.as_str()..)] {
            for item in range.map_err(dberr)? {
                let (k, v) = item.map_err(dberr)?;
                others.push((k.value().to_string(), v.value().to_vec()));
            }
        }
        let total = usize::try_from(table.len().map_err(dberr)?).unwrap_or(usize::MAX);
        let n = total.saturating_sub(others.len());
        let two = std::thread::available_parallelism().is_ok_and(|p| p.get() > 1);
        // One half each way; `take` keeps the halves apart even without a split key.
        let front = if two && n >= 10_000 { n.div_ceil(2) } else { n };
        let read = |forward: bool, count: usize| -> Result<Vec<(String, T)>, StoreError> {
            let txn = self.db.begin_read().map_err(dberr)?;
            let table = txn.open_table(RECORDS).map_err(dberr)?;
            let range = table.range(prefix..end.as_str()).map_err(dberr)?;
            let items: Box<dyn Iterator<Item = _>> = if forward {
                Box::new(range)
            } else {
                Box::new(range.rev())
            };
            let mut out = Vec::with_capacity(count);
            for item in items.take(count) {
                let (k, v) = item.map_err(dberr)?;
                let key = k.value();
                out.push((key.to_string(), parse(key, v.value())?));
            }
            Ok(out)
        };
        let parsed = if front == n {
            read(true, n)?
        } else {
            let (first, second) = std::thread::scope(|s| {
                let back = s.spawn(|| read(false, n - front));
                let first = read(true, front);
                (first, back.join().expect("a store reader panicked"))
            });
            let mut parsed = first?;
            parsed.extend(second?.into_iter().rev());
            parsed
        };
        Ok(LoadedSplit { others, parsed })
    }

    /// Applies changes in one durable transaction: when this returns `Ok`, they survive a crash.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`]; nothing is written then.
    pub fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.commit_iter(changes.iter().cloned())
    }

    /// [`Store::commit`] over changes produced one at a time, so a big transaction (a
    /// reconciler pass that starts thousands of tasks) never holds every serialised record in
    /// memory at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`]; nothing is written then.
    pub fn commit_iter<I: IntoIterator<Item = Change>>(
        &self,
        changes: I,
    ) -> Result<(), StoreError> {
        self.stage(false, changes)?.commit()
    }

    /// Writes changes (after deleting every record when `clear`) into a transaction that is
    /// durable once [`Staged::commit`] returns: the caller can let go of what the records were
    /// read from before the fsync.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`]; nothing is written then.
    pub fn stage<I: IntoIterator<Item = Change>>(
        &self,
        clear: bool,
        changes: I,
    ) -> Result<Staged, StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        if clear {
            txn.delete_table(RECORDS).map_err(dberr)?;
        }
        {
            let mut table = txn.open_table(RECORDS).map_err(dberr)?;
            for (key, value) in changes {
                match value {
                    Some(v) => {
                        table.insert(key.as_str(), v.as_slice()).map_err(dberr)?;
                    }
                    None => {
                        table.remove(key.as_str()).map_err(dberr)?;
                    }
                }
            }
        }
        Ok(Staged { txn })
    }

    /// Deletes every record (test-control reset).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn clear(&self) -> Result<(), StoreError> {
        self.stage(true, std::iter::empty())?.commit()
    }
}

/// Changes written by [`Store::stage`], not yet durable.
pub struct Staged {
    txn: redb::WriteTransaction,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged").finish_non_exhaustive()
    }
}

impl Staged {
    /// Commits: when this returns `Ok`, the changes survive a crash. Dropped without it, they
    /// are rolled back.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`]; nothing is written then.
    pub fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().map_err(dberr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_load_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(Some(dir.path())).unwrap();
            s.commit(&[
                ("a/1".into(), Some(b"{}".to_vec())),
                ("b/2".into(), Some(b"[]".to_vec())),
            ])
            .unwrap();
            s.commit(&[("a/1".into(), None)]).unwrap();
        }
        let s = Store::open(Some(dir.path())).unwrap();
        assert_eq!(s.load().unwrap(), vec![("b/2".to_string(), b"[]".to_vec())]);
        assert!(!s.is_empty().unwrap());
        s.clear().unwrap();
        assert!(s.load().unwrap().is_empty());
        assert!(s.is_empty().unwrap());
    }

    /// A split load answers what a plain one does, split by the prefix, whether one thread
    /// reads the prefix (few records) or two meet in the middle (an odd number, so the halves
    /// differ by one).
    #[test]
    fn a_split_load_reads_every_record_once_in_order() {
        for n in [0, 3, 10_001] {
            let s = Store::open(None).unwrap();
            let mut changes: Vec<Change> = (0..n)
                .map(|i| (format!("task/c/{i:06}"), Some(i.to_string().into_bytes())))
                .collect();
            for k in ["service/c/a", "task", "taska/x", "taskdef/f/1", "meta"] {
                changes.push((k.into(), Some(b"0".to_vec())));
            }
            s.commit(&changes).unwrap();
            let split = s
                .load_split("task/", |k, v| {
                    Ok((k.to_string(), String::from_utf8(v.to_vec()).unwrap()))
                })
                .unwrap();
            let (inside, outside): (Vec<_>, Vec<_>) = s
                .load()
                .unwrap()
                .into_iter()
                .partition(|(k, _)| k.starts_with("task/"));
            assert_eq!(split.others, outside, "{n}");
            let parsed: Vec<(String, Vec<u8>)> = split
                .parsed
                .into_iter()
                .map(|(k, (k2, v))| {
                    assert_eq!(k, k2);
                    (k, v.into_bytes())
                })
                .collect();
            assert_eq!(parsed, inside, "{n}");
            assert_eq!(parsed.len(), n, "{n}");
        }
    }

    #[test]
    fn a_split_load_reports_what_the_parser_refused() {
        let s = Store::open(None).unwrap();
        let changes: Vec<Change> = (0..10_001)
            .map(|i| (format!("task/c/{i:06}"), Some(b"x".to_vec())))
            .collect();
        s.commit(&changes).unwrap();
        let err = s
            .load_split("task/", |k, _| {
                if k.ends_with("009999") {
                    Err(StoreError::TaskId {
                        key: k.into(),
                        id: "bad".into(),
                    })
                } else {
                    Ok(())
                }
            })
            .map(|_| ())
            .expect_err("the parser's error");
        assert!(err.to_string().contains("task/c/009999"), "{err}");
    }
}
