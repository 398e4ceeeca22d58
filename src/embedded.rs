//! Scenarios and playbooks compiled into the binary, so that `firebreak replay`
//! works on a fresh machine from any directory.

/// `(name, OpenMetrics text)` of every shipped scenario.
pub const SCENARIOS: [(&str, &str); 4] = [
    ("memory-leak", include_str!("../scenarios/memory-leak.om")),
    (
        "cache-stampede",
        include_str!("../scenarios/cache-stampede.om"),
    ),
    (
        "lock-contention",
        include_str!("../scenarios/lock-contention.om"),
    ),
    (
        "traffic-surge",
        include_str!("../scenarios/traffic-surge.om"),
    ),
];

/// `(file name, YAML)` of every shipped playbook.
pub const PLAYBOOKS: [(&str, &str); 5] = [
    (
        "playbooks/memory-leak.yaml",
        include_str!("../playbooks/memory-leak.yaml"),
    ),
    (
        "playbooks/cache-stampede.yaml",
        include_str!("../playbooks/cache-stampede.yaml"),
    ),
    (
        "playbooks/lock-contention.yaml",
        include_str!("../playbooks/lock-contention.yaml"),
    ),
    (
        "playbooks/traffic-surge.yaml",
        include_str!("../playbooks/traffic-surge.yaml"),
    ),
    (
        "playbooks/slo-burn.yaml",
        include_str!("../playbooks/slo-burn.yaml"),
    ),
];

pub fn scenario(name: &str) -> Option<&'static str> {
    SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
