//! The life of a batch: `pending` until its first attempt, `retrying` while a retry is
//! scheduled, then `success` or `failed` (every retry used).

use std::str::FromStr;

use serde::Serialize;

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Pending,
    Retrying,
    Success,
    Failed,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Pending => "pending",
            BatchStatus::Retrying => "retrying",
            BatchStatus::Success => "success",
            BatchStatus::Failed => "failed",
        }
    }

    /// True while the batch still has an attempt coming.
    pub fn is_unfinished(self) -> bool {
        matches!(self, BatchStatus::Pending | BatchStatus::Retrying)
    }
}

impl FromStr for BatchStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(BatchStatus::Pending),
            "retrying" => Ok(BatchStatus::Retrying),
            "success" => Ok(BatchStatus::Success),
            "failed" => Ok(BatchStatus::Failed),
            other => Err(format!("unknown batch status {other:?}; expected pending, retrying, success or failed")),
        }
    }
}
