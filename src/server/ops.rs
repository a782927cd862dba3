//! What this instance knows of its own running, for the operations view and `/metrics`:
//! when each background job last ran and whether it went well, and the webhook deliveries
//! it refused (kept in memory, the last [`REFUSED_KEPT`] only, so forged deliveries can
//! never fill the database).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// How many refused webhook deliveries are remembered.
pub const REFUSED_KEPT: usize = 50;

/// One background job's last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// When it last finished (Unix seconds, the app's clock).
    pub at: i64,
    /// How often it is meant to run, in seconds.
    pub every_secs: i64,
    /// Whether that run succeeded.
    pub ok: bool,
}

impl JobRun {
    /// How late the next run is at `now`: the time since the last run beyond the interval
    /// (0 while the job is on time).
    pub fn lag_secs(&self, now: i64) -> i64 {
        (now - self.at - self.every_secs).max(0)
    }
}

/// A webhook delivery this instance refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub at: i64,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Ops {
    jobs: Mutex<BTreeMap<&'static str, JobRun>>,
    refused: Mutex<VecDeque<Refused>>,
}

impl Ops {
    pub fn job_ran(&self, job: &'static str, run: JobRun) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(job, run);
        }
    }

    /// Every job that has run at least once, by name.
    pub fn jobs(&self) -> Vec<(&'static str, JobRun)> {
        self.jobs
            .lock()
            .map(|j| j.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default()
    }

    pub fn refused(&self, at: i64, reason: impl Into<String>) {
        if let Ok(mut list) = self.refused.lock() {
            if list.len() == REFUSED_KEPT {
                list.pop_front();
            }
            list.push_back(Refused {
                at,
                reason: reason.into(),
            });
        }
    }

    /// The refused deliveries remembered, newest first.
    pub fn recent_refusals(&self) -> Vec<Refused> {
        self.refused
            .lock()
            .map(|l| l.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_refusals_are_kept_newest_first() {
        let ops = Ops::default();
        for i in 0..(REFUSED_KEPT as i64 + 10) {
            ops.refused(i, format!("r{i}"));
        }
        let list = ops.recent_refusals();
        assert_eq!(list.len(), REFUSED_KEPT);
        assert_eq!(list[0].at, REFUSED_KEPT as i64 + 9);
        assert_eq!(list.last().unwrap().at, 10);
    }

    #[test]
    fn a_job_is_late_only_past_its_interval() {
        let run = JobRun {
            at: 1_000,
            every_secs: 60,
            ok: true,
        };
        assert_eq!(run.lag_secs(1_030), 0);
        assert_eq!(run.lag_secs(1_060), 0);
        assert_eq!(run.lag_secs(1_090), 30);
    }
}
