//! What one replica tells the others through the database (PostgreSQL's NOTIFY on one
//! channel): the protocol's words are written here only, and every notice is this enum.

/// One notice between replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A job entered the queue (submitted, or taken back): idle workers look at once.
    Queued,
    /// A job was cancelled: whoever trains it stops.
    Cancelled(String),
    /// A job recorded an epoch or ended: its event streams read the store at once.
    Progress(String),
}

const QUEUED: &str = "queued";
const CANCEL_PREFIX: &str = "cancel:";

impl Notice {
    /// The prefix of a progress notice, for SQL that builds it beside the row it writes
    /// (`RETURNING pg_notify($channel, $prefix || id)`).
    pub const PROGRESS_PREFIX: &'static str = "progress:";

    /// The notice as its NOTIFY payload.
    pub fn payload(&self) -> String {
        match self {
            Notice::Queued => QUEUED.to_string(),
            Notice::Cancelled(id) => format!("{CANCEL_PREFIX}{id}"),
            Notice::Progress(id) => format!("{}{id}", Notice::PROGRESS_PREFIX),
        }
    }

    /// A payload read back; `None` for one this version does not know (a newer replica's).
    pub fn parse(payload: &str) -> Option<Notice> {
        if payload == QUEUED {
            return Some(Notice::Queued);
        }
        if let Some(id) = payload.strip_prefix(CANCEL_PREFIX) {
            return Some(Notice::Cancelled(id.to_string()));
        }
        payload
            .strip_prefix(Notice::PROGRESS_PREFIX)
            .map(|id| Notice::Progress(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_round_trips_through_its_payload_and_unknown_ones_are_none() {
        for notice in [
            Notice::Queued,
            Notice::Cancelled("0190-a".into()),
            Notice::Progress("0190-b".into()),
        ] {
            assert_eq!(Notice::parse(&notice.payload()), Some(notice));
        }
        assert_eq!(Notice::parse("resize:7"), None);
        assert_eq!(Notice::parse("queued!"), None);
    }
}
