//! The README's first command runs `keel lab demo`. A newcomer reads the log
//! lines printed under a step as what that step did, so every line shown
//! under a step must have been logged during it: its timestamp is at or
//! after the step's own and before the next step's.

use std::process::Command;

struct Step {
    title: String,
    began: String,
    lines: Vec<(String, String)>,
}

/// `N. title [TIMESTAMP]` headings and the `    [node] TIMESTAMP LEVEL msg`
/// lines under them.
fn parse(out: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in out.lines() {
        let heading = line
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if heading && line.ends_with(']') {
            let (title, began) = line.rsplit_once(" [").expect("heading with a timestamp");
            steps.push(Step {
                title: title.to_string(),
                began: began.trim_end_matches(']').to_string(),
                lines: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("    [") {
            let (node, log) = rest.split_once("] ").expect("a node's log line");
            steps
                .last_mut()
                .expect("log lines come under a step")
                .lines
                .push((node.to_string(), log.to_string()));
        }
    }
    steps
}

fn stamp(log: &str) -> &str {
    log.split(' ').next().unwrap_or_default()
}

#[test]
fn demo_shows_under_each_step_only_the_lines_logged_during_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["lab", "demo", "--vrrp-only"])
        .output()
        .expect("run keel lab demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps = parse(&stdout);
    assert_eq!(steps.len(), 6, "six steps in part 1:\n{stdout}");

    for (i, step) in steps.iter().enumerate() {
        let end = steps.get(i + 1).map(|s| s.began.as_str());
        assert_eq!(
            step.began.len(),
            "2026-01-01T00:00:00.000Z".len(),
            "{}",
            step.title
        );
        for (node, log) in &step.lines {
            let ts = stamp(log);
            assert_eq!(ts.len(), step.began.len(), "a stamped line: {log}");
            assert!(
                ts >= step.began.as_str(),
                "under {:?} (began {}), [{node}] was logged before it: {log}",
                step.title,
                step.began
            );
            if let Some(end) = end {
                assert!(
                    ts < end,
                    "under {:?}, [{node}] was logged in the next step (began {end}): {log}",
                    step.title
                );
            }
        }
    }

    let has = |i: usize, node: &str, text: &str| {
        steps[i]
            .lines
            .iter()
            .any(|(n, l)| n == node && l.contains(text))
    };
    // 1: node2 alone becomes MASTER.
    assert!(has(0, "node2", "Entering MASTER STATE"), "{stdout}");
    // 2: node1 starts (its init line belongs here) and preempts.
    assert!(has(1, "node1", "Entering BACKUP STATE (init)"), "{stdout}");
    assert!(has(1, "node1", "Entering MASTER STATE"), "{stdout}");
    // 3: a killed node1 logs nothing; node2 takes over. node1's start lines
    // of step 2 must not be repeated here.
    assert!(has(2, "node2", "Entering MASTER STATE"), "{stdout}");
    assert!(
        !steps[2].lines.iter().any(|(n, _)| n == "node1"),
        "{stdout}"
    );
    // 5: the graceful stop is node1's; node2 takes over again.
    assert!(has(4, "node2", "Entering MASTER STATE"), "{stdout}");
    // 6: only node2's stop, none of its earlier lines.
    assert!(steps[5].lines.iter().all(|(n, _)| n == "node2"), "{stdout}");
    assert!(!has(5, "node2", "Entering MASTER STATE"), "{stdout}");
}
