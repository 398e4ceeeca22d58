//! The outbox: notices wait here, in order, until the broker confirms them.
//!
//! Persisted as an append-only JSON-lines log in a directory (`--outbox-dir`):
//! `add` lines carry a notice, `done` lines list delivered sequence numbers,
//! `dropped` lines name notices given up for room. Replaying the log after a
//! restart gives the undelivered notices in their original order. Each line is
//! written to the OS before `push` returns, so a crash or SIGKILL of the process
//! loses nothing; the file is fsynced every [`SYNC_EVERY`] by the sink's
//! background task (a node power loss can lose that window). The log is compacted when mostly delivered.
//!
//! Bounded: at capacity, the oldest notice of the lowest severity is dropped
//! (counted and logged by the caller), so critical events outlive low ones.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::notify::Notice;

const LOG: &str = "outbox.jsonl";
pub const SYNC_EVERY: Duration = Duration::from_millis(100);
/// Compact when the log holds this many more lines than pending notices.
const COMPACT_SLACK: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("outbox {path}: encoding a notice: {source}")]
    Encode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// A queued notice with its place in the order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub seq: u64,
    pub notice: Notice,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Line {
    Add(Box<Queued>),
    Done(Vec<u64>),
    Dropped(u64),
}

/// What `push` had to give up to make room.
pub type Dropped = Option<Queued>;

pub struct Outbox {
    pending: VecDeque<Queued>,
    capacity: usize,
    next_seq: u64,
    log: Option<Log>,
}

struct Log {
    path: PathBuf,
    file: File,
    lines: usize,
    last_sync: Instant,
    dirty: bool,
}

impl Outbox {
    /// An outbox that does not survive a restart (no directory configured).
    pub fn in_memory(capacity: usize) -> Self {
        Outbox {
            pending: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
            log: None,
        }
    }

    /// Open (or create) the outbox in `dir`, replaying what a previous process left.
    pub fn open(dir: &Path, capacity: usize) -> Result<Self, OutboxError> {
        let path = dir.join(LOG);
        let io = |source| OutboxError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let (mut pending, next_seq, lines) = replay(&path).map_err(io)?;
        // A smaller capacity than last time: drop as `push` would.
        let mut outbox = Outbox {
            pending: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq,
            log: None,
        };
        let over = pending.len().saturating_sub(outbox.capacity);
        for _ in 0..over {
            if let Some(i) = victim(&pending) {
                pending.remove(i);
            }
        }
        outbox.pending = pending;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        outbox.log = Some(Log {
            path,
            file,
            lines,
            last_sync: Instant::now(),
            dirty: false,
        });
        outbox.compact_if_due(over > 0)?;
        Ok(outbox)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Queue `notice` (its sequence number is returned); at capacity, the oldest
    /// lowest-severity notice (maybe this one) is dropped.
    pub fn push(&mut self, notice: Notice) -> Result<(u64, Dropped), OutboxError> {
        let queued = Queued {
            seq: self.next_seq,
            notice,
        };
        self.next_seq += 1;
        self.pending.push_back(queued.clone());
        let mut dropped = None;
        if self.pending.len() > self.capacity
            && let Some(i) = victim(&self.pending)
        {
            dropped = self.pending.remove(i);
        }
        match &dropped {
            Some(d) if d.seq == queued.seq => {}
            Some(d) => self.append(&[Line::Add(Box::new(queued)), Line::Dropped(d.seq)])?,
            None => self.append(&[Line::Add(Box::new(queued))])?,
        }
        Ok((self.next_seq - 1, dropped))
    }

    /// The pending notice numbered `seq`.
    pub fn get(&self, seq: u64) -> Option<&Queued> {
        let i = self.pending.binary_search_by_key(&seq, |q| q.seq).ok()?;
        self.pending.get(i)
    }

    /// Up to `n` pending notices with sequence numbers from `seq` on, oldest first.
    pub fn peek_from(&self, seq: u64, n: usize) -> Vec<Queued> {
        self.pending
            .iter()
            .skip_while(|q| q.seq < seq)
            .take(n)
            .cloned()
            .collect()
    }

    /// Up to `n` pending notices from the head, oldest first.
    pub fn peek(&self, n: usize) -> Vec<Queued> {
        self.pending.iter().take(n).cloned().collect()
    }

    /// Mark these delivered (they leave the queue, in any order).
    pub fn done(&mut self, seqs: &[u64]) -> Result<(), OutboxError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let set: HashSet<u64> = seqs.iter().copied().collect();
        self.pending.retain(|q| !set.contains(&q.seq));
        self.append(&[Line::Done(seqs.to_vec())])?;
        self.compact_if_due(false)
    }

    /// A handle to fsync the log with, when it has unsynced writes and the last
    /// sync is [`SYNC_EVERY`] old: the caller syncs it without holding the
    /// outbox, so enqueueing never waits for the disk.
    pub fn due_for_sync(&mut self) -> Option<(PathBuf, File)> {
        let log = self.log.as_mut()?;
        if !log.dirty || log.last_sync.elapsed() < SYNC_EVERY {
            return None;
        }
        let file = log.file.try_clone().ok()?;
        log.dirty = false;
        log.last_sync = Instant::now();
        Some((log.path.clone(), file))
    }

    /// Write the log to disk now (at shutdown).
    pub fn sync(&mut self) -> Result<(), OutboxError> {
        if let Some(log) = &mut self.log
            && log.dirty
        {
            log.file.sync_data().map_err(|source| OutboxError::Io {
                path: log.path.clone(),
                source,
            })?;
            log.dirty = false;
            log.last_sync = Instant::now();
        }
        Ok(())
    }

    fn append(&mut self, lines: &[Line]) -> Result<(), OutboxError> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let mut buf = Vec::new();
        for line in lines {
            serde_json::to_writer(&mut buf, line).map_err(|source| OutboxError::Encode {
                path: log.path.clone(),
                source,
            })?;
            buf.push(b'\n');
        }
        // One write per call: a crash leaves at most one torn line, which replay skips.
        log.file.write_all(&buf).map_err(|source| OutboxError::Io {
            path: log.path.clone(),
            source,
        })?;
        log.lines += lines.len();
        log.dirty = true;
        Ok(())
    }

    /// Rewrite the log with only the pending notices, when it has grown mostly stale.
    fn compact_if_due(&mut self, force: bool) -> Result<(), OutboxError> {
        let pending = self.pending.len();
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        if !force && log.lines <= 2 * pending + COMPACT_SLACK {
            return Ok(());
        }
        let io = |source| OutboxError::Io {
            path: log.path.clone(),
            source,
        };
        let tmp = log.path.with_extension("jsonl.tmp");
        let mut buf = Vec::new();
        for q in &self.pending {
            serde_json::to_writer(&mut buf, &Line::Add(Box::new(q.clone()))).map_err(|source| {
                OutboxError::Encode {
                    path: log.path.clone(),
                    source,
                }
            })?;
            buf.push(b'\n');
        }
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&buf).map_err(io)?;
        f.sync_data().map_err(io)?;
        // rename is atomic: a crash leaves either the old log or the new one.
        std::fs::rename(&tmp, &log.path).map_err(io)?;
        log.file = OpenOptions::new()
            .append(true)
            .open(&log.path)
            .map_err(io)?;
        log.lines = pending;
        log.dirty = false;
        Ok(())
    }
}

/// The index to drop for room: the lowest severity, oldest first.
fn victim(pending: &VecDeque<Queued>) -> Option<usize> {
    pending
        .iter()
        .enumerate()
        .min_by_key(|(_, q)| (q.notice.severity, q.seq))
        .map(|(i, _)| i)
}

/// Pending notices in order, the next sequence number, and the log's line count.
fn replay(path: &Path) -> std::io::Result<(VecDeque<Queued>, u64, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((VecDeque::new(), 0, 0));
        }
        Err(e) => return Err(e),
    };
    let mut added = Vec::new();
    let mut gone = HashSet::new();
    let mut lines = 0;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        lines += 1;
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Add(q)) => added.push(*q),
            Ok(Line::Done(seqs)) => gone.extend(seqs),
            Ok(Line::Dropped(seq)) => {
                gone.insert(seq);
            }
            // A line torn by a crash mid-write (only ever the last one).
            Err(e) => {
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "skipping an unreadable outbox line")
            }
        }
    }
    let next_seq = added.iter().map(|q| q.seq + 1).max().unwrap_or(0);
    added.retain(|q| !gone.contains(&q.seq));
    added.sort_by_key(|q| q.seq);
    Ok((added.into(), next_seq, lines))
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
