//! The captured files into ConfigMaps: each under the 1 MiB object limit (the
//! API server rejects a ConfigMap whose keys and values exceed 1 MiB, and etcd
//! the whole object past 1.5 MiB), a bounded number of them, owned by the Incident.

use std::collections::BTreeMap;

use kube::Resource;
use serde_json::json;

use super::IncidentOwner;
use crate::act::render::diagnostics::{config_map_name, config_map_path};
use crate::act::render::{RenderContext, Request, labels};
use crate::incident::resource::Incident as IncidentResource;

/// ConfigMap keys: `[-._a-zA-Z0-9]+`, at most 253 characters.
const MAX_KEY: usize = 253;

/// One file of the capture.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct File {
    pub key: String,
    pub text: String,
}

impl File {
    pub fn new(key: String, text: String) -> Self {
        File { key, text }
    }

    /// Bytes it takes in a ConfigMap (the API server counts keys and values).
    fn size(&self) -> usize {
        self.key.len() + self.text.len()
    }
}

/// How much a capture may store.
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    /// Data bytes per ConfigMap, leaving room under 1 MiB for metadata and `managedFields`.
    pub per_map: usize,
    pub max_maps: usize,
    /// Kept free in the first ConfigMap for `summary.txt`.
    pub summary: usize,
    /// A file is cut to fit only if at least this much of it can be kept.
    pub min_cut: usize,
}

impl Budget {
    pub const DEFAULT: Budget = Budget {
        per_map: 900 * 1024,
        max_maps: 4,
        summary: 32 * 1024,
        min_cut: 4 * 1024,
    };
}

/// Where a file went.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Placed {
    pub key: String,
    pub map: usize,
    pub bytes: usize,
    /// Its size before it was cut to fit, if it was.
    pub cut_from: Option<usize>,
}

#[derive(Debug, Default)]
pub(super) struct Packed {
    pub maps: Vec<BTreeMap<String, String>>,
    pub placed: Vec<Placed>,
    /// Files left out (key, bytes): the budget was used up.
    pub omitted: Vec<(String, usize)>,
}

/// Files in priority order into at most `budget.max_maps` ConfigMaps, each into
/// the first with room; past the budget a file is cut to its newest part
/// (logs end with what matters) with a marker, or left out when too little fits.
pub(super) fn pack(files: Vec<File>, budget: &Budget) -> Packed {
    let mut packed = Packed {
        maps: vec![BTreeMap::new()],
        ..Packed::default()
    };
    let mut used = vec![budget.summary];
    for file in files {
        let size = file.size();
        let room = |used: &usize| budget.per_map.saturating_sub(*used);
        let fits = used.iter().position(|u| room(u) >= size);
        let map = match fits {
            Some(i) => i,
            None if packed.maps.len() < budget.max_maps && size <= budget.per_map => {
                packed.maps.push(BTreeMap::new());
                used.push(0);
                used.len() - 1
            }
            None => {
                if packed.maps.len() < budget.max_maps {
                    packed.maps.push(BTreeMap::new());
                    used.push(0);
                }
                let (i, space) = used
                    .iter()
                    .map(room)
                    .enumerate()
                    .max_by_key(|(i, r)| (*r, std::cmp::Reverse(*i)))
                    .unwrap_or((0, 0));
                let Some(text) = cut_to(&file.text, space.saturating_sub(file.key.len()), budget)
                else {
                    packed.omitted.push((file.key, size));
                    continue;
                };
                used[i] += file.key.len() + text.len();
                packed.placed.push(Placed {
                    key: file.key.clone(),
                    map: i,
                    bytes: text.len(),
                    cut_from: Some(file.text.len()),
                });
                packed.maps[i].insert(file.key, text);
                continue;
            }
        };
        used[map] += size;
        packed.placed.push(Placed {
            key: file.key.clone(),
            map,
            bytes: file.text.len(),
            cut_from: None,
        });
        packed.maps[map].insert(file.key, file.text);
    }
    packed
}

/// The last part of `text` that fits `space` bytes with a marker in front, cut
/// at a line start; `None` if less than `budget.min_cut` would be kept.
fn cut_to(text: &str, space: usize, budget: &Budget) -> Option<String> {
    let marker = |kept: usize| {
        format!(
            "[firebreak: cut to the last {kept} of {} bytes: the diagnostics size budget is used up]\n",
            text.len()
        )
    };
    let keep = space.checked_sub(marker(text.len()).len())?;
    if keep < budget.min_cut {
        return None;
    }
    let mut start = text.len().saturating_sub(keep);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // Whole lines when there is a line break to cut at.
    if let Some(nl) = text[start..].find('\n')
        && start > 0
        && nl + 1 < text.len() - start
    {
        start += nl + 1;
    }
    let tail = &text[start..];
    Some(format!("{}{tail}", marker(tail.len())))
}

/// `summary` within the room kept for it, its start kept (the pods and the
/// files come first; a long list of failures is what gets cut).
pub(super) fn fit_summary(summary: String, budget: &Budget) -> String {
    const MARKER: &str = "\n[firebreak: summary cut to fit]\n";
    let room = budget.summary - "summary.txt".len();
    if summary.len() <= room {
        return summary;
    }
    let mut end = room.saturating_sub(MARKER.len());
    while !summary.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARKER}", &summary[..end])
}

/// `parts` joined by `.` as a valid ConfigMap key: other characters become `_`,
/// and a key too long keeps its end (the file kind) after a cut.
pub(super) fn key(parts: &[&str]) -> String {
    let joined: String = parts
        .join(".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match joined.len().checked_sub(MAX_KEY) {
        None | Some(0) => joined,
        // ASCII only by now, so byte offsets are character offsets.
        Some(excess) => format!(
            "{}~{}",
            &joined[..MAX_KEY / 2],
            &joined[excess + MAX_KEY / 2 + 1..]
        ),
    }
}

/// The server-side apply of each packed ConfigMap, `summary` in the first.
pub(super) fn requests(
    packed: Packed,
    summary: String,
    ctx: &RenderContext<'_>,
    owner: &IncidentOwner,
) -> Vec<Request> {
    let ns = &ctx.target.namespace;
    let owner_ref = json!({
        "apiVersion": IncidentResource::api_version(&()),
        "kind": IncidentResource::kind(&()),
        "name": owner.name,
        "uid": owner.uid,
        // Deleting the Incident deletes its report; foreground deletion waits for it
        // (the chart grants `incidents/finalizers` update for this).
        "controller": true,
        "blockOwnerDeletion": true,
    });
    packed
        .maps
        .into_iter()
        .enumerate()
        .map(|(i, mut data)| {
            if i == 0 {
                data.insert("summary.txt".to_owned(), summary.clone());
            }
            let name = config_map_name(ctx.incident_id, i);
            let body = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": labels(ctx.incident_id),
                    "ownerReferences": [owner_ref.clone()],
                },
                "data": data,
            });
            Request::apply(&config_map_path(ns, &name), body)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Budget = Budget {
        per_map: 1000,
        max_maps: 2,
        summary: 100,
        min_cut: 50,
    };

    fn file(key: &str, bytes: usize) -> File {
        let line = "0123456789abcdefghi\n";
        File::new(key.to_owned(), line.repeat(bytes / line.len()))
    }

    #[test]
    fn files_fill_the_first_map_with_room_then_a_new_one() {
        let packed = pack(vec![file("a", 600), file("b", 600), file("c", 200)], &SMALL);
        let maps: Vec<Vec<&str>> = packed
            .maps
            .iter()
            .map(|m| m.keys().map(String::as_str).collect())
            .collect();
        // c fits beside a (100 reserved + 601 + 201 <= 1000).
        assert_eq!(maps, [vec!["a", "c"], vec!["b"]]);
        assert!(packed.omitted.is_empty());
        assert!(packed.placed.iter().all(|p| p.cut_from.is_none()));
    }

    #[test]
    fn past_the_budget_files_are_cut_to_their_end_or_left_out() {
        let mut last = file("big", 2000);
        last.text.push_str("the newest line\n");
        let packed = pack(
            vec![file("a", 800), file("b", 800), last, file("late", 900)],
            &SMALL,
        );
        let big = packed
            .placed
            .iter()
            .find(|p| p.key == "big")
            .expect("placed");
        assert_eq!(big.cut_from, Some(2016));
        let text = &packed.maps[big.map]["big"];
        assert!(text.starts_with("[firebreak: cut to the last "), "{text}");
        assert!(text.ends_with("the newest line\n"));
        // Whole lines after the marker.
        assert!(text.lines().nth(1).is_some_and(|l| l.len() == 19), "{text}");
        assert_eq!(packed.omitted, [("late".to_owned(), 904)]);
        for (i, map) in packed.maps.iter().enumerate() {
            let size: usize = map.iter().map(|(k, v)| k.len() + v.len()).sum();
            let reserved = if i == 0 { SMALL.summary } else { 0 };
            assert!(size + reserved <= SMALL.per_map, "map {i}: {size}");
        }
    }

    #[test]
    fn a_long_summary_is_cut_to_its_room() {
        let short = "pods: 1".to_owned();
        assert_eq!(fit_summary(short.clone(), &SMALL), short);
        let long = fit_summary("é".repeat(200), &SMALL);
        assert!(
            long.len() + "summary.txt".len() <= SMALL.summary,
            "{}",
            long.len()
        );
        assert!(long.ends_with("[firebreak: summary cut to fit]\n"));
    }

    #[test]
    fn keys_are_valid_config_map_keys() {
        assert_eq!(
            key(&["pod", "pricer-7d9f-aaaaa", "app", "log"]),
            "pod.pricer-7d9f-aaaaa.app.log"
        );
        assert_eq!(key(&["exec", "p", "a b/c"]), "exec.p.a_b_c");
        let long = key(&["pod", &"x".repeat(300), "app", "previous", "log"]);
        assert_eq!(long.len(), MAX_KEY);
        assert!(long.ends_with(".app.previous.log"), "{long}");
    }
}
