//! A job's status and kind: the one list of each (store, workers, API, metrics and OpenAPI
//! all use these enums; SQL binds them, and the `jobs` table's CHECK constraint holds the
//! same five status words).

use crate::store::words::stored_words;

stored_words! {
    /// Where a job is in its life:
    /// `queued -> running -> succeeded | failed`, `queued | running -> cancelled`, and
    /// `running -> queued` when its lease expires or a shutdown gives it back.
    #[derive(utoipa::ToSchema)]
    pub enum JobStatus ("job status") {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

stored_words! {
    /// What a job does: each kind has its handler (`jobs::kinds`), its payload and its
    /// result; workers claim any kind under the same lease rules.
    #[derive(utoipa::ToSchema)]
    pub enum JobKind ("job kind") {
        /// Train a network on a JobSpec (every job before kinds existed).
        Train => "train",
    }
}

impl JobStatus {
    /// An ended job never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_and_kind_round_trips_through_its_word_and_json() {
        for &s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(serde_json::from_value::<JobStatus>(s.as_str().into()).unwrap(), s);
        }
        assert_eq!(JobStatus::parse("done"), None);
        for &k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn only_succeeded_failed_and_cancelled_are_terminal() {
        let terminal: Vec<_> = JobStatus::ALL.iter().copied().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [JobStatus::Succeeded, JobStatus::Failed, JobStatus::Cancelled]
        );
    }
}
