//! Processes seen through /proc and signalled by process group: a job is the
//! whole group its leader started, so stopping it reaches every descendant
//! that did not leave the group on purpose.

use std::time::Duration;

/// Fields of /proc/<pid>/stat that identify a process and its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    /// Start time after boot in clock ticks: with the pid, it identifies a
    /// process even after the pid is reused.
    pub start_ticks: u64,
}

/// Parses /proc/<pid>/stat. The command name (field 2) may contain spaces and
/// parentheses, so the fields are counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); ppid is field 4, pgrp field 5,
    // starttime field 22.
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

pub fn stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether `pid` is still the process that started at `start_ticks` and has
/// not exited (a zombie has exited).
pub fn is_alive(pid: u32, start_ticks: u64) -> bool {
    matches!(stat(pid), Some(s) if s.start_ticks == start_ticks && s.state != 'Z')
}

/// Every pid in /proc.
fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Pids of the live (not zombie) members of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|pid| matches!(stat(*pid), Some(s) if s.pgrp == pgid as i32 && s.state != 'Z'))
        .collect()
}

/// Pids of the live descendants of `pid` (children, their children, …).
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, i32)> = all_pids()
        .into_iter()
        .filter_map(|p| match stat(p) {
            Some(s) if s.state != 'Z' => Some((p, s.ppid)),
            _ => None,
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent as i32 && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// Sends `signal` to every process of group `pgid`; false if none is left.
pub fn signal_group(pgid: u32, signal: i32) -> bool {
    if pgid <= 1 {
        // Never signal our own group (0) or init's (1).
        return false;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
    unsafe { libc::kill(-(pgid as i32), signal) == 0 }
}

/// Sends `signal` to each of `pids`; how many got it.
pub fn signal_each(pids: &[u32], signal: i32) -> usize {
    pids.iter()
        .filter(|&&pid| {
            // SAFETY: kill(2) on a positive pid; no memory is touched.
            pid > 1 && unsafe { libc::kill(pid as i32, signal) == 0 }
        })
        .count()
}

/// Stops group `pgid`: SIGTERM, then SIGKILL to whatever is left after
/// `grace`. Returns once no live member remains (or after a last wait), and
/// once the leader's descendants seen before the signal are gone too: a
/// sandboxed job runs in its own session under the shim, outside the group,
/// and dies with the shim (bwrap's --die-with-parent) a moment after it, so
/// without this wait a job could be reported stopped while it still runs.
pub async fn stop_group(pgid: u32, grace: Duration) {
    let tree: Vec<(u32, u64)> = descendants(pgid)
        .into_iter()
        .filter_map(|pid| stat(pid).map(|s| (pid, s.start_ticks)))
        .collect();
    if signal_group(pgid, libc::SIGTERM) && !wait_group_empty(pgid, grace).await {
        tracing::warn!(pgid, ?grace, "job ignored SIGTERM; sending SIGKILL");
        signal_group(pgid, libc::SIGKILL);
        wait_group_empty(pgid, Duration::from_secs(5)).await;
    }
    if !wait_all_gone(&tree, Duration::from_secs(5)).await {
        let left: Vec<u32> = tree
            .iter()
            .filter(|(pid, ticks)| is_alive(*pid, *ticks))
            .map(|(pid, _)| *pid)
            .collect();
        tracing::warn!(
            pgid,
            ?left,
            "the job's processes outlived its shim; sending SIGKILL"
        );
        signal_each(&left, libc::SIGKILL);
        wait_all_gone(&tree, Duration::from_secs(5)).await;
    }
}

/// Waits until none of `processes` (pid, start ticks) is alive.
async fn wait_all_gone(processes: &[(u32, u64)], within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if !processes.iter().any(|(pid, ticks)| is_alive(*pid, *ticks)) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_group_empty(pgid: u32, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if group_members(pgid).is_empty() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "4242 (my (odd) job) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                start_ticks: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn finds_the_descendants_of_a_process() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let me = std::process::id();
        let mut found = Vec::new();
        for _ in 0..100 {
            found = descendants(me);
            if found.len() >= 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(found.contains(&child.id()), "{found:?}");
        let grandchildren = found
            .iter()
            .filter(|p| stat(**p).unwrap().ppid == child.id() as i32)
            .count();
        assert_eq!(grandchildren, 2, "{found:?}");
        signal_each(&descendants(child.id()), libc::SIGKILL);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn sees_this_process_alive() {
        let me = std::process::id();
        let s = stat(me).expect("own stat");
        assert!(is_alive(me, s.start_ticks));
        assert!(!is_alive(me, s.start_ticks + 1));
    }
}
