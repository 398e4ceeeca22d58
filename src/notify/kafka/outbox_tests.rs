use super::*;
use crate::notify::notice::sample;
use crate::severity::Severity;

fn ids(o: &Outbox) -> Vec<String> {
    o.peek(usize::MAX)
        .into_iter()
        .map(|q| q.notice.id)
        .collect()
}

#[test]
fn undelivered_notices_survive_a_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), 100).unwrap();
    for i in 0..5 {
        o.push(sample(&format!("inc-{}", i % 2), Severity::High, i))
            .unwrap();
    }
    let head: Vec<u64> = o.peek(2).iter().map(|q| q.seq).collect();
    o.done(&head).unwrap();
    drop(o);
    let o = Outbox::open(dir.path(), 100).unwrap();
    assert_eq!(ids(&o), ["inc-0/n2", "inc-1/n3", "inc-0/n4"]);
}

#[test]
fn delivered_out_of_order_leaves_the_rest_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), 100).unwrap();
    for i in 0..4 {
        o.push(sample("a", Severity::Low, i)).unwrap();
    }
    o.done(&[1, 3]).unwrap();
    drop(o);
    let mut o = Outbox::open(dir.path(), 100).unwrap();
    assert_eq!(ids(&o), ["a/n0", "a/n2"]);
    // New notices continue the sequence after the old ones.
    o.push(sample("a", Severity::Low, 9)).unwrap();
    let seqs: Vec<u64> = o.peek(10).iter().map(|q| q.seq).collect();
    assert_eq!(seqs, [0, 2, 4]);
}

#[test]
fn at_capacity_the_oldest_lowest_severity_notice_is_dropped() {
    let mut o = Outbox::in_memory(3);
    assert!(o.push(sample("a", Severity::High, 0)).unwrap().1.is_none());
    assert!(o.push(sample("b", Severity::Low, 1)).unwrap().1.is_none());
    assert!(o.push(sample("c", Severity::Low, 2)).unwrap().1.is_none());
    let dropped = o
        .push(sample("d", Severity::Critical, 3))
        .unwrap()
        .1
        .unwrap();
    assert_eq!(dropped.notice.id, "b/n1");
    // A new low notice is itself the oldest-lowest only if nothing lower is older.
    let dropped = o.push(sample("e", Severity::Low, 4)).unwrap().1.unwrap();
    assert_eq!(dropped.notice.id, "c/n2");
    assert_eq!(ids(&o), ["a/n0", "d/n3", "e/n4"]);
}

#[test]
fn drops_are_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), 2).unwrap();
    o.push(sample("a", Severity::Low, 0)).unwrap();
    o.push(sample("b", Severity::High, 1)).unwrap();
    o.push(sample("c", Severity::High, 2)).unwrap();
    drop(o);
    let o = Outbox::open(dir.path(), 2).unwrap();
    assert_eq!(ids(&o), ["b/n1", "c/n2"]);
}

#[test]
fn a_torn_last_line_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), 10).unwrap();
    o.push(sample("a", Severity::Low, 0)).unwrap();
    drop(o);
    let path = dir.path().join(LOG);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"add\":{\"seq\":1,\"noti").unwrap();
    drop(f);
    let o = Outbox::open(dir.path(), 10).unwrap();
    assert_eq!(ids(&o), ["a/n0"]);
}

#[test]
fn compaction_keeps_only_pending_notices() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), 100_000).unwrap();
    for i in 0..(COMPACT_SLACK as u64 + 10) {
        o.push(sample("a", Severity::Low, i)).unwrap();
        o.done(&[i]).unwrap();
    }
    o.push(sample("b", Severity::Medium, 1)).unwrap();
    let lines = std::fs::read_to_string(dir.path().join(LOG))
        .unwrap()
        .lines()
        .count();
    assert!(lines < COMPACT_SLACK, "log has {lines} lines");
    drop(o);
    let o = Outbox::open(dir.path(), 100).unwrap();
    assert_eq!(ids(&o), ["b/n1"]);
}

#[test]
fn reopening_with_a_smaller_capacity_drops_lowest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), 10).unwrap();
    o.push(sample("a", Severity::Critical, 0)).unwrap();
    o.push(sample("b", Severity::Low, 1)).unwrap();
    o.push(sample("c", Severity::Medium, 2)).unwrap();
    drop(o);
    let o = Outbox::open(dir.path(), 2).unwrap();
    assert_eq!(ids(&o), ["a/n0", "c/n2"]);
    drop(o);
    let o = Outbox::open(dir.path(), 10).unwrap();
    assert_eq!(ids(&o), ["a/n0", "c/n2"]);
}
